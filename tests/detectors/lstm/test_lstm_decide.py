"""Decision: smoothing, persistence, clear with hysteresis, Hundman threshold and pruning."""

from __future__ import annotations

import numpy as np

from detectors.lstm import lstm_decide, lstm_state_new
from detectors.lstm.calibrate import ScoreSeries, alert_opens
from detectors.lstm.decide import (CLEAR_AFTER, GATE_STEPS, KIND, MOVING_ACTIVITY, OPEN_AFTER, departed_now,
                                   departure_z, severity_for)
from detectors.lstm.thresholds import ewma, hundman_epsilon, is_pruned

MIN = 60_000
CONTRIB = np.array([0.5, 0.1, 0.3, 0.05, 0.05, 0.0, 0.0])


def _departed_state(hr_z=3.0):
    """A state whose last minutes show HR clearly above this patient's baseline (the
    departure gate passes), so these tests exercise the score path."""
    st = lstm_state_new()
    st.ring[:, :6] = 0.0
    st.ring[-GATE_STEPS:, 0] = hr_z
    return st


def _ring(**z):
    """A 60-step ring at baseline (z = 0, at rest) with the last GATE_STEPS steps set per vital."""
    ring = np.zeros((60, 7))
    cols = {"hr": 0, "spo2": 1, "rr": 2, "temp": 3, "sbp": 4, "dbp": 5, "activity": 6}
    for name, value in z.items():
        ring[-GATE_STEPS:, cols[name]] = value
    return ring


def _run(scores, threshold=1.0, state=None, gate=True):
    st = state or _departed_state()
    out = []
    for i, s in enumerate(scores):
        c = lstm_decide(st, "dev-1", i * MIN, s, CONTRIB, threshold, gate=gate)
        if c is not None:
            out.append((i, c))
    return st, out


def test_one_noisy_window_does_not_alarm():
    scores = [0.2] * 100 + [50.0] + [0.2] * 100
    _, out = _run(scores)
    assert out == []


def test_sustained_excess_opens_after_persistence_then_clears():
    scores = [0.2] * 120 + [3.0] * 60 + [0.1] * 120
    st, out = _run(scores)
    opens = [(i, c) for i, c in out if c.active]
    clears = [(i, c) for i, c in out if not c.active]
    assert len(clears) == 1 and len(opens) >= 1
    i_open, c = opens[0]
    assert 120 + OPEN_AFTER - 1 <= i_open < 140
    assert c.kind == KIND and c.detector == "lstm" and c.device_id == "dev-1"
    assert c.vitals[0] == "hr" and "rr" in c.vitals  # the largest shares are named
    assert "heart rate" in c.summary
    ev = c.evidence
    assert ev["threshold"] >= 1.0 and ev["smoothed_score"] > ev["threshold"]
    assert set(ev["contributions"]) == {"hr", "spo2", "rr", "temp", "sbp", "dbp"}
    i_clear, cl = clears[0]
    assert i_clear >= 180 + CLEAR_AFTER - 1 and cl.active is False and cl.kind == KIND
    assert st.decision.active is False


def test_severity_escalation_reemits_active():
    scores = [0.2] * 120 + [1.3] * 40 + [8.0] * 60
    _, out = _run(scores)
    sevs = [c.severity for _, c in out if c.active]
    assert sevs[0] in ("low", "medium") and sevs[-1] == "high"
    assert severity_for(1.0) == "low" and severity_for(2.0) == "medium" and severity_for(5.0) == "high"


def test_no_clear_while_hovering_between_clear_level_and_threshold():
    scores = [0.2] * 120 + [3.0] * 40 + [0.9] * 200  # 0.9 > 0.8 x threshold: hysteresis holds it open
    st, out = _run(scores)
    assert all(c.active for _, c in out) and st.decision.active


def test_device_with_noisy_history_gets_a_higher_threshold():
    # this device's normal errors swing slowly up to ~0.97 of the calibrated 1.0
    noisy = list(0.75 + 0.23 * np.sin(2 * np.pi * np.arange(240) / 240))
    st, _ = _run(noisy)
    _, out_noisy = _run([1.1] * 60, state=st)
    _, out_quiet = _run([0.2] * 240 + [1.1] * 60)
    assert out_quiet and not out_noisy  # pruning / dynamic threshold protect the noisy device


