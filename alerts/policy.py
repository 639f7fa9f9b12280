"""The alert policy: alert candidates in, alert lifecycle decisions out. No I/O.

Rules (one device at a time; its state is a dict kind -> AlertState):
- one live alert per (device, kind): a repeat updates its evidence and summary; a higher
  severity raises it (sent as an escalation); a lower one never lowers it (no flapping);
- auto-resolve once the condition has been clear for `resolve_after_ms` and the alert has
  been open at least `min_open_ms`;
- after a resolve, the same kind re-opens only once `reopen_cooldown_ms` has passed
  (a condition active meanwhile waits in `pending`) or at once if it comes back worse;
- an open (unacknowledged) alert escalates every `escalate_after_ms[severity]`, at most
  `max_escalations` times, while its condition is active; acknowledging stops it;
- while `signal.lost` is active for some vitals, candidates about those vitals are held
  back (neither opened nor updated nor cleared): one `signal.lost` alert stands instead.

`device_feed`, `device_due`, `device_acknowledge` and `device_resolve` are the pure
functions the live engine calls on state it loaded from the database; `AlertPolicy`
holds every device's state in memory for offline evaluation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from detectors.candidate import AlertCandidate

from .model import SEVERITY_RANK, AlertState, Pending, PolicyAction, PolicyConfig, map_severity, raise_severity

DeviceState = dict[str, AlertState]


class InvalidTransition(ValueError):
    """An acknowledge/resolve that the alert's status does not allow (API: 409)."""


def _act(action: str, st: AlertState, ts_ms: int, reason: str, actor: str | None = None) -> PolicyAction:
    return PolicyAction(action, st.device_id, st.kind, st.severity, ts_ms, st.summary, dict(st.evidence),
                        reason, actor, st.copy())


def _escalation_interval(severity: str, config: PolicyConfig) -> int | None:
    return config.escalate_after_ms.get(severity)


