"""Multi-signal alternative (resting HR + activity + skin temperature), for comparison only.

    python -m detectors.early_warning.multisignal --seeds 1 2 [--people 50 --days 60]

Published wearable work combines signals: Mishra et al., Nat Biomed Eng 2020 (HR over
steps, "HROS"); Quer et al., Nat Med 2021 (DETECT: resting HR + sleep + activity raised
the AUC over resting HR alone); Smarr et al., Sci Rep 2020 (wearable temperature shows
fever onset). This module measures whether that helps on the project simulator, with the
streaming detector's own baseline code (baseline.close_day) and lifecycle:

1. `hourly_aggregates`: per hour, the resting-HR sums exactly as update.py gates them
   (still ≥ 12 min, gap ≤ 5 min, time-weighted, capped at 1 min), the time-weighted
   activity while worn, and the resting skin temperature.
2. `separation`: per signal and per day, a robust z against the person's first three
   weeks, grouped by how many days before symptom onset the day ends: how much of each
   signal the simulated infection moves before onset, in units of its ordinary wobble.
3. `run_combined`: the hourly CuSum of detector.py with one more term per hour,
   w_act · z_act, where z_act = (median daily log activity ratio − trailing-24-h log
   ratio) / its scale; the ratio is observed activity over the wearer's own hour-of-day
   activity profile, so unworn nights do not look like "less activity". w_act = 0 is
   the shipped detector (checked: it reproduces evaluate_ew exactly).

Results and the conclusion are in docs/early_warning.md ("Multi-signal comparison").
Offline only: nothing here is on the streaming path.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .baseline import MAD_TO_SD, close_day, mad, median
from .config import DAY_MS, DEFAULT_CONFIG, HOUR_MS, EwConfig
from .evaluate_ew import score
from .state import EwState, ew_new


def hourly_aggregates(ts: np.ndarray, hr: np.ndarray, act: np.ndarray, temp: np.ndarray,
                      cfg: EwConfig = DEFAULT_CONFIG) -> dict[str, np.ndarray]:
    """Per-hour sums over one device's samples (NaN = missing), with update.py's gating."""
    ts = np.asarray(ts, np.int64)
    n = len(ts)
    dt = np.empty(n)
    dt[0] = 1e18
    dt[1:] = np.diff(ts)
    reset = np.isnan(act) | (act > cfg.rest_activity_max) | (dt > cfg.max_gap_ms)
    rest_since = np.maximum.accumulate(np.where(reset, ts, 0))
    w = np.minimum(dt, cfg.max_weight_ms)
    resting = ~reset & (ts - rest_since >= cfg.rest_ms)
    hr_ok = resting & ~np.isnan(hr) & (hr >= cfg.hr_min) & (hr <= cfg.hr_max)
    t_ok = resting & ~np.isnan(temp)
    a_ok = ~np.isnan(act) & (dt <= cfg.max_gap_ms)
    hi = (ts + cfg.tz_offset_ms) // HOUR_MS
    h0 = int(hi[0])
    idx = hi - h0
    nh = int(idx[-1]) + 1

    def total(mask: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.bincount(idx[mask], weights=v[mask], minlength=nh)

    return {
        "hour": np.arange(nh) + h0,
        "rest_ms": total(hr_ok, w), "rest_hr": total(hr_ok, w * np.nan_to_num(hr)),
        "act_ms": total(a_ok, w), "act_sum": total(a_ok, w * np.nan_to_num(act)),
        "t_ms": total(t_ok, w), "t_sum": total(t_ok, w * np.nan_to_num(temp)),
    }


@dataclass
class Person:
    device_id: str
    agg: dict[str, np.ndarray]
    events: list[dict[str, Any]]
    t0: int
    t1: int


def sim_people(people: int, days: int, seed: int, scenario: str = "infection") -> list[Person]:
    from simulators.patient import generate_patient

    out = []
    for i in range(people):
        p = generate_patient(i, hours=days * 24, rate_hz=1 / 60, seed=seed, scenario=scenario)
        v = np.asarray(p.values, dtype=float)
        ts = np.asarray(p.ts_ms, dtype=np.int64)
        events = [{"kind": e.kind, "start": e.start_ms, "end": e.end_ms} for e in p.events]
        agg = hourly_aggregates(ts, v[:, 0], v[:, 6], v[:, 3])  # columns hr, activity, temp
        out.append(Person(p.device_id, agg, events, int(ts[0]), int(ts[-1])))
    return out


# ---- 2. how far each signal moves before onset ---------------------------------------

def _day_features(a: dict[str, np.ndarray]) -> dict[int, dict[str, float]]:
    hod = a["hour"] % 24
    day = a["hour"] // 24
    enough = a["rest_ms"] >= DEFAULT_CONFIG.min_rest_per_hour_ms
    rhr = np.where(enough, a["rest_hr"] / np.maximum(a["rest_ms"], 1), np.nan)
    out = {}
    for d in np.unique(day):
        m = day == d
        night, awake = m & (hod < 6), m & (hod >= 8) & (hod <= 22)

        def ratio(mask: np.ndarray, s: str, w: str) -> float:
            return float(a[s][mask].sum() / a[w][mask].sum()) if a[w][mask].sum() > 0 else math.nan

        day_rhr = rhr[awake][~np.isnan(rhr[awake])]
        out[int(d)] = {
            "night_rhr": float(np.nanmean(rhr[night])) if np.any(~np.isnan(rhr[night])) else math.nan,
            "day_rhr": float(np.median(day_rhr)) if len(day_rhr) >= 3 else math.nan,
            "log_activity": math.log(ratio(awake, "act_sum", "act_ms") + 1e-4),
            "night_temp": ratio(night, "t_sum", "t_ms"),
        }
    return out


def separation(people: list[Person], baseline_days: int = 21) -> dict[str, dict[str, float]]:
    """Median robust z per signal, by days-before-onset bin ('clean' = people without infection: SD)."""
    bins = ((-5, -3), (-3, -2), (-2, -1), (-1, 0), (0, 1))
    acc: dict[str, dict[str, list[float]]] = {}
    for p in people:
        f = _day_features(p.agg)
        days = sorted(f)
        onset = next((e["end"] for e in p.events if e["kind"] == "infection"), None)
        for k in next(iter(f.values())):
            base = [f[d][k] for d in days if 2 <= d - days[0] < baseline_days and not math.isnan(f[d][k])]
            if len(base) < 7:
                continue
            c = median(base)
            s = MAD_TO_SD * mad(base, c) or 1e-9
            row = acc.setdefault(k, {})
            for d in days:
                if d - days[0] < baseline_days or math.isnan(f[d][k]):
                    continue
                z = (f[d][k] - c) / s
                if onset is None:
                    row.setdefault("clean", []).append(z)
                    continue
                rel = ((d + 1) * DAY_MS - onset) / DAY_MS
                for lo, hi in bins:
                    if lo <= rel < hi:
                        row.setdefault(f"[{lo},{hi}) d", []).append(z)
    return {k: {b: round(float(np.std(v) if b == "clean" else np.median(v)), 2) for b, v in row.items()}
            for k, row in acc.items()}


# ---- 3. combined CuSum through the real baseline code --------------------------------

@dataclass
class _Activity:
    prof: list[float] = field(default_factory=lambda: [0.0] * 24)
    n: list[int] = field(default_factory=lambda: [0] * 24)
    ring: list[tuple[int, float, float, float]] = field(default_factory=list)  # hour, ms, sum, expected
    days: list[float] = field(default_factory=list)  # daily log(observed / expected)
    today: list[float] = field(default_factory=lambda: [0.0, 0.0])

    def z(self, min_days: int, floor: float = 0.1) -> float:
        ms = sum(r[1] for r in self.ring)
        exp = sum(r[3] for r in self.ring)
        if len(self.days) < min_days or exp <= 0 or ms < 3 * HOUR_MS:
            return 0.0
        r = math.log((sum(r[2] for r in self.ring) + 1e-9) / exp)
        c = median(self.days)
        return (c - r) / max(floor, MAD_TO_SD * mad(self.days, c))


def run_combined(p: Person, w_act: float, cfg: EwConfig = DEFAULT_CONFIG, za_cap: float = 3.0) -> list[int]:
    """Alert openings (ms) of the CuSum detector with w_act · z_act added to each hour's z."""
    a = p.agg
    st = ew_new()
    act = _Activity()
    st.hour = int(a["hour"][0])
    st.day = st.hour // 24
    openings = []
    for i, h in enumerate(a["hour"].tolist()):
        hod = h % 24
        ms, s = float(a["act_ms"][i]), float(a["act_sum"][i])
        if ms > 0 and act.n[hod]:
            e = ms * max(act.prof[hod], 0.002)
            act.ring.append((h, ms, s, e))
            act.today[0] += s
            act.today[1] += e
        while act.ring and act.ring[0][0] <= h - 24:
            act.ring.pop(0)
        if a["rest_ms"][i] >= cfg.min_rest_per_hour_ms:
            rhr = float(a["rest_hr"][i] / a["rest_ms"][i])
            st.day_hours.append([hod, rhr])
            za = max(-za_cap, min(za_cap, act.z(cfg.min_baseline_days)))
            if _score(st, cfg, h, rhr, w_act * za):
                openings.append((h + 1) * HOUR_MS)
        if ms >= 10 * 60_000:  # the activity profile: running mean per hour of day
            act.n[hod] += 1
            act.prof[hod] += (s / ms - act.prof[hod]) / min(act.n[hod], cfg.profile_max_weight_days)
        if (h + 1) // 24 != st.day:
            flagged = st.day_flagged
            close_day(st, cfg)
            if act.today[1] > 0 and not flagged:
                act.days = (act.days + [math.log((act.today[0] + 1e-9) / act.today[1])])[-cfg.baseline_days:]
            act.today = [0.0, 0.0]
            st.day = (h + 1) // 24
        st.hour = h + 1
    return openings


