"""Matching alerts to events (INTERFACE §6) on hand-made cases."""

from __future__ import annotations

import pytest

from evaluation.matching import GRACE_MS, Alert, Truth, match, metrics, truths_from_events

MIN = 60_000


def ev(start_min: float, end_min: float, dev: str = "a", kind: str = "desaturation") -> Truth:
    return Truth(dev, kind, int(start_min * MIN), int(end_min * MIN))


def al(at_min: float, dev: str = "a", kind: str = "spo2.low") -> Alert:
    return Alert(dev, kind, int(at_min * MIN))


def test_window_is_start_to_end_plus_five_minutes_inclusive() -> None:
    events = [ev(10, 20)]
    alerts = [al(9.99), al(10), al(25), al(25.01)]
    m = match(alerts, events)
    assert m.alert_tp == [False, True, True, False]
    assert m.event_delay_s == [0.0]
    assert GRACE_MS == 5 * MIN


def test_other_device_never_matches() -> None:
    m = match([al(12, dev="b")], [ev(10, 20, dev="a")])
    assert m.alert_tp == [False] and m.event_delay_s == [None]


def test_any_alert_kind_counts_and_delay_is_first_alert() -> None:
    m = match([al(17, kind="news2"), al(13, kind="signal.lost")], [ev(10, 20)])
    assert m.alert_tp == [True, True]
    assert m.event_delay_s == [180.0]


def test_one_alert_can_match_overlapping_events() -> None:
    m = match([al(15)], [ev(10, 20), ev(12, 30, kind="tachycardia")])
    assert m.alert_tp == [True]
    assert m.event_delay_s == [300.0, 180.0]


def test_metrics_figures() -> None:
    events = [ev(10, 20), ev(100, 110), ev(200, 210, kind="fever"), ev(300, 310, kind="fever")]
    alerts = [al(11), al(12), al(104), al(150), al(215), al(500)]
    m = metrics(alerts, events, patient_days=2.0)
    assert m["recall"] == pytest.approx(3 / 4)
    assert m["precision"] == pytest.approx(4 / 6)
    p, r = 4 / 6, 3 / 4
    assert m["f1"] == pytest.approx(2 * p * r / (p + r))
    # delays: 60 s, 240 s, 900 s → median 240, p90 by linear interpolation: 240 + 0.8*(900-240)
    assert m["delay_median_s"] == pytest.approx(240.0)
    assert m["delay_p90_s"] == pytest.approx(240 + 0.8 * 660)
    assert m["false_alerts_per_patient_day"] == pytest.approx(1.0)
    assert m["false_alerts"] == 2 and m["true_alerts"] == 4
    fever = m["by_kind"]["fever"]
    assert fever["events"] == 2 and fever["detected"] == 1 and fever["recall"] == 0.5
    # per kind precision: alerts matched to fever (1) against them plus all false alerts (2)
    assert fever["precision"] == pytest.approx(1 / 3)


def test_no_alerts_no_events() -> None:
    m = metrics([], [], patient_days=1.0)
    assert m["recall"] is None and m["precision"] is None and m["f1"] is None
    assert m["false_alerts_per_patient_day"] == 0.0
    m = metrics([al(5)], [], patient_days=0.5)
    assert m["precision"] == 0.0 and m["false_alerts_per_patient_day"] == 2.0


def test_truths_from_interface_dicts() -> None:
    t = truths_from_events([{"device_id": "x", "kind": "fever", "start": 1, "end": 2, "severity": "high"}])
    assert t == [Truth("x", "fever", 1, 2, "high")]
