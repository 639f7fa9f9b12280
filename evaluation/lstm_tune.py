"""Tune the LSTM's decision layer offline: score a cohort once, replay decisions many times.

    python -m evaluation.lstm_tune record --patients 40 --hours 24 --rate 0.1 --seed 31 --out runs/s31.pkl
    python -m evaluation.lstm_tune replay runs/s31.pkl runs/s777.pkl [--variant NAME ...] [--false]

`record` replays a simulated cohort through the Pipeline once (LSTM batched, as in
`evaluation.targets`) and keeps every LSTM scoring: time, score, contributions, the last
grid steps of the device's z-window and its baseline, plus every other detector's
candidates and the ground truth. `replay` folds those scorings through `lstm_decide`
again under a decision variant (gate levels, temperature corroboration, ...) and
evaluates the whole candidate stream exactly as `vitalstream evaluate` does. The model
is not re-run, so one variant costs seconds, and an unchanged variant reproduces the
recorded run's LSTM candidates exactly (checked: `--check`).

Use it on *training* seeds only; the held-out cohorts are run once, with `evaluation.targets`.
"""

from __future__ import annotations

import argparse
import contextlib
import pickle
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

TAIL = 20  # grid steps of the z-window kept per scoring (the gate looks at <= 20)


@dataclass
class Recording:
    others: list[Any]  # non-LSTM candidates, time order per device
    lstm: list[Any]  # the LSTM candidates the live decision produced (for --check)
    events: list[Any]
    days: float
    devices: int
    threshold: float
    version: str
    scorings: dict[str, dict[str, np.ndarray]]  # device -> ts, score, contrib, tail, mean
    meta: dict[str, Any]


def record(args: argparse.Namespace) -> Recording:
    import torch

    from detectors import plugins
    from detectors.pipeline import Pipeline

    from .cohort import simulated
    from .replay import replay, stderr_progress

    torch.set_num_threads(1)
    series, events = simulated(args.patients, hours=args.hours, rate_hz=args.rate, seed=args.seed,
                               scenario=args.scenario)
    lstm = plugins.load_lstm(args.model_dir)
    rows: dict[str, list[tuple]] = {}
    original = plugins.lstm_candidate

    def spy(state: Any, device_id: str, ts: int, score: float, contrib: np.ndarray, threshold: float) -> Any:
        rows.setdefault(device_id, []).append((ts, score, np.asarray(contrib, np.float32),
                                               state.ring[-TAIL:].astype(np.float32), state.mean.astype(np.float32)))
        return original(state, device_id, ts, score, contrib, threshold)

    plugins.lstm_candidate = spy
    try:
        res = replay(series, Pipeline(lstm=lstm), progress=stderr_progress(f"seed {args.seed}"))
    finally:
        plugins.lstm_candidate = original
    scorings = {dev: {"ts": np.array([r[0] for r in rs], np.int64), "score": np.array([r[1] for r in rs], np.float32),
                      "contrib": np.stack([r[2] for r in rs]), "tail": np.stack([r[3] for r in rs]),
                      "mean": np.stack([r[4] for r in rs])} for dev, rs in rows.items()}
    return Recording(others=[c for c in res.candidates if c.detector != "lstm"],
                     lstm=[c for c in res.candidates if c.detector == "lstm"], events=events,
                     days=sum(s.days for s in series.values()), devices=len(series), threshold=float(lstm.threshold),
                     version=lstm.version, scorings=scorings,
                     meta={"seed": args.seed, "rate": args.rate, "patients": args.patients, "hours": args.hours})


def lstm_candidates(rec: Recording, threshold_x: float = 1.0) -> list[Any]:
    """The LSTM candidates the current decide.py makes from the recorded scorings."""
    from detectors.emit import emit, from_candidate
    from detectors.lstm.decide import lstm_decide
    from detectors.lstm.state import LstmState
    from detectors.state import DeviceState

    out = []
    thr = rec.threshold * threshold_x
    for dev, s in rec.scorings.items():
        st, ds = LstmState(), DeviceState(dev)
        for i in range(len(s["ts"])):
            st.ring = s["tail"][i].astype(np.float64)
            st.mean = s["mean"][i].astype(np.float64)
            ts = int(s["ts"][i])
            c = lstm_decide(st, dev, ts, float(s["score"][i]), s["contrib"][i].astype(np.float64), thr)
            if c is not None:
                cand = emit(ds, from_candidate(c), ts, 60.0)
                if cand is not None:
                    out.append(cand)
    return out


