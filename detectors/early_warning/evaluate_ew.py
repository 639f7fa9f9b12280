"""Measure the early-warning detector on a cohort: pre-symptom recall, lead, false alarms.

    python -m detectors.early_warning.evaluate_ew --people 50 --days 60 [--source synth|sim] [--json OUT]

Targets (issue 11): ≥ 70 % of infections flagged before symptom onset, median lead
≥ 2 days, ≤ 1 false early warning per person-month.
An alert *opening* (not an escalation) counts as
- pre-symptom detection when it opens within an infection event [first rise, onset];
- late (neither hit nor false) when it opens within `late_days` after onset: the
  person is ill and the alert is right, just not early;
- false otherwise.
Progress goes to stderr; the result is one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import DAY_MS, DEFAULT_CONFIG, HOUR_MS, EwConfig
from .state import ew_new, ew_to_dict
from .update import ew_update


@dataclass(slots=True)
class Trace:
    device_id: str
    ts_ms: np.ndarray
    hr: np.ndarray  # NaN = missing
    activity: np.ndarray  # NaN = missing
    events: list[dict[str, Any]]


def run_trace(tr: Trace, cfg: EwConfig = DEFAULT_CONFIG) -> tuple[list[int], int]:
    """Feed one trace through a fresh state; return opening times (ms) and final state size (bytes)."""
    st = ew_new()
    openings: list[int] = []
    was_open = False
    hr_l = [None if math.isnan(v) else float(v) for v in tr.hr.tolist()]
    act_l = [None if math.isnan(v) else float(v) for v in tr.activity.tolist()]
    dev = tr.device_id
    for ts, h, a in zip(tr.ts_ms.tolist(), hr_l, act_l):
        c = ew_update(st, dev, ts, h, a, cfg)
        if c is not None:
            if c.active and not was_open:
                openings.append(c.ts_ms)
            was_open = c.active
    size = len(json.dumps(ew_to_dict(st), separators=(",", ":")))
    return openings, size


def extract_hourly(tr: Trace, cfg: EwConfig = DEFAULT_CONFIG) -> list[tuple[int, float]]:
    """The hourly resting-HR series (hour index, bpm) the detector sees; input for the LSTM comparison."""
    cfg = dataclasses.replace(cfg, min_baseline_days=10**9)  # extraction only, no scoring
    st = ew_new()
    out: list[tuple[int, float]] = []
    for ts, h, a in zip(tr.ts_ms.tolist(), tr.hr.tolist(), tr.activity.tolist()):
        hour = (ts + cfg.tz_offset_ms) // HOUR_MS
        if hour > st.hour >= 0 and st.acc_ms >= cfg.min_rest_per_hour_ms:
            out.append((st.hour, st.acc_hr_ms / st.acc_ms))  # the value _roll_hour is about to close
        ew_update(st, tr.device_id, ts, None if h != h else h, None if a != a else a, cfg)
    return out


def score(results: list[tuple[Trace, list[int]]], late_days: float = 10.0) -> dict[str, Any]:
    n_inf = 0
    leads: list[float] = []
    n_false = 0
    n_late = 0
    person_days = 0.0
    for tr, openings in results:
        if len(tr.ts_ms):
            person_days += (int(tr.ts_ms[-1]) - int(tr.ts_ms[0])) / DAY_MS
        infections = [e for e in tr.events if e.get("kind") == "infection"]
        n_inf += len(infections)
        used: set[int] = set()
        for ev in infections:
            hits = [t for t in openings if ev["start"] <= t <= ev["end"]]
            if hits:
                leads.append((ev["end"] - hits[0]) / DAY_MS)
                used.update(hits)
        for t in openings:
            if t in used:
                continue
            if any(ev["end"] < t <= ev["end"] + late_days * DAY_MS for ev in infections):
                n_late += 1
            else:
                n_false += 1
    months = person_days / 30.0
    return {
        "people": len(results),
        "person_days": round(person_days, 1),
        "infections": n_inf,
        "flagged_before_onset": len(leads),
        "flagged_before_onset_rate": round(len(leads) / n_inf, 3) if n_inf else None,
        "median_lead_days": round(statistics.median(leads), 2) if leads else None,
        "late_alerts": n_late,
        "false_alerts": n_false,
        "false_per_person_month": round(n_false / months, 3) if months else None,
    }


def synth_traces(people: int, days: int, seed: int) -> Iterator[Trace]:
    from .synth import generate_person

    for i in range(people):
        p = generate_person(i, days=days, seed=seed)
        yield Trace(p.device_id, p.ts_ms, p.hr, p.activity, p.events)


def sim_traces(people: int, days: int, seed: int, scenario: str = "infection") -> Iterator[Trace]:
    """Traces from the project simulator (simulators.patient, scenario "infection")."""
    from simulators.patient import generate_patient

    for i in range(people):
        p = generate_patient(i, hours=days * 24, rate_hz=1 / 60, seed=seed, scenario=scenario)
        vals = np.asarray(p.values, dtype=float)
        events = [_event_dict(e, p.device_id) for e in p.events]
        yield Trace(p.device_id, np.asarray(p.ts_ms, dtype=np.int64), vals[:, 0], vals[:, 6], events)


def _event_dict(e: Any, device_id: str) -> dict[str, Any]:
    if hasattr(e, "to_dict"):
        d = e.to_dict()
    elif isinstance(e, dict):
        d = dict(e)
    else:
        d = dataclasses.asdict(e) if dataclasses.is_dataclass(e) else dict(vars(e))
    d.setdefault("device_id", device_id)
    return d


def evaluate(traces: Iterable[Trace], cfg: EwConfig = DEFAULT_CONFIG, *, progress: bool = True) -> dict[str, Any]:
    results = []
    sizes = []
    samples = 0
    t0 = time.perf_counter()
    for k, tr in enumerate(traces, 1):
        openings, size = run_trace(tr, cfg)
        results.append((tr, openings))
        sizes.append(size)
        samples += len(tr.ts_ms)
        if progress and (k % 10 == 0):
            print(f"[evaluate_ew] {k} people, {samples:,} samples, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    out = score(results)
    out["max_state_bytes"] = max(sizes) if sizes else 0
    out["method"] = cfg.method
    rate, lead, false = out["flagged_before_onset_rate"], out["median_lead_days"], out["false_per_person_month"]
    out["targets"] = {  # issue 11
        "flagged_before_onset_rate>=0.70": rate is not None and rate >= 0.70,
        "median_lead_days>=2": lead is not None and lead >= 2.0,
        "false_per_person_month<=1": false is not None and false <= 1.0,
    }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m detectors.early_warning.evaluate_ew", description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=50)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--source", choices=("synth", "sim"), default="sim")
    ap.add_argument("--scenario", default="infection", help="simulator scenario (sim source), e.g. infection, consumer")
    ap.add_argument("--method", choices=("cusum", "fraction"), default=DEFAULT_CONFIG.method)
    ap.add_argument("--json", help="also write the result to this file")
    args = ap.parse_args(argv)
    cfg = dataclasses.replace(DEFAULT_CONFIG, method=args.method)
    if args.source == "synth":
        traces = synth_traces(args.people, args.days, args.seed)
    else:
        traces = sim_traces(args.people, args.days, args.seed, args.scenario)
    res = evaluate(traces, cfg)
    res["source"] = args.source if args.source == "synth" else f"sim:{args.scenario}"
    res["seed"] = args.seed
    text = json.dumps(res, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
