"""Candidates become alerts through the alert engine's own policy."""

from __future__ import annotations

from detectors.candidate import AlertCandidate
from evaluation.evaluate import alerts_from_candidates, evaluate_candidates, format_table
from evaluation.matching import Truth

MIN = 60_000


def cand(kind: str, at_min: float, active: bool = True, detector: str = "rules", vitals=("spo2",),
         severity: str = "medium", dev: str = "a") -> AlertCandidate:
    return AlertCandidate(dev, kind, severity, int(at_min * MIN), active, f"{kind} at {at_min}", {}, vitals, detector)


def test_refreshes_do_not_open_new_alerts_and_a_recurrence_does() -> None:
    cs = [cand("spo2.low", 1), cand("spo2.low", 2), cand("spo2.low", 3), cand("spo2.low", 4, active=False),
          cand("spo2.low", 60), cand("spo2.low", 61, active=False)]
    alerts = alerts_from_candidates(cs)
    assert [(a.kind, a.opened_ms // MIN) for a in alerts] == [("spo2.low", 1), ("spo2.low", 60)]


def test_each_kind_gets_its_own_alert() -> None:
    cs = [cand("spo2.low", 1), cand("news2.high", 2, detector="news2", vitals=("spo2", "rr"))]
    assert [a.kind for a in alerts_from_candidates(cs)] == ["spo2.low", "news2.high"]
    assert [a.kind for a in alerts_from_candidates(cs, "news2")] == ["news2.high"]


def test_signal_loss_suppresses_clinical_alerts_in_every_view() -> None:
    cs = [cand("signal.lost", 1, detector="signal", vitals=("spo2",), severity="low"),
          cand("spo2.low", 2), cand("hr.high", 3, vitals=("hr",))]
    combined = alerts_from_candidates(cs)
    assert [a.kind for a in combined] == ["signal.lost", "hr.high"]
    rules_only = alerts_from_candidates(cs, "rules")
    assert [a.kind for a in rules_only] == ["hr.high"]  # fed signal.lost, did not count it
    assert [a.detector for a in rules_only] == ["rules"]


def test_evaluate_candidates_reports_each_detector_and_combined() -> None:
    cs = [cand("spo2.low", 12), cand("news2", 14, detector="news2"), cand("hr.high", 500, vitals=("hr",))]
    events = [Truth("a", "desaturation", 10 * MIN, 20 * MIN)]
    ev = evaluate_candidates(cs, events, patient_days=1.0, detectors=["rules", "news2"], devices=1)
    assert list(ev.detectors) == ["rules", "news2", "combined"]
    assert ev.detectors["combined"]["recall"] == 1.0
    assert ev.detectors["combined"]["false_alerts_per_patient_day"] == 1.0
    assert ev.detectors["news2"]["precision"] == 1.0 and ev.detectors["rules"]["precision"] == 0.5
    doc = ev.to_json()
    assert set(doc["detectors"]["combined"]) >= {"recall", "precision", "f1", "delay_median_s", "delay_p90_s",
                                                 "false_alerts_per_patient_day"}
    assert "| combined |" in format_table(ev)