def _score(st: EwState, cfg: EwConfig, hour: int, rhr: float, extra_z: float) -> bool:
    """detector.score_hour's decision (CuSum, excess gate, persistence, clearing) plus extra_z."""
    if st.base_level is None:
        return False
    excess = rhr - (st.base_level + st.profile[hour % 24])
    z = excess / st.base_scale
    st.scored.append([hour, rhr, excess, z])
    while st.scored and st.scored[0][0] <= hour - cfg.history_hours:
        st.scored.pop(0)
    st.cusum = max(0.0, st.cusum + min(z, cfg.z_cap) + extra_z - cfg.cusum_k)
    window = [s for s in st.scored if s[0] > hour - cfg.window_hours]
    med_excess = median([s[2] for s in window])
    if st.open:
        st.day_flagged = True
        if hour - st.opened_hour >= cfg.clear_min_open_hours and len(window) >= cfg.min_observed_hours // 2 \
                and med_excess < cfg.clear_excess_bpm:
            st.open, st.cusum = False, 0.0
        return False
    elevated = sum(1 for s in st.scored if s[0] > hour - 24 and s[3] > cfg.z_elevated)
    if med_excess >= cfg.min_excess_bpm and elevated >= cfg.min_elevated_hours_24h \
            and st.cusum >= cfg.cusum_h and len(window) >= 4:
        st.open, st.opened_hour, st.day_flagged = True, hour, True
        return True
    return False


