"""NEWS2: the National Early Warning Score 2, from the vitals a wearable reports.

Source: Royal College of Physicians. National Early Warning Score (NEWS) 2:
Standardising the assessment of acute-illness severity in the NHS. Updated report of a
working party. London: RCP, 2017. Chart 1 (the NEWS2 scoring system) and Chart 4
(clinical response thresholds). Every band below is transcribed from Chart 1.

The chart is written for whole numbers (temperature to 0.1 °C), so a measured value is
first rounded half-up to that resolution; a value between two bands (e.g. RR 11.6) is
scored like the number a nurse would chart (12). SpO2 uses scale 1 only (scale 2 is for
confirmed hypercapnic respiratory failure and needs a clinician's decision). A parameter
that was not measured contributes nothing and is listed in `missing`, so the score of a
wearable without BP is a partial NEWS2, never a guessed one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

Risk = Literal["low", "low-medium", "medium", "high"]


def _half_up(value: float, step: float = 1.0) -> float:
    # Round half-up (not banker's rounding): 91.5 charts as 92, 38.05 as 38.1.
    return math.floor(value / step + 0.5 + 1e-9) * step


def score_rr(rr: float) -> int:
    """Respiration rate (per min): ≤8 → 3, 9–11 → 1, 12–20 → 0, 21–24 → 2, ≥25 → 3."""
    v = _half_up(rr)
    if v <= 8:
        return 3
    if v <= 11:
        return 1
    if v <= 20:
        return 0
    if v <= 24:
        return 2
    return 3


def score_spo2_scale1(spo2: float) -> int:
    """SpO2 scale 1 (%): ≤91 → 3, 92–93 → 2, 94–95 → 1, ≥96 → 0."""
    v = _half_up(spo2)
    if v <= 91:
        return 3
    if v <= 93:
        return 2
    if v <= 95:
        return 1
    return 0


def score_sbp(sbp: float) -> int:
    """Systolic BP (mmHg): ≤90 → 3, 91–100 → 2, 101–110 → 1, 111–219 → 0, ≥220 → 3."""
    v = _half_up(sbp)
    if v <= 90:
        return 3
    if v <= 100:
        return 2
    if v <= 110:
        return 1
    if v <= 219:
        return 0
    return 3


def score_pulse(hr: float) -> int:
    """Pulse (per min): ≤40 → 3, 41–50 → 1, 51–90 → 0, 91–110 → 1, 111–130 → 2, ≥131 → 3."""
    v = _half_up(hr)
    if v <= 40:
        return 3
    if v <= 50:
        return 1
    if v <= 90:
        return 0
    if v <= 110:
        return 1
    if v <= 130:
        return 2
    return 3


def score_temp(temp: float) -> int:
    """Temperature (°C): ≤35.0 → 3, 35.1–36.0 → 1, 36.1–38.0 → 0, 38.1–39.0 → 1, ≥39.1 → 2."""
    tenths = round(_half_up(temp, 0.1) * 10)  # integer tenths: exact comparisons
    if tenths <= 350:
        return 3
    if tenths <= 360:
        return 1
    if tenths <= 380:
        return 0
    if tenths <= 390:
        return 1
    return 2


def score_oxygen(on_oxygen: bool) -> int:
    """Air or oxygen: supplemental oxygen → 2, air → 0."""
    return 2 if on_oxygen else 0


def score_consciousness(alert: bool) -> int:
    """ACVPU: Alert → 0; new Confusion, Voice, Pain or Unresponsive → 3."""
    return 0 if alert else 3


_SCORERS = {"rr": score_rr, "spo2": score_spo2_scale1, "sbp": score_sbp, "hr": score_pulse, "temp": score_temp}
PARAMETERS: tuple[str, ...] = ("rr", "spo2", "sbp", "hr", "temp")


@dataclass(frozen=True, slots=True)
class News2:
    total: int
    parameter_scores: dict[str, int] = field(default_factory=dict)
    missing: tuple[str, ...] = ()

    @property
    def red(self) -> bool:
        """A single parameter scoring 3 (the 'red score')."""
        return any(s == 3 for s in self.parameter_scores.values())

    @property
    def risk(self) -> Risk:
        return risk_band(self.total, self.red)


def risk_band(total: int, red: bool) -> Risk:
    """RCP 2017 Chart 4: 0–4 low (red score → low-medium, urgent ward-based response),
    5–6 medium (key threshold for urgent response), ≥7 high (emergency response)."""
    if total >= 7:
        return "high"
    if total >= 5:
        return "medium"
    if red:
        return "low-medium"
    return "low"


def news2(
    *,
    rr: float | None = None,
    spo2: float | None = None,
    sbp: float | None = None,
    hr: float | None = None,
    temp: float | None = None,
    on_oxygen: bool | None = None,
    alert: bool | None = None,
) -> News2:
    """Aggregate NEWS2 from the parameters given; None means 'not measured'."""
    values = {"rr": rr, "spo2": spo2, "sbp": sbp, "hr": hr, "temp": temp}
    scores: dict[str, int] = {}
    missing: list[str] = []
    for name, value in values.items():
        if value is None or value != value:  # None or NaN
            missing.append(name)
        else:
            scores[name] = _SCORERS[name](float(value))
    if on_oxygen is not None:
        scores["oxygen"] = score_oxygen(on_oxygen)
    if alert is not None:
        scores["consciousness"] = score_consciousness(alert)
    return News2(sum(scores.values()), scores, tuple(missing))
