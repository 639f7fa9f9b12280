"""The alert policy's data: its configuration, per-(device, kind) state, and actions.

All of it is plain data, so the live engine can keep the state in PostgreSQL (one JSON
document per device and kind) and rebuild it, and offline evaluation can run the very
same policy over a recorded stream. Times are epoch milliseconds on the candidates'
clock (the device's), never the wall clock, so both agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vitalstream.config.alerts import AlertSettings

SEVERITY_RANK: dict[str, int] = {"low": 0, "medium": 1, "high": 2}
SEVERITY_BY_RANK: tuple[str, ...] = ("low", "medium", "high")

# Detector vocabularies seen in the wild, folded onto INTERFACE §4's three levels.
_SEVERITY_ALIASES: dict[str, str] = {
    "critical": "high",
    "severe": "high",
    "urgent": "high",
    "emergency": "high",
    "warning": "medium",
    "moderate": "medium",
    "info": "low",
    "minor": "low",
    "mild": "low",
}

# Which webhook event each policy action produces (INTERFACE §4); None: history only.
EVENT_TYPES: dict[str, str | None] = {
    "open": "alert.opened",
    "escalate": "alert.escalated",
    "acknowledge": "alert.acknowledged",
    "resolve": "alert.resolved",
    "update": None,
    "suppress": None,
}


@dataclass(frozen=True)
class PolicyConfig:
    """How the policy behaves. Durations in milliseconds; None disables a rule.

    Escalation defaults follow the response tiers of the RCP NEWS2 chart 3 (2017):
    a high score needs an emergency response, a medium one an urgent response, a low one
    ward-based monitoring; the minutes themselves are an operational choice, not a
    guideline figure, and each ward should set its own.
    """

    resolve_after_ms: int = 120_000  # condition clear this long -> auto-resolve
    min_open_ms: int = 60_000  # never auto-resolve an alert younger than this
    reopen_cooldown_ms: int = 300_000  # after a resolve, the same kind waits this long to re-open
    escalate_after_ms: Mapping[str, int | None] = field(
        default_factory=lambda: {"high": 300_000, "medium": 900_000, "low": None}
    )
    max_escalations: int = 3
    escalation_raises_severity: bool = False
    stale_after_ms: int | None = None  # no candidate at all this long -> treat as cleared
    severity_by_kind: Mapping[str, str] = field(default_factory=dict)  # overrides per kind
    signal_kind: str = "signal.lost"


def map_severity(kind: str, raw: str, config: PolicyConfig) -> str:
    """A detector's severity as one of low/medium/high (unknown words count as medium)."""
    if kind in config.severity_by_kind:
        return config.severity_by_kind[kind]
    word = (raw or "").strip().lower()
    word = _SEVERITY_ALIASES.get(word, word)
    return word if word in SEVERITY_RANK else "medium"


def raise_severity(severity: str) -> str:
    return SEVERITY_BY_RANK[min(SEVERITY_RANK[severity] + 1, len(SEVERITY_BY_RANK) - 1)]


@dataclass(slots=True)
class Pending:
    """A condition that became active during a re-open cooldown: opens when it ends."""

    since_ms: int
    severity: str
    summary: str
    evidence: dict[str, Any]
    vitals: tuple[str, ...]


@dataclass(slots=True)
class AlertState:
    """The policy's memory for one (device, kind): the current or most recent alert.

    `active` is whether the condition is present now (last candidate active and not
    stale), independent of the alert's status: a resolved alert in its cooldown can have
    an active condition waiting in `pending`.
    """

    device_id: str
    kind: str
    status: str  # open | acknowledged | resolved
    severity: str
    opened_at_ms: int
    updated_at_ms: int
    last_candidate_ms: int
    summary: str
    evidence: dict[str, Any]
    vitals: tuple[str, ...] = ()  # for signal.lost: the vitals lost; () means all of them
    active: bool = True
    clear_since_ms: int | None = None
    candidate_count: int = 1
    escalation_level: int = 0
    next_escalation_ms: int | None = None
    acknowledged_at_ms: int | None = None
    acknowledged_by: str | None = None
    resolved_at_ms: int | None = None
    resolved_by: str | None = None
    pending: Pending | None = None

    @property
    def is_live(self) -> bool:
        """Open or acknowledged: the one non-resolved alert of its (device, kind)."""
        return self.status != "resolved"

    def copy(self) -> AlertState:
        return replace(self, evidence=dict(self.evidence), pending=replace(self.pending) if self.pending else None)

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["vitals"] = list(self.vitals)
        if self.pending is not None:
            doc["pending"]["vitals"] = list(self.pending.vitals)
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> AlertState:
        doc = dict(doc)
        doc["vitals"] = tuple(doc.get("vitals", ()))
        pending = doc.get("pending")
        if pending is not None:
            doc["pending"] = Pending(**{**pending, "vitals": tuple(pending.get("vitals", ()))})
        return cls(**doc)


@dataclass(frozen=True, slots=True)
class PolicyAction:
    """One decision of the policy; `alert` is a snapshot of the state right after it."""

    action: str  # open | update | escalate | acknowledge | resolve | suppress
    device_id: str
    kind: str
    severity: str
    ts_ms: int
    summary: str
    evidence: dict[str, Any]
    reason: str = ""  # why: "candidate", "cleared", "severity", "timer", "cooldown", "signal.lost", ...
    actor: str | None = None  # who acknowledged/resolved; "auto" for the policy itself
    alert: AlertState | None = None

    @property
    def event_type(self) -> str | None:
        """The webhook event type this action sends, or None."""
        return EVENT_TYPES.get(self.action)


def policy_config(s: AlertSettings) -> PolicyConfig:
    """The policy configuration from `settings.alerts` (vitalstream.config.alerts.AlertSettings)."""

    def ms(seconds: float) -> int:
        return int(round(seconds * 1000))

    def esc(seconds: float) -> int | None:
        return ms(seconds) if seconds > 0 else None

    return PolicyConfig(
        resolve_after_ms=ms(s.resolve_after_s),
        min_open_ms=ms(s.min_open_s),
        reopen_cooldown_ms=ms(s.reopen_cooldown_s),
        escalate_after_ms={
            "high": esc(s.escalate_high_s),
            "medium": esc(s.escalate_medium_s),
            "low": esc(s.escalate_low_s),
        },
        max_escalations=s.max_escalations,
        escalation_raises_severity=s.escalation_raises_severity,
        stale_after_ms=esc(s.stale_after_s),
    )
