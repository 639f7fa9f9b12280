"""`vitalstream evaluate`: score the detectors and the alert policy against labelled data.

    vitalstream evaluate --samples S [S ...] --events E [--json OUT] [--plots DIR] [--detectors rules,news2,...]

Samples: INTERFACE §6 JSON Lines / CSV (.gz) or MIMIC-II numerics CSVs, files or
directories. Events: JSON Lines (may be empty: every alert is then false). The report
table goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

DETECTOR_NAMES = ("rules", "news2", "signal", "lstm", "early_warning")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="score detectors and the combined alert policy against labelled events",
        description="Replays samples through the detector pipeline offline, turns candidates into alerts with "
                    "the alert engine's policy and matches them to ground-truth events (INTERFACE §6).",
    )
    p.add_argument("--samples", nargs="+", required=True, metavar="S",
                   help="samples: JSONL/CSV (.gz) or MIMIC numerics CSV files, or directories of them")
    p.add_argument("--events", required=True, metavar="E", help="ground-truth events (JSON Lines; may be empty)")
    p.add_argument("--json", dest="json_out", metavar="OUT", help="write the figures as one JSON object")
    p.add_argument("--plots", metavar="DIR", help="write PNG plots (a patient timeline, the delay distribution)")
    p.add_argument("--plot-device", metavar="ID", help="the device whose timeline is plotted (default: busiest)")
    p.add_argument("--detectors", default=",".join(DETECTOR_NAMES),
                   help=f"comma-separated subset of {','.join(DETECTOR_NAMES)} (default: all available)")
    p.add_argument("--model-dir", default=None, help="LSTM artefact directory (default: settings / shipped model)")
    p.add_argument("--no-lstm", action="store_true", help="leave the LSTM out")
    p.add_argument("--slice-s", type=float, default=60.0, help="replay step across devices (default 60 s)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)


def _say(quiet: bool, msg: str) -> None:
    if not quiet:
        print(msg, file=sys.stderr, flush=True)


def run(args: argparse.Namespace, settings: Any) -> int:
    from detectors import plugins
    from detectors.pipeline import Pipeline, PipelineConfig

    from .evaluate import evaluate_candidates, format_table
    from .matching import truths_from_events
    from .replay import replay, stderr_progress
    from .series import load_samples

    wanted = [d.strip() for d in args.detectors.split(",") if d.strip()]
    unknown = sorted(set(wanted) - set(DETECTOR_NAMES))
    if unknown:
        print(f"vitalstream evaluate: --detectors: unknown {', '.join(unknown)}; known: {', '.join(DETECTOR_NAMES)}",
              file=sys.stderr)
        return 2
    try:
        from simulators import read_events

        events = truths_from_events(read_events(args.events))
        series = load_samples(args.samples, progress=lambda m: _say(args.quiet, m))
    except (FileNotFoundError, OSError) as exc:
        print(f"vitalstream evaluate: {exc}", file=sys.stderr)
        return 2
    n = sum(len(s) for s in series.values())
    days = sum(s.days for s in series.values())
    _say(args.quiet, f"{len(series)} devices, {n:,} samples, {days:.1f} patient-days, {len(events)} events")

    lstm = None
    if "lstm" in wanted and not args.no_lstm:
        import torch

        # One intra-op thread: batches here are small and the machine is shared; more
        # threads only contend (see ../shared/CEILINGS.md).
        torch.set_num_threads(1)
        model_dir = args.model_dir or getattr(settings.detectors, "model_dir", None)
        try:
            lstm = plugins.load_lstm(model_dir)
        except Exception as exc:  # noqa: BLE001 - a missing/mismatched model leaves the LSTM out, loudly
            _say(args.quiet, f"LSTM left out: {exc}")
    if lstm is None and "lstm" in wanted:
        wanted.remove("lstm")
    if "early_warning" in wanted and not plugins.HAVE_EW:
        wanted.remove("early_warning")
    base = PipelineConfig.from_settings(settings.detectors)
    config = PipelineConfig(**{**{f: getattr(base, f) for f in base.__dataclass_fields__},
                               "detectors": frozenset(wanted)})
    pipeline = Pipeline(config, lstm=lstm, early_warning="early_warning" in wanted)
    progress = None if args.quiet else stderr_progress("replay")
    result = replay(series, pipeline, slice_s=args.slice_s, progress=progress)
    _say(args.quiet, f"replayed {result.samples:,} samples in {result.seconds:.1f} s "
                     f"({result.samples / max(result.seconds, 1e-9):,.0f} samples/s); "
                     f"{len(result.candidates):,} candidates; LSTM: {result.lstm_windows:,} windows "
                     f"in {result.lstm_batches:,} batches")
    ev = evaluate_candidates(result.candidates, events, days, wanted, len(series))
    print(format_table(ev))
    if args.json_out:
        extra = {"samples": result.samples, "events": len(events),
                 "lstm_version": getattr(lstm, "version", None), "detectors_run": wanted}
        Path(args.json_out).write_text(json.dumps(ev.to_json(extra), indent=2, default=float) + "\n")
        _say(args.quiet, f"wrote {args.json_out}")
    if args.plots:
        from .plots import write_plots

        for p in write_plots(Path(args.plots), series, events, ev, args.plot_device):
            _say(args.quiet, f"wrote {p}")
    return 0
