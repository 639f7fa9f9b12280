"""`vitalstream bench NAME [ARGS ...]`: runs `python -m benchmarks.NAME_bench ARGS ...`.

Everything after NAME goes to the benchmark script untouched (its own `--help` included),
so each script keeps one argument parser.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
SUMMARY = {
    "e2e": "the whole stack under a stepped simulated fleet (loss, latency, lag, CPU)",
    "worker": "the faust worker alone: catch-up throughput and live latency",
    "gateway": "the MQTT → Kafka gateway alone",
    "storage": "the vitals writer (COPY) against PostgreSQL",
    "inference": "LSTM batch inference",
    "api": "the clinician API",
    "dispatcher": "the alert engine and webhook dispatcher",
    "simulators": "simulated fleet generation and publishing",
    "early_warning": "the resting-HR early warning",
}


def available() -> list[str]:
    """Benchmarks present in this checkout (a file per benchmark: NAME_bench.py)."""
    return sorted(p.stem.removesuffix("_bench") for p in HERE.glob("*_bench.py"))


def register(sub: Any) -> None:
    p = sub.add_parser("bench", help="run a benchmark (vitalstream bench NAME --help for its options)")
    names = p.add_subparsers(dest="bench", metavar="NAME")
    names.required = True
    for name in available():
        # No option prefix of its own: every argument, --help included, goes to the script.
        b = names.add_parser(name, help=SUMMARY.get(name, ""), prefix_chars="\0", add_help=False)
        b.add_argument("passthrough", nargs=argparse.REMAINDER)
        b.set_defaults(func=run, bench_module=f"benchmarks.{name}_bench")


def run(args: argparse.Namespace, settings: Any) -> int:
    import subprocess
    import sys

    return subprocess.call([sys.executable, "-m", args.bench_module, *args.passthrough])