def _merge_vitals(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    if not a or not b:
        return ()  # () means "all vitals": the union with anything stays all
    return tuple(sorted(set(a) | set(b)))


def _suppressed(states: DeviceState, vitals: tuple[str, ...], config: PolicyConfig) -> bool:
    sig = states.get(config.signal_kind)
    if sig is None or not sig.active:
        return False
    return not sig.vitals or not vitals or bool(set(sig.vitals) & set(vitals))


def _open(states: DeviceState, device_id: str, kind: str, ts_ms: int, severity: str, summary: str,
          evidence: dict, vitals: tuple[str, ...], config: PolicyConfig, reason: str) -> PolicyAction:
    interval = _escalation_interval(severity, config)
    st = AlertState(device_id, kind, "open", severity, ts_ms, ts_ms, ts_ms, summary, dict(evidence), tuple(vitals),
                    next_escalation_ms=ts_ms + interval if interval and config.max_escalations > 0 else None)
    states[kind] = st
    return _act("open", st, ts_ms, reason)


def _next_event(st: AlertState, config: PolicyConfig) -> tuple[int, str] | None:
    """The earliest timer of one state: (due_ms, what)."""
    events: list[tuple[int, str]] = []
    if config.stale_after_ms is not None and st.active:
        events.append((st.last_candidate_ms + config.stale_after_ms, "stale"))
    if st.is_live:
        if not st.active and st.clear_since_ms is not None:
            due = max(st.clear_since_ms + config.resolve_after_ms, st.opened_at_ms + config.min_open_ms)
            events.append((due, "resolve"))
        if st.status == "open" and st.active and st.next_escalation_ms is not None:
            events.append((st.next_escalation_ms, "escalate"))
    elif st.pending is not None and st.resolved_at_ms is not None:
        events.append((max(st.resolved_at_ms + config.reopen_cooldown_ms, st.pending.since_ms), "reopen"))
    return min(events) if events else None


def next_due_ms(st: AlertState, config: PolicyConfig) -> int | None:
    """When `device_due` next has something to do for this state (the engine indexes it)."""
    event = _next_event(st, config)
    return event[0] if event else None


def _fire(states: DeviceState, st: AlertState, due: int, what: str, config: PolicyConfig) -> list[PolicyAction]:
    if what == "stale":
        st.active, st.clear_since_ms, st.pending = False, due, None
        return [_act("update", st, due, "stale")] if st.is_live else []
    if what == "resolve":
        st.status, st.resolved_at_ms, st.resolved_by, st.updated_at_ms = "resolved", due, "auto", due
        st.next_escalation_ms = None
        return [_act("resolve", st, due, "cleared", "auto")]
    if what == "escalate":
        st.escalation_level += 1
        if config.escalation_raises_severity:
            st.severity = raise_severity(st.severity)
        interval = _escalation_interval(st.severity, config)
        more = interval and st.escalation_level < config.max_escalations
        st.next_escalation_ms = due + interval if more else None
        st.updated_at_ms = due
        return [_act("escalate", st, due, "unacknowledged")]
    # reopen: the cooldown ended while the condition stayed active
    pending = st.pending
    st.pending = None
    if pending is None or (st.kind != config.signal_kind and _suppressed(states, pending.vitals, config)):
        return []
    return [_open(states, st.device_id, st.kind, due, pending.severity, pending.summary, pending.evidence,
                  pending.vitals, config, "cooldown_ended")]


def device_due(states: DeviceState, now_ms: int, config: PolicyConfig) -> list[PolicyAction]:
    """Run every timer of one device that is due at `now_ms`, in time order."""
    actions: list[PolicyAction] = []
    while True:
        best: tuple[int, str, str] | None = None
        for kind, st in states.items():
            event = _next_event(st, config)
            if event and event[0] <= now_ms and (best is None or (event[0], kind) < (best[0], best[2])):
                best = (event[0], event[1], kind)
        if best is None:
            return actions
        actions += _fire(states, states[best[2]], best[0], best[1], config)


def _feed_signal(states: DeviceState, c: AlertCandidate, severity: str, config: PolicyConfig) -> list[PolicyAction]:
    st = states.get(c.kind)
    if not c.active:
        if st is None or not st.active:
            return []
        remaining = () if not c.vitals else tuple(v for v in st.vitals if v not in c.vitals)
        if c.vitals and (remaining or not st.vitals):
            st.vitals = remaining  # part of the signal is back; the rest is still lost
            return [_act("update", st, c.ts_ms, "partial")] if st.is_live else []
        return _clear(st, c.ts_ms)
    vitals = _merge_vitals(st.vitals, tuple(c.vitals)) if st is not None and st.active else tuple(c.vitals)
    return _raise(states, replace(c, vitals=vitals), severity, config)


def _clear(st: AlertState, ts_ms: int) -> list[PolicyAction]:
    st.last_candidate_ms = max(st.last_candidate_ms, ts_ms)
    if not st.active:
        return []
    st.active = False
    st.clear_since_ms = ts_ms
    st.pending = None
    if not st.is_live:
        return []
    st.updated_at_ms = ts_ms
    return [_act("update", st, ts_ms, "cleared")]


def _raise(states: DeviceState, c: AlertCandidate, severity: str, config: PolicyConfig) -> list[PolicyAction]:
    st = states.get(c.kind)
    if st is None:
        return [_open(states, c.device_id, c.kind, c.ts_ms, severity, c.summary, c.evidence, c.vitals, config,
                      "candidate")]
    if not st.is_live:
        in_cooldown = st.resolved_at_ms is not None and c.ts_ms < st.resolved_at_ms + config.reopen_cooldown_ms
        if in_cooldown and SEVERITY_RANK[severity] <= SEVERITY_RANK[st.severity]:
            since = st.pending.since_ms if st.pending is not None else c.ts_ms
            st.pending = Pending(since, severity, c.summary, dict(c.evidence), tuple(c.vitals))
            st.active, st.clear_since_ms, st.last_candidate_ms = True, None, c.ts_ms
            return [_act("suppress", replace(st, severity=severity, summary=c.summary), c.ts_ms, "cooldown")]
        return [_open(states, c.device_id, c.kind, c.ts_ms, severity, c.summary, c.evidence, c.vitals, config,
                      "candidate")]
    st.active, st.clear_since_ms = True, None
    st.last_candidate_ms = st.updated_at_ms = max(st.last_candidate_ms, c.ts_ms)
    st.summary, st.evidence, st.candidate_count = c.summary, dict(c.evidence), st.candidate_count + 1
    st.vitals = c.vitals if c.kind == config.signal_kind else _merge_vitals(st.vitals, c.vitals)
    if SEVERITY_RANK[severity] > SEVERITY_RANK[st.severity]:
        st.severity = severity
        interval = _escalation_interval(severity, config)
        if st.status == "open" and interval and st.escalation_level < config.max_escalations:
            # a worse condition restarts the clock at the tighter interval of its new severity
            st.next_escalation_ms = min(st.next_escalation_ms or c.ts_ms + interval, c.ts_ms + interval)
        return [_act("escalate", st, c.ts_ms, "severity")]
    return [_act("update", st, c.ts_ms, "candidate")]


def device_feed(states: DeviceState, c: AlertCandidate, config: PolicyConfig) -> list[PolicyAction]:
    """Apply one candidate to its device's state (timers due before it run first)."""
    actions = device_due(states, c.ts_ms, config)
    severity = map_severity(c.kind, c.severity, config)
    if c.kind == config.signal_kind:
        return actions + _feed_signal(states, c, severity, config)
    if _suppressed(states, tuple(c.vitals), config):
        # Readings from a sensor that is off say nothing: neither raise nor clear on them.
        if c.active:
            held = PolicyAction("suppress", c.device_id, c.kind, severity, c.ts_ms, c.summary, dict(c.evidence),
                                "signal.lost")
            actions.append(held)
        return actions
    st = states.get(c.kind)
    if not c.active:
        return actions + (_clear(st, c.ts_ms) if st is not None else [])
    return actions + _raise(states, c, severity, config)


def device_acknowledge(states: DeviceState, kind: str, ts_ms: int, actor: str) -> list[PolicyAction]:
    """Acknowledge the live alert of `kind`; a repeat is a no-op, a resolved one refuses."""
    st = states.get(kind)
    if st is None or not st.is_live:
        raise InvalidTransition(f"no open alert of kind {kind!r} to acknowledge")
    if st.status == "acknowledged":
        return []
    st.status, st.acknowledged_at_ms, st.acknowledged_by = "acknowledged", ts_ms, actor
    st.next_escalation_ms, st.updated_at_ms = None, ts_ms
    return [_act("acknowledge", st, ts_ms, "manual", actor)]


def device_resolve(states: DeviceState, kind: str, ts_ms: int, actor: str) -> list[PolicyAction]:
    """Resolve the live alert of `kind` by hand; a repeat is a no-op."""
    st = states.get(kind)
    if st is None:
        raise InvalidTransition(f"no alert of kind {kind!r} to resolve")
    if not st.is_live:
        return []
    st.status, st.resolved_at_ms, st.resolved_by, st.updated_at_ms = "resolved", ts_ms, actor, ts_ms
    st.next_escalation_ms = None
    if st.active:  # still present: comes back after the cooldown unless it clears first
        st.pending = Pending(ts_ms, st.severity, st.summary, dict(st.evidence), st.vitals)
    return [_act("resolve", st, ts_ms, "manual", actor)]


class AlertPolicy:
    """Every device's policy state in memory: what offline evaluation replays through.

    `state` is plain data ({device_id: {kind: AlertState}}); pass one in to resume.
    """

    def __init__(self, config: PolicyConfig | None = None, state: dict[str, DeviceState] | None = None):
        self.config = config or PolicyConfig()
        self.state: dict[str, DeviceState] = state if state is not None else {}

    def feed(self, candidate: AlertCandidate) -> list[PolicyAction]:
        return device_feed(self.state.setdefault(candidate.device_id, {}), candidate, self.config)

    def feed_many(self, candidates: Iterable[AlertCandidate]) -> list[PolicyAction]:
        return [a for c in candidates for a in self.feed(c)]

    def tick(self, now_ms: int) -> list[PolicyAction]:
        actions: list[PolicyAction] = []
        for device_id in sorted(self.state):
            actions += device_due(self.state[device_id], now_ms, self.config)
        return sorted(actions, key=lambda a: a.ts_ms)

    def acknowledge(self, device_id: str, kind: str, ts_ms: int, actor: str) -> list[PolicyAction]:
        states = self.state.get(device_id, {})
        return device_due(states, ts_ms, self.config) + device_acknowledge(states, kind, ts_ms, actor)

    def resolve(self, device_id: str, kind: str, ts_ms: int, actor: str) -> list[PolicyAction]:
        states = self.state.get(device_id, {})
        return device_due(states, ts_ms, self.config) + device_resolve(states, kind, ts_ms, actor)

    def live_alerts(self) -> list[AlertState]:
        return [st for states in self.state.values() for st in states.values() if st.is_live]
