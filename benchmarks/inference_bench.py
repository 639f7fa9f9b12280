"""LSTM detector benchmark: batched inference throughput and per-device state size.

    python -m benchmarks.inference_bench [--model-dir DIR] [--threads 1] [--seconds 2] [--json OUT]

Prints windows/s at batch 1, 64 and 512 on `--threads` torch threads (default one core,
the target is >= 20,000 windows/s at 512) next to a reference LSTM timed in the same run
(the CEILINGS forecaster, 22K windows/s on a quiet machine; timed in alternating bursts
with the model, so each figure has a ratio to it and a quiet-core estimate), the cost of the per-device state code
(lstm_update per sample, lstm_decide per scoring), and the memory per device of detector
state (JSON as persisted, and in-process bytes). Numbers on a shared 2-core machine are
noisy: compare runs taken together, not across days (../shared/CEILINGS.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

BATCHES = (1, 64, 512)
QUIET_REFERENCE = 22_000  # ../shared/CEILINGS.md: the reference LSTM alone on a quiet core, batch 256


def _windows(n: int) -> np.ndarray:
    """Realistic windows: a simulated normal patient at 1 sample / 10 s, pushed through the state code."""
    from detectors.lstm.dataset import Trace, trace_windows

    try:
        from simulators.patient import generate_patient

        p = generate_patient(0, hours=12, rate_hz=0.1, seed=1, scenario="normal")
        w = trace_windows(Trace(p.device_id, p.ts_ms, p.values)).windows
    except ImportError:  # simulator not installed: random z-values, same shapes
        rng = np.random.default_rng(0)
        w = np.concatenate([rng.normal(0, 1, (n, 60, 7)), np.zeros((n, 60, 7))], axis=2).astype(np.float32)
    reps = int(np.ceil(n / len(w)))
    return np.ascontiguousarray(np.concatenate([w] * reps)[:n])


def _rate(fn, x, batch: int, seconds: float) -> float:
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn(x)
        n += batch
    return n / (time.perf_counter() - t0)


def _throughput(det, windows: np.ndarray, batch: int, seconds: float, reference, repeats: int = 5) -> tuple[float, float]:
    """Median windows/s of the model, and the median ratio model / reference, the reference
    timed in turn with the model (short alternating bursts): on a shared machine whose speed
    drifts within seconds, the ratio of neighbouring bursts is what stays comparable."""
    x = windows[:batch]
    det.score_batch(x)  # warm-up
    rates, ratios = [], []
    for _ in range(repeats):
        r = _rate(det.score_batch, x, batch, seconds / repeats / 2)
        ref = reference()
        rates.append(r)
        ratios.append(r / ref)
    return statistics.median(rates), statistics.median(ratios)


def _reference_timer(seconds: float):
    """The CEILINGS reference LSTM (2x64 forecaster over 60x7, batch 256; 22,000 windows/s on a
    quiet core of this machine kind): a callable giving its windows/s over a short burst."""
    import torch

    ref = torch.nn.LSTM(7, 64, num_layers=2, batch_first=True).eval()
    x = torch.randn(256, 60, 7)

    def run() -> float:
        with torch.inference_mode():
            ref(x)
            return _rate(ref, x, 256, seconds)

    return run


def _state_costs(n_devices: int = 200) -> dict[str, float]:
    from detectors.lstm import lstm_decide, lstm_state_new, lstm_state_to_dict, lstm_update
    from detectors.lstm.state import REF_LEN

    rng = np.random.default_rng(0)
    base = np.array([70, 97, 14, 36.6, 120, 75, 0.1])
    samples = base + rng.normal(0, 1, (7200, 7))
    st = lstm_state_new()
    t0 = time.perf_counter()
    for i, v in enumerate(samples):  # 2 h at 1 Hz
        lstm_update(st, 1_795_000_020_000 + i * 1000, v)
    update_us = (time.perf_counter() - t0) / len(samples) * 1e6
    contrib = np.full(7, 1 / 6)
    contrib[6] = 0.0
    t0 = time.perf_counter()
    for i in range(2000):
        lstm_decide(st, "dev", i * 60_000, 0.5, contrib, 1.0)
    decide_us = (time.perf_counter() - t0) / 2000 * 1e6
    st.decision.ref = [1.23456] * REF_LEN
    json_bytes = len(json.dumps(lstm_state_to_dict(st)).encode())
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    states = []
    for _ in range(n_devices):
        s = lstm_state_new()
        for i, v in enumerate(samples[:3700:30]):
            lstm_update(s, 1_795_000_020_000 + i * 30_000, v)
        s.decision.ref = [float(x) for x in rng.random(REF_LEN)]
        states.append(s)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    mem = sum(d.size_diff for d in after.compare_to(before, "filename")) / n_devices
    return {"lstm_update_us_per_sample": update_us, "lstm_decide_us_per_scoring": decide_us,
            "state_json_bytes": json_bytes, "state_memory_bytes": mem}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", type=Path, default=None, help="artefact dir (default: the committed model)")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1 = one core)")
    ap.add_argument("--seconds", type=float, default=2.0, help="measuring time per batch size")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    args = ap.parse_args(argv)

    from detectors.lstm import load_detector

    det = load_detector(args.model_dir, threads=args.threads)
    windows = _windows(max(BATCHES))
    print(f"model {det.version} ({det.cfg.kind}, hidden {det.cfg.hidden}), torch threads {args.threads}")
    print(f"{'batch':>6} {'windows/s':>11} {'ms/batch':>9} {'x reference':>12} {'quiet est.':>11}")
    result: dict = {"model": det.version, "kind": det.cfg.kind, "hidden": det.cfg.hidden,
                    "pack": getattr(det.cfg, "pack", 1), "threads": args.threads, "throughput": {},
                    "ratio_to_reference": {}, "quiet_estimate": {}}
    reference = _reference_timer(min(0.5, args.seconds / 5))
    for b in BATCHES:
        rate, ratio = _throughput(det, windows, b, args.seconds, reference)
        result["throughput"][str(b)] = rate
        result["ratio_to_reference"][str(b)] = ratio
        result["quiet_estimate"][str(b)] = ratio * QUIET_REFERENCE
        print(f"{b:>6} {rate:>11,.0f} {b / rate * 1000:>9.2f} {ratio:>12.2f} {ratio * QUIET_REFERENCE:>11,.0f}")
    ref = statistics.median(reference() for _ in range(3))
    result["reference_windows_per_s"] = ref
    result["quiet_estimate_512"] = result["quiet_estimate"]["512"]
    print(f"reference (CEILINGS LSTM forecaster 2x64, batch 256), timed in turn with each model burst: "
          f"{ref:,.0f} windows/s now vs {QUIET_REFERENCE:,} on a quiet core -> batch 512 scales to "
          f"~{result['quiet_estimate_512']:,.0f} windows/s quiet")
    costs = _state_costs()
    result.update(costs)
    print(f"state per device: {costs['state_json_bytes'] / 1024:.1f} KiB as JSON (persisted), "
          f"{costs['state_memory_bytes'] / 1024:.1f} KiB in memory (limit 64 KiB)")
    print(f"state code: lstm_update {costs['lstm_update_us_per_sample']:.1f} us/sample, "
          f"lstm_decide {costs['lstm_decide_us_per_scoring']:.1f} us/scoring")
    raw_ok, quiet_ok = result["throughput"]["512"] >= 20_000, result["quiet_estimate_512"] >= 20_000
    print(f"target >= 20,000 windows/s at batch 512: raw {'met' if raw_ok else 'NOT met'} "
          f"({result['throughput']['512']:,.0f} on this core now), scaled to a quiet core "
          f"{'met' if quiet_ok else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
