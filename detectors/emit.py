"""From detector conditions to alert candidates: when to speak, and in what words.

Detectors report a `Condition` for each kind they own on every step (active or not).
`emit` turns that stream into the few candidates the alert engine needs: one when a
condition starts, one when its severity changes, one when it clears, and otherwise at
most one refresh every `refresh_s` while it lasts (so the engine can update the
evidence) - never one per sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .candidate import AlertCandidate
from .state import DeviceState

LABELS: dict[str, tuple[str, str, str]] = {  # vital -> (name, format, unit)
    "hr": ("HR", "{:.0f}", " bpm"),
    "spo2": ("SpO2", "{:.0f}", " %"),
    "rr": ("RR", "{:.0f}", "/min"),
    "temp": ("temperature", "{:.1f}", " °C"),
    "sbp": ("systolic BP", "{:.0f}", " mmHg"),
    "dbp": ("diastolic BP", "{:.0f}", " mmHg"),
    "activity": ("activity", "{:.2f}", " g"),
    "hr_irregularity": ("HR irregular: median change between readings", "{:.0f}", " bpm"),
}


@dataclass(slots=True)
class Condition:
    kind: str
    detector: str
    active: bool
    severity: str = "medium"
    summary: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    vitals: tuple[str, ...] = ()


def fmt_amount(vital: str, value: float) -> str:
    """'84 %', '30/min', '38.2 °C'."""
    _, pattern, unit = LABELS.get(vital, (vital, "{:g}", ""))
    return f"{pattern.format(value)}{unit}"


def fmt_value(vital: str, value: float) -> str:
    """'SpO2 84 %'."""
    return f"{LABELS.get(vital, (vital,))[0]} {fmt_amount(vital, value)}"


def fmt_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(0, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def need_emit(state: DeviceState, kind: str, active: bool, severity: str | None, ts_ms: int,
              refresh_s: float, vitals: tuple[str, ...] | None = None) -> bool:
    """Cheap pre-check, so a condition's sentence is only written when it will be sent.
    `vitals` (signal.lost only): a change in which vitals are affected is news too."""
    prev = state.emitted.get(kind)  # [active, severity, last_emit_ts, vitals]
    if active:
        if prev is None or not prev[0] or prev[1] != severity or ts_ms - prev[2] >= refresh_s * 1000:
            return True
        return vitals is not None and sorted(vitals) != prev[3]
    return prev is not None and bool(prev[0])


def emit(state: DeviceState, cond: Condition, ts_ms: int, refresh_s: float) -> AlertCandidate | None:
    """The candidate to publish for this condition now, or None (nothing new to say)."""
    watch = cond.vitals if cond.kind == "signal.lost" else None  # which vitals are lost is news
    if not need_emit(state, cond.kind, cond.active, cond.severity, ts_ms, refresh_s, watch):
        return None
    prev = state.emitted.get(cond.kind)
    severity = cond.severity if cond.active or prev is None else prev[1]  # a clear repeats what it clears
    if cond.active:
        state.emitted[cond.kind] = [True, cond.severity, ts_ms, sorted(cond.vitals)]
    else:
        del state.emitted[cond.kind]  # cleared: forget it (keeps the state bounded)
    return AlertCandidate(
        device_id=state.device_id,
        kind=cond.kind,
        severity=severity,  # type: ignore[arg-type]
        ts_ms=ts_ms,
        active=cond.active,
        summary=cond.summary,
        evidence=cond.evidence,
        vitals=cond.vitals,
        detector=cond.detector,
    )


def from_candidate(c: AlertCandidate) -> Condition:
    """A plugin's own candidate, re-read as a condition so it passes the same gate."""
    return Condition(c.kind, c.detector, c.active, c.severity, c.summary, dict(c.evidence), tuple(c.vitals))
