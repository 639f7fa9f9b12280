"""Detector CPU per sample, without Kafka: what one scoring worker spends per sample.

    python -m benchmarks.pipeline_bench [--devices 300] [--warmup-s 3660] [--seconds 180] [--profile 25]

Simulated patients at 1 Hz go through `Scorer.step` one second at a time, every device
in every batch (as the worker sees a fleet at 1 Hz). The first --warmup-s seconds are fed
untimed, so the LSTM's windows are full (it scores once it has seen an hour) and the
timed part is the steady state, one LSTM pass per device per minute included (the
end-to-end benchmark's steps are too short for that). Prints µs per sample for the
per-sample detectors (signal quality, rules, NEWS2, early warning, the LSTM's window),
for the batched LSTM passes, and for checkpoint serialisation (per state), plus the
machine's CPU-speed figure so runs on different days compare. --profile N prints the
N functions with the most own time (cProfile; slows everything down, figures are then
relative only).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections import defaultdict

from benchmarks.common import cpu_speed_ms, machine
from benchmarks.worker_bench import fleet
from stream.scoring import load_scorer
from vitalstream.config import load_settings


def run(devices: int, seconds: int, warmup_s: int = 3660, profile: int = 0) -> dict[str, float]:
    settings = load_settings()
    scorer = load_scorer(settings)
    scorer.lstm_spread_s = 0.0  # simulated time runs far faster than the wall clock the spread is timed by
    print(f"simulating {devices} devices × {warmup_s} + {seconds} s …", file=sys.stderr, flush=True)
    ticks = fleet(devices, warmup_s + seconds, t0_ms=1_700_000_000_000)
    live = {}
    for tick in ticks:
        for s in tick:
            if s.device_id not in live:
                live[s.device_id] = scorer.state_for(s.device_id, None)
    batches = []
    for tick in ticks:
        per_device: dict[str, list] = defaultdict(list)
        for s in tick:
            per_device[s.device_id].append(s)
        batches.append(per_device)
    for k, per_device in enumerate(batches[:warmup_s]):
        scorer.step(dict(per_device), live)
        if k % 120 == 119:
            print(f"  warm-up {k + 1} / {warmup_s} s", file=sys.stderr, flush=True)
    batches = batches[warmup_s:]
    del ticks, tick, per_device
    gc.collect()  # the warm-up's samples are garbage now; left around they slow every collection
    n = sum(len(b) for b in batches)
    windows = 0

    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    lstm_s = 0.0
    t0 = time.perf_counter()
    for k, per_device in enumerate(batches):
        out = scorer.step(dict(per_device), live)
        lstm_s += sum(sec for _, sec in out.lstm_batches)
        windows += sum(w for w, _ in out.lstm_batches)
        if k % 30 == 29:
            so_far = sum(len(b) for b in batches[:k + 1])
            print(f"  t={k + 1:4d} s  {(time.perf_counter() - t0) / so_far * 1e6:6.1f} µs/sample",
                  file=sys.stderr, flush=True)
    total = time.perf_counter() - t0
    t1 = time.perf_counter()
    blobs = [scorer.to_bytes(st) for st in live.values()]
    ser = time.perf_counter() - t1
    if prof is not None:
        import pstats

        prof.disable()
        pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(profile)
    return {
        "devices": devices, "samples": n,
        "us_per_sample": total / n * 1e6,
        "us_per_sample_without_lstm_pass": (total - lstm_s) / n * 1e6,
        "lstm_pass_us_per_sample": lstm_s / n * 1e6,
        "lstm_windows": windows,
        "lstm_us_per_window": lstm_s / windows * 1e6 if windows else float("nan"),
        "serialise_us_per_state": ser / len(blobs) * 1e6,
        "state_bytes_mean": sum(map(len, blobs)) / len(blobs),
        "cpu_speed_ms": cpu_speed_ms(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=300)
    ap.add_argument("--warmup-s", type=int, default=3660,
                    help="seconds fed untimed first (the LSTM scores after an hour of data)")
    ap.add_argument("--seconds", type=int, default=180)
    ap.add_argument("--profile", type=int, default=0, metavar="N")
    ap.add_argument("--json", help="write the result here too")
    args = ap.parse_args(argv)
    r = run(args.devices, args.seconds, args.warmup_s, args.profile)
    print(f"{r['devices']} devices, {r['samples']} samples on {machine()}, CPU speed {r['cpu_speed_ms']:.1f} ms")
    print(f"detectors:          {r['us_per_sample']:7.1f} µs/sample "
          f"({r['us_per_sample_without_lstm_pass']:.1f} per-sample work + "
          f"{r['lstm_pass_us_per_sample']:.1f} LSTM passes: "
          f"{r['lstm_windows']} windows, {r['lstm_us_per_window']:.0f} µs each)")
    print(f"checkpoint state:   {r['serialise_us_per_state']:7.1f} µs/state, {r['state_bytes_mean']:.0f} bytes")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(r, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