def compare(people: list[Person], grid: dict[str, list[float]]) -> list[dict[str, Any]]:
    from .evaluate_ew import Trace

    rows = []
    keys = list(grid)
    for values in itertools.product(*grid.values()):
        kw = dict(zip(keys, values))
        w = kw.pop("w_act")
        cfg = dataclasses.replace(DEFAULT_CONFIG, **kw)
        span = [(Trace(p.device_id, np.array([p.t0, p.t1]), np.zeros(2), np.zeros(2), p.events), p) for p in people]
        results = [(tr, run_combined(p, w, cfg)) for tr, p in span]
        r = score(results)
        rows.append({"w_act": w, **kw, "flagged": r["flagged_before_onset_rate"], "lead_d": r["median_lead_days"],
                     "false_pm": r["false_per_person_month"]})
    return rows


def main(argv: list[str] | None = None) -> int:
    prog = "python -m detectors.early_warning.multisignal"
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--people", type=int, default=50)
    ap.add_argument("--days", type=int, default=60)
    args = ap.parse_args(argv)
    people = [p for s in args.seeds for p in sim_people(args.people, args.days, s)]
    print(json.dumps({"separation_median_z": separation(people)}, indent=1))
    # The grid behind the table in docs/early_warning.md (w_act 0 = the shipped detector).
    grid = {"w_act": [0.0, 0.25, 0.5, 1.0], "cusum_h": [6.0, 10.0, 14.0], "min_excess_bpm": [2.5, 3.0]}
    for row in compare(people, grid):
        print(json.dumps(row), file=sys.stdout, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
