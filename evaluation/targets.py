"""The issue-6 target run: a held-out simulated cohort, evaluated in parts.

    python -m evaluation.targets --patients 108 --hours 24 --rate 0.1 --seed 202 --parts 4 --part 0 --out DIR
    ... --part 1 ... --part 3
    python -m evaluation.targets --out DIR --combine [--plots]

Each part generates its patients in memory (no files), replays them through the
Pipeline (LSTM batched across the part's devices) and stores the candidates; `--combine`
puts the parts together and evaluates them exactly like `vitalstream evaluate` does
(same policy, same matching). Parts keep each command short on a shared machine; the
result is the same as one run because devices are independent.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from pathlib import Path


def run_part(args: argparse.Namespace) -> None:
    import torch

    from detectors.pipeline import Pipeline
    from detectors.plugins import load_lstm

    from .cohort import simulated
    from .replay import replay, stderr_progress

    torch.set_num_threads(1)
    per = -(-args.patients // args.parts)
    first = args.part * per
    n = max(0, min(per, args.patients - first))
    series, events = simulated(n, hours=args.hours, rate_hz=args.rate, seed=args.seed, scenario=args.scenario,
                               first_index=first)
    lstm = None if args.no_lstm else load_lstm(args.model_dir)
    result = replay(series, Pipeline(lstm=lstm), progress=stderr_progress(f"part {args.part}"))
    days = sum(s.days for s in series.values())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / f"part{args.part}.pkl", "wb") as f:
        pickle.dump({"candidates": result.candidates, "events": events, "days": days, "devices": len(series),
                     "samples": result.samples, "seconds": result.seconds, "lstm": getattr(lstm, "version", None),
                     "args": vars(args)}, f)
    print(f"part {args.part}: {n} patients, {result.samples:,} samples in {result.seconds:.0f} s", file=sys.stderr)


def combine(args: argparse.Namespace) -> None:
    from .evaluate import evaluate_candidates, format_table

    out = Path(args.out)
    parts = [pickle.load(open(p, "rb")) for p in sorted(out.glob("part*.pkl"))]
    cands = [c for p in parts for c in p["candidates"]]
    events = [e for p in parts for e in p["events"]]
    days = sum(p["days"] for p in parts)
    devices = sum(p["devices"] for p in parts)
    detectors = ["rules", "news2", "signal", "early_warning"] + (["lstm"] if parts[0]["lstm"] else [])
    ev = evaluate_candidates(cands, events, days, detectors, devices)
    table = format_table(ev)
    print(table)
    meta = {k: parts[0]["args"][k] for k in ("patients", "hours", "rate", "seed", "scenario")}
    meta.update(samples=sum(p["samples"] for p in parts), events=len(events), lstm_version=parts[0]["lstm"],
                replay_seconds=sum(p["seconds"] for p in parts))
    (out / "result.json").write_text(json.dumps(ev.to_json(meta), indent=2, default=float) + "\n")
    (out / "table.md").write_text(table + "\n")
    if args.plots:
        from .plots import delay_distribution

        delay_distribution(out / "delays.png", ev)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--patients", type=int, default=108)
    p.add_argument("--hours", type=float, default=24.0)
    p.add_argument("--rate", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=202)
    p.add_argument("--scenario", default="default")
    p.add_argument("--parts", type=int, default=4)
    p.add_argument("--part", type=int, default=None)
    p.add_argument("--model-dir", default=None)
    p.add_argument("--no-lstm", action="store_true")
    p.add_argument("--out", required=True)
    p.add_argument("--combine", action="store_true")
    p.add_argument("--plots", action="store_true")
    args = p.parse_args(argv)
    if args.combine:
        combine(args)
    elif args.part is not None:
        run_part(args)
    else:
        for part in range(args.parts):
            args.part = part
            run_part(args)
        combine(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
