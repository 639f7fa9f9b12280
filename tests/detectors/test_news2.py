"""NEWS2 (RCP 2017, Chart 1 and Chart 4): every band edge, both sides of it."""

from __future__ import annotations

import pytest

from detectors.news2 import (
    news2,
    risk_band,
    score_consciousness,
    score_oxygen,
    score_pulse,
    score_rr,
    score_sbp,
    score_spo2_scale1,
    score_temp,
)


@pytest.mark.parametrize(("rr", "points"), [
    (0, 3), (8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3), (60, 3),
    (8.4, 3), (8.5, 1), (11.4, 1), (11.5, 0), (20.4, 0), (20.5, 2), (24.4, 2), (24.5, 3),  # half-up rounding
])
def test_respiration_rate_bands(rr: float, points: int) -> None:
    assert score_rr(rr) == points


@pytest.mark.parametrize(("spo2", "points"), [
    (70, 3), (91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0),
    (91.4, 3), (91.5, 2), (93.5, 1), (95.4, 1), (95.5, 0),
])
def test_spo2_scale1_bands(spo2: float, points: int) -> None:
    assert score_spo2_scale1(spo2) == points


@pytest.mark.parametrize(("sbp", "points"), [
    (60, 3), (90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3), (260, 3),
    (90.4, 3), (90.5, 2), (219.4, 0), (219.5, 3),
])
def test_systolic_bp_bands(sbp: float, points: int) -> None:
    assert score_sbp(sbp) == points


@pytest.mark.parametrize(("hr", "points"), [
    (30, 3), (40, 3), (41, 1), (50, 1), (51, 0), (90, 0), (91, 1), (110, 1), (111, 2), (130, 2), (131, 3), (200, 3),
    (40.4, 3), (40.5, 1), (90.5, 1), (130.4, 2), (130.5, 3),
])
def test_pulse_bands(hr: float, points: int) -> None:
    assert score_pulse(hr) == points


@pytest.mark.parametrize(("temp", "points"), [
    (33.0, 3), (35.0, 3), (35.1, 1), (36.0, 1), (36.1, 0), (38.0, 0), (38.1, 1), (39.0, 1), (39.1, 2), (41.0, 2),
    (35.04, 3), (35.05, 1), (36.04, 1), (36.05, 0), (38.04, 0), (38.05, 1), (39.04, 1), (39.05, 2),
])
def test_temperature_bands(temp: float, points: int) -> None:
    assert score_temp(temp) == points


def test_oxygen_and_consciousness() -> None:
    assert score_oxygen(True) == 2 and score_oxygen(False) == 0
    assert score_consciousness(True) == 0 and score_consciousness(False) == 3


@pytest.mark.parametrize(("total", "red", "risk"), [
    (0, False, "low"), (4, False, "low"), (3, True, "low-medium"), (4, True, "low-medium"),
    (5, False, "medium"), (6, True, "medium"), (7, False, "high"), (7, True, "high"), (20, True, "high"),
])
def test_risk_bands(total: int, red: bool, risk: str) -> None:
    assert risk_band(total, red) == risk


def test_aggregate_and_missing_parameters() -> None:
    s = news2(rr=22, spo2=93, sbp=105, hr=115, temp=38.5)  # 2 + 2 + 1 + 2 + 1
    assert s.total == 8 and s.risk == "high" and s.missing == ()
    assert s.parameter_scores == {"rr": 2, "spo2": 2, "sbp": 1, "hr": 2, "temp": 1}
    partial = news2(rr=16, spo2=97, hr=72)
    assert partial.total == 0 and set(partial.missing) == {"sbp", "temp"} and partial.risk == "low"
    assert news2(rr=16, spo2=float("nan"), hr=72).missing == ("spo2", "sbp", "temp")


def test_single_red_parameter_is_low_medium() -> None:
    s = news2(rr=16, spo2=91, hr=72, temp=36.8, sbp=120)
    assert s.total == 3 and s.red and s.risk == "low-medium"


def test_oxygen_and_consciousness_count_when_given() -> None:
    s = news2(rr=16, spo2=97, hr=72, temp=36.8, sbp=120, on_oxygen=True, alert=False)
    assert s.total == 5 and s.risk == "medium" and s.red
