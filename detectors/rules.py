"""Threshold rules with persistence and hysteresis, per-patient overridable.

A rule watches one vital. It becomes active once the value has stayed past `on` for
`persist_s` seconds (persistence: a single spike or a short motion artefact does not
alarm), and clears only once the value has stayed back past `off` for `clear_s` seconds
(hysteresis: a value hovering at the threshold does not flap). Severity escalates to
`high` once the value has stayed past `high_at` for `persist_s`; it never de-escalates
while the condition lasts (each change is a new notification, so churn costs attention).

Defaults (cited per rule below) follow the NEWS2 "red" single-parameter bands (RCP 2017,
Chart 1: a parameter scoring 3) and the usual adult bedside-monitor alarm limits. `on` is
compared strictly, so a rule meant to fire AT a NEWS2 edge sets `on` to the first chart value
outside the band (RR ≤ 8 is `on=9`): whole-unit readings then fire exactly where NEWS2 scores
3, and a fractional reading between the two chart values (8.7) fires slightly early, the
safe side. The
persistence delays follow the alarm-fatigue literature: short alarm delays remove most
non-actionable SpO2 alarms (Welch J., Biomed Instrum Technol 2011, Dartmouth patient
surveillance; Drew et al., PLoS ONE 2014).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

Direction = Literal["low", "high"]


@dataclass(frozen=True, slots=True)
class Rule:
    kind: str  # INTERFACE §4 alert kind, e.g. "spo2.low"
    vital: str  # a records.METRICS name
    direction: Direction  # "low": alarm below `on`; "high": alarm above `on`
    on: float  # raise when strictly past this value...
    persist_s: float  # ...for this long
    off: float  # clear only once back past this value (hysteresis)...
    clear_s: float  # ...for this long
    high_at: float | None = None  # severity high past this value (None: never high)
    enabled: bool = True
    # While the wearer is moving (or recovering from it) exertion explains the value:
    # the rule then uses `moving_on` instead of `on` (None: it does not start at all).
    activity_aware: bool = False
    moving_on: float | None = None
    # Also require this many consecutive readings past `on`: "held for 60 s" seen by a
    # once-a-minute wearable is two readings, which noise produces; three is evidence. For a
    # 15-minute cuff it means three cuff cycles. At 1 Hz persistence dominates anyway.
    min_n: int = 3

    def past_on(self, v: float, moving: bool = False) -> bool:
        on = self.on
        if moving and self.activity_aware:
            if self.moving_on is None:
                return False
            on = self.moving_on
        return v < on if self.direction == "low" else v > on

    def past_high(self, v: float) -> bool:
        if self.high_at is None:
            return False
        return v < self.high_at if self.direction == "low" else v > self.high_at

    def back_past_off(self, v: float) -> bool:
        return v >= self.off if self.direction == "low" else v <= self.off

    def worse(self, a: float, b: float) -> float:
        return min(a, b) if self.direction == "low" else max(a, b)


DEFAULT_RULES: tuple[Rule, ...] = (
    # SpO2 < 90 %: the common adult monitor default low limit; NEWS2 scores ≤91 % as 3.
    Rule("spo2.low", "spo2", "low", on=90, persist_s=60, off=92, clear_s=60, high_at=85),
    # Pulse: NEWS2 scores ≤40 as 3 and 41-50 as 1. Sleeping adults reach the high 40s, so the
    # alarm is for a sustained rate of 45 or less (high severity at NEWS2's red ≤40).
    # At rest 120 (NEWS2 scores 111-130 as 2); while moving or just after, exertion explains
    # up to 150, so only that counts (Tanaka et al., JACC 2001: 220-age is the maximum).
    Rule("hr.high", "hr", "high", on=120, persist_s=60, off=110, clear_s=60, high_at=150,
         activity_aware=True, moving_on=150),
    # high_at=41 (strict): severity high at ≤ 40, NEWS2's red pulse band (RCP 2017, Chart 1).
    Rule("hr.low", "hr", "low", on=46, persist_s=60, off=50, clear_s=60, high_at=41),
    # Irregular rhythm (AF-like): median change between consecutive HR readings at rest;
    # sinus rhythm with breathing-linked variability stays below ~5 bpm (see rhythm.py).
    Rule("hr.irregular", "hr_irregularity", "high", on=9, persist_s=120, off=6, clear_s=120,
         activity_aware=True),
    # Respiration: NEWS2 scores ≥25 and ≤8 as 3 (RCP 2017, Chart 1): strictly above 24 /
    # strictly below 9.
    Rule("rr.high", "rr", "high", on=24, persist_s=120, off=22, clear_s=60, high_at=30),
    Rule("rr.low", "rr", "low", on=9, persist_s=60, off=10, clear_s=60, high_at=5),
    # Temperature: fever ≥ 38.1 scores in NEWS2 (1 point; ≥39.1 scores 2); hypothermia ≤35.0 scores 3
    # (RCP 2017, Chart 1): strictly above 38.0 / strictly below 35.1.
    # Temperature moves slowly, so a longer persistence costs little delay and removes probe artefacts.
    Rule("temp.high", "temp", "high", on=38.0, persist_s=300, off=37.7, clear_s=300, high_at=39.5),
    Rule("temp.low", "temp", "low", on=35.1, persist_s=300, off=35.5, clear_s=300, high_at=34.0),
    # Systolic BP: NEWS2 scores ≤90 and ≥220 as 3 (RCP 2017, Chart 1): strictly below 91 /
    # strictly above 219.
    # Three consecutive readings: with a 15-minute ward cuff two low readings in a row still
    # happen in healthy sleepers (cuff error is up to 8 mmHg SD under ISO 81060-2).
    Rule("sbp.low", "sbp", "low", on=91, persist_s=120, off=95, clear_s=120, high_at=80),
    Rule("sbp.high", "sbp", "high", on=219, persist_s=120, off=200, clear_s=120, high_at=240),
)

_FIELDS = {f.name for f in fields(Rule)} - {"kind", "vital", "direction"}


class RuleOverrideError(ValueError):
    """A per-patient override names an unknown rule or field, or a bad value."""


def apply_overrides(rules: tuple[Rule, ...], overrides: Mapping[str, Mapping[str, Any]] | None) -> tuple[Rule, ...]:
    """Rules with per-patient overrides applied, e.g. {"spo2.low": {"on": 88, "off": 90}}
    for a COPD patient, or {"hr.high": {"enabled": False}}."""
    if not overrides:
        return rules
    by_kind = {r.kind: r for r in rules}
    for kind, changes in overrides.items():
        if kind not in by_kind:
            raise RuleOverrideError(f"unknown rule {kind!r}; known: {', '.join(by_kind)}")
        bad = set(changes) - _FIELDS
        if bad:
            raise RuleOverrideError(f"rule {kind!r}: unknown field(s) {', '.join(sorted(bad))}")
        try:
            clean = {k: (bool(v) if k in ("enabled", "activity_aware") else int(v) if k == "min_n"
                     else (None if v is None else float(v)))
                     for k, v in changes.items()}
        except (TypeError, ValueError) as exc:
            raise RuleOverrideError(f"rule {kind!r}: {exc}") from None
        by_kind[kind] = replace(by_kind[kind], **clean)
    return tuple(by_kind[r.kind] for r in rules)


@dataclass(slots=True)
class RuleState:
    """Mutable per-(device, rule) state; plain data so the pipeline can persist it."""

    pending_since: int | None = None  # first ts of the current run past `on`
    pending_n: int = 0  # readings in the current run past `on`
    high_since: int | None = None  # first ts of the current run past `high_at`
    clear_since: int | None = None  # first ts of the current run back past `off`
    active: bool = False
    severity: str | None = None  # "medium" | "high" while active
    since: int | None = None  # when the condition started (first ts past `on`)
    worst: float | None = None  # worst value since the condition started
    last_value: float | None = None
    last_ts: int | None = None  # last time this vital had a usable value

    def to_list(self) -> list[Any]:
        return [self.pending_since, self.pending_n, self.high_since, self.clear_since, self.active, self.severity,
                self.since, self.worst, self.last_value, self.last_ts]

    @classmethod
    def from_list(cls, raw: list[Any]) -> RuleState:
        return cls(*raw)


def rule_step(rule: Rule, st: RuleState, ts_ms: int, value: float | None, max_gap_s: float,
              moving: bool = False) -> None:
    """Advance one rule by one sample. `value` None means unusable (missing or poor signal):
    timers do not advance across it, and a gap longer than `max_gap_s` restarts them, so
    persistence always means 'observed to hold', never 'assumed to hold'."""
    if value is None:
        if st.last_ts is not None and ts_ms - st.last_ts > max_gap_s * 1000:
            st.pending_since = st.high_since = st.clear_since = None
            st.pending_n = 0
        return
    if st.last_ts is not None and ts_ms - st.last_ts > max_gap_s * 1000:
        st.pending_since = st.high_since = st.clear_since = None
        st.pending_n = 0
    st.last_ts, st.last_value = ts_ms, value
    if rule.past_on(value, moving):
        if st.pending_since is None:
            st.pending_since = ts_ms
        st.pending_n += 1
    else:
        st.pending_since, st.pending_n = None, 0
    if rule.past_high(value):
        st.high_since = ts_ms if st.high_since is None else st.high_since
    else:
        st.high_since = None
    if (not st.active and st.pending_since is not None and st.pending_n >= rule.min_n
            and ts_ms - st.pending_since >= rule.persist_s * 1000):
        st.active, st.since, st.severity, st.clear_since = True, st.pending_since, "medium", None
    if st.active or st.pending_since is not None:
        st.worst = value if st.worst is None else rule.worse(st.worst, value)
    else:
        st.worst = None
    if not st.active:
        return
    if st.high_since is not None and ts_ms - st.high_since >= rule.persist_s * 1000:
        st.severity = "high"
    if rule.back_past_off(value):
        st.clear_since = ts_ms if st.clear_since is None else st.clear_since
        if ts_ms - st.clear_since >= rule.clear_s * 1000:
            st.active, st.severity, st.since, st.worst = False, None, None, None
            st.pending_since = st.high_since = st.clear_since = None
            st.pending_n = 0
    else:
        st.clear_since = None