def evaluate(rec: Recording, lstm: list[Any]) -> Any:
    from .evaluate import evaluate_candidates

    cands = sorted(rec.others + lstm, key=lambda c: (c.device_id, c.ts_ms))
    return evaluate_candidates(cands, rec.events, rec.days, ["rules", "lstm"], rec.devices)


@contextlib.contextmanager
def patched(module: Any, **values: Any) -> Iterator[None]:
    old = {k: getattr(module, k) for k in values}
    for k, v in values.items():
        setattr(module, k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            setattr(module, k, v)


def false_alerts(rec: Recording, ev: Any) -> list[dict[str, Any]]:
    """Each false LSTM alert with what drove it (departure z per vital, contributions)."""
    from .matching import match

    alerts = ev.alerts["lstm"]
    m = match(alerts, rec.events)
    out = []
    for a, tp in zip(alerts, m.alert_tp):
        if tp:
            continue
        s = rec.scorings[a.device_id]
        i = int(np.searchsorted(s["ts"], a.opened_ms))
        i = min(i, len(s["ts"]) - 1)
        from detectors.lstm.decide import departure_z
        from vitalstream.records import METRICS

        from detectors.lstm.features import CLINICAL

        z = departure_z(s["tail"][i].astype(np.float64))
        signed = np.nanmean(s["tail"][i][-10:], axis=0)
        evs = [e for e in rec.events if e.device_id == a.device_id]
        after = [(a.opened_ms - e.end_ms) / 60000 for e in evs if e.end_ms <= a.opened_ms]
        out.append({"device": a.device_id, "hours_in": (a.opened_ms - s["ts"][0]) / 3.6e6,
                    "z": {METRICS[c]: round(float(v), 1) for c, v in zip(CLINICAL, z) if v >= 1.0},
                    "signed": {METRICS[c]: round(float(signed[c]), 1) for c in CLINICAL if abs(signed[c]) >= 1.0},
                    "contrib": {METRICS[c]: round(float(s["contrib"][i][c]), 2) for c in CLINICAL
                                if s["contrib"][i][c] >= 0.15},
                    "min_after_event": round(min(after), 0) if after else None})
    return out


def summary(ev: Any) -> str:
    parts = []
    for name in ("rules", "lstm", "combined"):
        d = ev.detectors[name]
        k = d["by_kind"].get("deterioration", {})
        f1 = k.get("f1")
        parts.append(f"{name}: F1det {f1 if f1 is None else round(f1, 3)} rdet {k.get('recall', 0):.2f} "
                     f"fa {d['false_alerts']} rec {d['recall']:.3f}")
    return " | ".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("--patients", type=int, default=40)
    r.add_argument("--hours", type=float, default=24.0)
    r.add_argument("--rate", type=float, default=0.1)
    r.add_argument("--seed", type=int, required=True)
    r.add_argument("--scenario", default="default")
    r.add_argument("--model-dir", default=None)
    r.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("replay")
    p.add_argument("files", type=Path, nargs="+")
    p.add_argument("--false", action="store_true", help="list every false LSTM alert")
    p.add_argument("--check", action="store_true", help="the unchanged decision reproduces the recorded candidates")
    args = ap.parse_args(argv)
    if args.cmd == "record":
        rec = record(args)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_bytes(pickle.dumps(rec))
        print(f"{args.out}: {rec.devices} devices, {rec.days:.1f} patient-days, "
              f"{sum(len(s['ts']) for s in rec.scorings.values()):,} scorings", file=sys.stderr)
        return 0
    for f in args.files:
        rec = pickle.loads(f.read_bytes())
        cands = lstm_candidates(rec)
        if args.check:
            key: Callable[[Any], tuple] = lambda c: (c.device_id, c.ts_ms, c.active, c.severity)  # noqa: E731
            same = [key(c) for c in cands] == [key(c) for c in rec.lstm]
            print(f"{f.name}: replay reproduces recorded LSTM candidates: {same} ({len(cands)} / {len(rec.lstm)})")
        ev = evaluate(rec, cands)
        print(f"{f.name} ({rec.meta}): {summary(ev)}")
        if args.false:
            for fa in false_alerts(rec, ev):
                print("   ", fa)
    return 0


if __name__ == "__main__":
    sys.exit(main())
