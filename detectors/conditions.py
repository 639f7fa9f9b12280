"""Conditions (with their nurse-readable sentences) for threshold rules and signal loss."""

from __future__ import annotations

from typing import Any

from .emit import LABELS, Condition, emit, fmt_amount, fmt_duration, fmt_value
from .candidate import AlertCandidate
from .state import DeviceState
from .rules import Rule, RuleState

_REASONS = {
    "missing": "no {name} signal",
    "invalid": "no valid {name} signal",
    "flatline": "{name} flatlined (stuck sensor)",
    "artefact": "{name} unreliable (motion artefact)",
}


def rule_condition(rule: Rule, rs: RuleState, ts_ms: int, news2: list[Any] | None) -> Condition:
    """E.g. "SpO2 88 % for 3 min (lowest 86 %), NEWS2 7 (high)"."""
    if not rs.active:
        back = f"{fmt_value(rule.vital, rs.last_value)}, back in range" if rs.last_value is not None else ""
        return Condition(rule.kind, "rules", False, summary=back, vitals=(_about(rule.vital),))
    assert rs.since is not None and rs.last_value is not None and rs.worst is not None
    lasted = fmt_duration((ts_ms - rs.since) / 1000)
    word = "lowest" if rule.direction == "low" else "highest"
    worst_txt = fmt_amount(rule.vital, rs.worst)
    if rs.clear_since is not None:  # back in range, waiting out the clear delay
        summary = f"{fmt_value(rule.vital, rs.last_value)}, recovering ({word} {worst_txt} over {lasted})"
    else:
        summary = f"{fmt_value(rule.vital, rs.last_value)} for {lasted}"
        if abs(rs.worst - rs.last_value) >= _step(rule.vital):
            summary += f" ({word} {worst_txt})"
    if news2 is not None:
        summary += f", NEWS2 {news2[0]} ({news2[1]})"
    evidence: dict[str, Any] = {
        "vital": rule.vital, "value": rs.last_value, "worst": rs.worst, "since_ms": rs.since,
        "threshold": rule.on, "clears_at": rule.off, "persist_s": rule.persist_s,
    }
    if news2 is not None:
        evidence["news2"], evidence["news2_risk"] = news2[0], news2[1]
    return Condition(rule.kind, "rules", True, rs.severity or "medium", summary, evidence, (_about(rule.vital),))


def _about(vital: str) -> str:
    """The measured vital a (possibly derived) rule input is about, for suppression."""
    return vital.split("_", 1)[0]


def _step(vital: str) -> float:
    return 0.1 if vital == "temp" else 1.0


def signal_condition(lost: dict[str, dict[str, Any]], ts_ms: int) -> Condition:
    """One `signal.lost` condition per device, naming every vital currently lost."""
    if not lost:
        return Condition("signal.lost", "signal", False, summary="Signal restored")
    parts = []
    for vital, info in lost.items():
        name = LABELS.get(vital, (vital,))[0]
        text = _REASONS.get(info.get("reason") or "missing", "no {name} signal").format(name=name)
        since = info.get("since")
        if since is not None:
            text += f" for {fmt_duration((ts_ms - since) / 1000)}"
        parts.append(text)
    summary = "; ".join(parts)
    summary = summary[0].upper() + summary[1:] + " - check the sensor"
    return Condition("signal.lost", "signal", True, "low", summary, {"vitals": lost}, tuple(lost))


def emit_signal(state: DeviceState, cond: Condition, ts_ms: int, refresh_s: float) -> list[AlertCandidate]:
    """signal.lost with partial clears: when some vitals come back while others stay lost,
    a clear naming the recovered ones comes first, so the alert engine stops suppressing
    alarms about them (alerts.policy treats a clear with vitals as partial)."""
    out: list[AlertCandidate] = []
    prev = state.emitted.get(cond.kind)
    if cond.active and prev is not None and prev[0]:
        back = tuple(v for v in prev[3] if v not in cond.vitals)
        if back:
            out.append(AlertCandidate(state.device_id, cond.kind, prev[1], ts_ms, False,
                                      "Signal back for " + ", ".join(LABELS.get(v, (v,))[0] for v in back),
                                      {}, back, cond.detector))
    c = emit(state, cond, ts_ms, refresh_s)
    if c is not None:
        out.append(c)
    return out