def test_ewma_and_hundman_epsilon():
    assert ewma(None, 3.0, 0.1) == 3.0 and abs(ewma(1.0, 3.0, 0.5) - 2.0) < 1e-12
    rng = np.random.default_rng(1)
    e = rng.normal(1.0, 0.1, 500).clip(0.01)
    e[300:310] = 5.0  # one clear anomalous sequence
    eps = hundman_epsilon(e)
    assert 1.2 < eps < 5.0
    assert hundman_epsilon(np.ones(100)) == 1.0  # no spread: nothing to separate
    flat = rng.normal(1.0, 0.1, 500).clip(0.01)
    assert hundman_epsilon(flat) <= flat.max()  # some z separates the top few points
    assert hundman_epsilon(np.linspace(0.5, 1.0, 50)) == 1.0  # nothing separable: the record's top


def test_pruning():
    assert is_pruned(1.05, 1.0) and not is_pruned(2.0, 1.0) and is_pruned(0.0, 0.0)


def test_departure_gate_one_strong_or_two_moderate_vitals():
    assert not departed_now(_ring())
    assert departed_now(_ring(hr=2.8)) and departed_now(_ring(spo2=-2.8))
    assert not departed_now(_ring(hr=2.6))  # one vital, moderately: not enough alone
    assert departed_now(_ring(sbp=-2.1, rr=2.1))  # two vitals moderately: a multi-vital drift
    assert not departed_now(_ring(sbp=-2.1, rr=1.9))
    ring = _ring(hr=3.0)
    ring[-GATE_STEPS:-1, 0] = np.nan  # only one minute observed: its mean still counts
    assert departed_now(ring)
    ring[-GATE_STEPS:, 0] = np.nan  # nothing observed now: not departed
    ring[:-GATE_STEPS, 0] = 5.0  # the hour before does not count
    assert not departed_now(ring)


def test_departure_gate_counts_the_directions_of_deterioration():
    assert departed_now(_ring(temp=2.8)) and not departed_now(_ring(temp=-2.9))  # fever yes, a cool skin no
    assert not departed_now(_ring(hr=-2.8)) and not departed_now(_ring(rr=-2.2, sbp=2.2))
    assert departed_now(_ring(hr=-3.6)) and departed_now(_ring(temp=-3.6))  # very far either way still counts
    # the night: HR, BP, RR and skin temperature falling together, ahead of the 8-hour baseline
    assert not departed_now(_ring(hr=-2.0, rr=-1.3, temp=-2.1, sbp=-2.5, dbp=-2.2))
    assert not departed_now(_ring(hr=-0.5, sbp=-2.9))  # BP dipping with a slowing heart
    assert departed_now(_ring(hr=0.5, sbp=-2.9)) and departed_now(_ring(sbp=-2.1, dbp=-2.1))  # falling BP, no dip
    assert departed_now(_ring(hr=1.0, sbp=-2.1, dbp=-2.1))  # the shock pattern


def test_departure_gate_exertion_explains_hr_and_rr_rising():
    moving = 2 * MOVING_ACTIVITY
    assert not departed_now(_ring(hr=5.0, activity=moving))
    assert not departed_now(_ring(hr=2.5, rr=2.5, activity=moving))
    assert departed_now(_ring(hr=5.0, activity=0.5 * MOVING_ACTIVITY))  # at rest it counts
    assert departed_now(_ring(hr=-3.6, activity=moving))  # a falling HR is not explained by exertion
    assert departed_now(_ring(spo2=-3.0, activity=moving))
    assert list(departure_z(_ring(hr=5.0, temp=-1.0, activity=moving))) == [0.0, 0.0, 0.0, 1.0, 0.0, 0.0]


def test_gate_keeps_quiet_when_the_error_is_only_the_hours_memory():
    # the window's error stays high (e.g. a desaturation 30 min ago) but the vitals are back
    scores = [0.2] * 120 + [3.0] * 60
    quiet = _departed_state(hr_z=0.0)
    _, out = _run(scores, state=quiet)
    assert out == []
    _, ungated = _run(scores, state=_departed_state(hr_z=0.0), gate=False)
    assert [c.active for _, c in ungated][:1] == [True]
    # once a vital departs, the alert that was held back opens at the next scoring
    quiet.ring[-GATE_STEPS:, 0] = 3.0
    _, later = _run([3.0] * 3, state=quiet)
    assert later and later[0][0] == 0 and later[0][1].active
    assert later[0][1].evidence["departure_z"]["hr"] == 3.0


def test_calibration_replays_without_the_gate():
    # calibration's fresh states have no ring: the gate would hide every alert from it
    t = np.arange(300) * MIN
    scores = np.array([0.2] * 120 + [3.0] * 60 + [0.1] * 120, dtype=np.float32)
    series = ScoreSeries("dev-1", t, scores, np.tile(CONTRIB, (300, 1)), int(t[-1]))
    opens = alert_opens(series, 1.0)
    assert len(opens) == 1 and 120 * MIN <= opens[0] < 140 * MIN
