"""Statistical tests of the generator: rhythms, activity, and each event kind's effect on the vitals."""

from __future__ import annotations

import numpy as np
import pytest

from simulators import EVENT_KINDS, Scenario, generate_cohort, generate_patient, patient_plan
from simulators.model import COL

MIN = 60_000


def _day_night(tr, plan):
    t = (tr.ts_ms - plan.start_ms) / 1000.0
    asleep = plan.sleep.index(t) >= 0
    return asleep


def test_night_hr_lower_than_day_and_temperature_has_a_rhythm() -> None:
    diffs, tdiffs = [], []
    for i in range(6):
        plan = patient_plan(i, hours=48, rate_hz=1 / 30, seed=1, scenario="normal")
        from simulators.patient import trace_from_plan

        tr = trace_from_plan(plan)
        asleep = _day_night(tr, plan)
        rest = tr.column("activity") < 0.05
        hr = tr.column("hr")
        diffs.append(np.nanmedian(hr[~asleep & rest]) - np.nanmedian(hr[asleep]))
        tod_h = ((tr.ts_ms // 1000) % 86400) / 3600
        temp = tr.column("temp")
        tdiffs.append(np.nanmean(temp[(tod_h > 14) & (tod_h < 19)]) - np.nanmean(temp[(tod_h > 2) & (tod_h < 6)]))
    assert min(diffs) > 2.0, diffs  # every patient's sleeping HR sits below its resting daytime HR
    assert np.mean(diffs) > 4.0
    assert min(tdiffs) > 0.2, tdiffs


def test_activity_raises_hr_and_rr_but_is_not_labelled() -> None:
    tr = generate_patient(0, hours=24, rate_hz=1, seed=4, scenario="normal")
    act, hr, rr = tr.column("activity"), tr.column("hr"), tr.column("rr")
    assert tr.events == []
    active, still = act > 0.25, act < 0.04
    assert active.sum() > 300  # bouts happen
    assert np.nanmedian(hr[active]) > np.nanmedian(hr[still]) + 5
    assert np.nanmedian(rr[active]) > np.nanmedian(rr[still]) + 1
    assert np.corrcoef(np.nan_to_num(act), np.nan_to_num(hr, nan=np.nanmean(hr)))[0, 1] > 0.2


def test_quantisation_and_cuff_schedule() -> None:
    tr = generate_patient(1, hours=3, rate_hz=1, seed=5, scenario="normal")
    for m in ("hr", "spo2", "rr", "sbp", "dbp"):
        x = tr.column(m)
        x = x[~np.isnan(x)]
        assert np.array_equal(x, np.round(x)), m
    assert np.nanmax(tr.column("spo2")) <= 100
    bp_ts = tr.ts_ms[~np.isnan(tr.column("sbp"))]
    assert 9 <= len(bp_ts) <= 13  # a 15-minute cuff over 3 hours (a few cycles may fail)
    assert np.all(np.diff(bp_ts) >= 15 * MIN - 1000)


def test_clean_periods_stay_in_normal_ranges() -> None:
    """Outside events, sustained clinically abnormal values are absent (artefacts are brief)."""
    sustained = 0
    days = 0.0
    for tr in generate_cohort(8, hours=24, rate_hz=1 / 10, seed=6, scenario="normal"):
        days += 1
        v = tr.values
        abnormal = (
            (v[:, COL["hr"]] > 120) | (v[:, COL["hr"]] < 42) | (v[:, COL["spo2"]] < 91)
            | (v[:, COL["rr"]] > 24) | (v[:, COL["rr"]] < 8) | (v[:, COL["temp"]] >= 38.0)
        )
        runs = np.convolve(abnormal.astype(int), np.ones(12, int), "valid") >= 12  # 2 minutes at 0.1 Hz
        sustained += int(np.sum(np.diff(runs.astype(int)) == 1) + runs[:1].sum())
    assert sustained / days <= 0.25, sustained


def _cohort_with(kind: str, n: int = 4, hours: float = 24, rate_hz: float = 1 / 10, rate: float = 4.0):
    sc = Scenario(f"only-{kind}", {kind: rate}, cuff_interval_s=300.0, artefacts=0.0)
    return list(generate_cohort(n, hours=hours, rate_hz=rate_hz, seed=7, scenario=sc))


def _middle(tr, e, lo=0.4, hi=0.6):
    span = e.end_ms - e.start_ms
    return tr.window(e.start_ms + int(lo * span), e.start_ms + int(hi * span))


def _before(tr, e, minutes=20):
    return tr.window(e.start_ms - minutes * MIN, e.start_ms)


CHECKS = {
    "desaturation": lambda tr, e: np.nanmedian(tr.column("spo2")[_middle(tr, e)]) <= 91
    and np.nanmedian(tr.column("spo2")[_before(tr, e)]) >= 94,
    "tachycardia": lambda tr, e: np.nanmedian(tr.column("hr")[_middle(tr, e)]) >= 110
    and np.nanmedian(tr.column("hr")[_before(tr, e)]) < 95,
    "bradycardia": lambda tr, e: np.nanmedian(tr.column("hr")[_middle(tr, e)]) <= 50
    and np.nanmedian(tr.column("hr")[_before(tr, e)]) > 52,
    "fever": lambda tr, e: np.nanmax(tr.column("temp")[tr.window(e.start_ms, e.end_ms)]) >= 38.2
    and np.nanmedian(tr.column("temp")[_before(tr, e)]) < 37.5,
    "hypotension": lambda tr, e: np.nanmedian(tr.column("sbp")[_middle(tr, e, 0.3, 0.7)]) <= 92
    and np.nanmin(tr.column("sbp")[_before(tr, e, 40)]) > 95,
    "deterioration": lambda tr, e: _deterioration_ok(tr, e),
    "arrhythmia": lambda tr, e: np.nanstd(np.diff(tr.column("hr")[_middle(tr, e, 0.3, 0.7)]))
    > 3 * np.nanstd(np.diff(tr.column("hr")[_before(tr, e, 60)])),
    "sensor_off": lambda tr, e: np.all(np.isnan(tr.column("hr")[tr.window(e.start_ms + 10_000, e.end_ms)]))
    and np.nanmin(tr.column("temp")[tr.window(e.start_ms, e.end_ms)]) < 35.0,
}


def _deterioration_ok(tr, e) -> bool:
    span = e.end_ms - e.start_ms
    # The peak sits after the slow rise (4-10 h of 7-16 h): compare 55-75 % of the span with before.
    late = tr.window(e.start_ms + int(0.55 * span), e.start_ms + int(0.75 * span))
    early = tr.window(e.start_ms, e.start_ms + int(0.15 * span))
    before = _before(tr, e, 60)
    col = tr.column
    moved = (
        np.nanmedian(col("hr")[late]) - np.nanmedian(col("hr")[before]) >= 15
        and np.nanmedian(col("rr")[late]) - np.nanmedian(col("rr")[before]) >= 4
        and np.nanmedian(col("temp")[late]) - np.nanmedian(col("temp")[before]) >= 0.6
    )
    # ... but early on every vital still looks normal (threshold rules catch it late).
    quiet = np.nanmedian(col("hr")[early]) < 100 and np.nanmedian(col("spo2")[early]) >= 93
    return moved and quiet


@pytest.mark.parametrize("kind", [k for k in EVENT_KINDS if k != "infection"])
def test_each_event_kind_moves_the_vitals_within_its_window(kind: str) -> None:
    hours = 36 if kind == "deterioration" else 24
    traces = _cohort_with(kind, n=4, hours=hours)
    events = [(tr, e) for tr in traces for e in tr.events]
    assert len(events) >= 3, f"too few {kind} events to judge"
    assert all(e.kind == kind and e.severity in ("low", "medium", "high") for _, e in events)
    ok = [bool(CHECKS[kind](tr, e)) for tr, e in events]
    assert np.mean(ok) >= 0.85, f"{kind}: {ok}"


@pytest.mark.parametrize("kind", ["desaturation", "tachycardia", "bradycardia", "hypotension"])
def test_labels_line_up_with_the_data(kind: str) -> None:
    """Vitals are at baseline before the label starts and back near it when the label ends."""
    metric = {"desaturation": "spo2", "tachycardia": "hr", "bradycardia": "hr", "hypotension": "sbp"}[kind]
    for tr in _cohort_with(kind, n=3):
        x = tr.column(metric)
        for e in tr.events:
            assert tr.ts_ms[0] <= e.start_ms < e.end_ms <= tr.ts_ms[-1] + 1000
            pre = np.nanmedian(x[_before(tr, e, 30)])
            mid = np.nanmedian(x[_middle(tr, e, 0.3, 0.7)])
            after = np.nanmedian(x[tr.window(e.end_ms, e.end_ms + 20 * MIN)])
            # After the end, the vital has recovered at least 80 % of the way back from the plateau.
            assert abs(after - pre) <= 0.2 * abs(mid - pre) + 3, (kind, pre, mid, after)
            # Onset is gradual: the first sample of the window is still close to baseline.
            first = tr.window(e.start_ms, e.start_ms + MIN)
            if np.all(np.isnan(x[first])):
                continue  # no cuff reading in that minute
            assert abs(np.nanmedian(x[first]) - pre) < 0.5 * abs(mid - pre) + 2


def test_infection_raises_resting_hr_before_symptom_onset() -> None:
    rises = []
    for tr in generate_cohort(6, hours=24 * 40, rate_hz=1 / 60, seed=8, scenario="infection"):
        for e in tr.events:
            assert e.kind == "infection"
            hr, act = tr.column("hr"), tr.column("activity")
            rest = act < 0.03
            base = rest & tr.window(e.start_ms - 7 * 86_400_000, e.start_ms)
            last_day = rest & tr.window(e.end_ms - 86_400_000, e.end_ms)
            rises.append(np.nanmedian(hr[last_day]) - np.nanmedian(hr[base]))
            assert 2 * 86_400_000 <= e.end_ms - e.start_ms <= 5 * 86_400_000
    assert len(rises) >= 2
    assert min(rises) >= 3.0 and np.mean(rises) >= 5.0, rises


def test_consumer_scenario_has_gaps_and_no_bp() -> None:
    tr = generate_patient(0, hours=72, rate_hz=1 / 60, seed=9, scenario="consumer")
    assert np.all(np.isnan(tr.column("sbp")))
    gaps = np.diff(tr.ts_ms)
    assert np.all(gaps >= 60_000)
    assert (gaps >= 30 * MIN).sum() >= 2  # charging / night-time non-wear
    assert 0.6 < len(tr) / (72 * 60) < 0.97
