"""The evaluation harness: scoring rules and an end-to-end run on the bundled generator."""

from __future__ import annotations

import numpy as np

from detectors.early_warning.evaluate_ew import Trace, evaluate, score, synth_traces

DAY = 86_400_000


def _trace(events, days=30):
    ts = np.array([0, days * DAY], dtype=np.int64)
    return Trace("d", ts, np.array([60.0, 60.0]), np.array([0.0, 0.0]), events)


def test_score_counts_hits_late_and_false():
    ev = {"kind": "infection", "start": 10 * DAY, "end": 13 * DAY}
    res = score(
        [
            (_trace([ev]), [5 * DAY, 11 * DAY, 14 * DAY]),  # false, hit (lead 2 d), late
            (_trace([]), [20 * DAY]),  # false
            (_trace([dict(ev)]), []),  # missed
        ]
    )
    assert res["infections"] == 2 and res["flagged_before_onset"] == 1
    assert res["flagged_before_onset_rate"] == 0.5 and res["median_lead_days"] == 2.0
    assert res["late_alerts"] == 1 and res["false_alerts"] == 2
    assert res["false_per_person_month"] == round(2 / 3, 3)  # 90 person-days


def test_evaluate_runs_on_generated_cohort():
    res = evaluate(synth_traces(3, 40, seed=5), progress=False)
    assert res["people"] == 3 and res["person_days"] > 100
    assert res["max_state_bytes"] < 6 * 1024
    assert set(res["targets"]) == {"flagged_before_onset_rate>=0.70", "median_lead_days>=2", "false_per_person_month<=1"}
