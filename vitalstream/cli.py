"""The `vitalstream` command: one entry point, subcommands registered by their packages.

Each module in COMMAND_MODULES exposes `register(subparsers)`; a subcommand's handler is
`run(args, settings) -> int`. Handlers import their heavy dependencies lazily so that
`vitalstream --help` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .config import ConfigError, load_settings

COMMAND_MODULES = (
    "vitalstream.dev",
    "storage.cli",
    "ingest.cli",
    "stream.cli",
    "alerts.cli",
    "api.cli",
    "simulators.cli",
    "detectors.lstm.cli",
    "evaluation.cli",
    "benchmarks.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vitalstream", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name in (name, name.rpartition(".")[0]):
                continue  # a package not built yet registers nothing
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"vitalstream: configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.core.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args, settings) or 0)
    except ConfigError as exc:
        print(f"vitalstream: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
