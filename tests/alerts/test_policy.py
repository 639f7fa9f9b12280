"""The pure alert policy: dedup, severity, auto-resolve, re-open, escalation, suppression."""

from __future__ import annotations

import pytest

from alerts.model import AlertState, PolicyConfig, map_severity
from alerts.policy import AlertPolicy, InvalidTransition

S = 1000
MIN = 60 * S
T0 = 1_795_000_000_000

CFG = PolicyConfig(
    resolve_after_ms=2 * MIN,
    min_open_ms=1 * MIN,
    reopen_cooldown_ms=5 * MIN,
    escalate_after_ms={"high": 5 * MIN, "medium": 15 * MIN, "low": None},
    max_escalations=2,
)


def cand(kind="spo2.low", t=0, active=True, severity="medium", vitals=("spo2",), device="dev-1", **evidence):
    from detectors.candidate import AlertCandidate

    return AlertCandidate(device, kind, severity, T0 + t, active, f"{kind} at {t}", evidence or {"t": t}, vitals)


def names(actions):
    return [(a.action, a.kind) for a in actions]


def test_repeat_updates_the_one_open_alert():
    p = AlertPolicy(CFG)
    assert names(p.feed(cand(t=0, value=88))) == [("open", "spo2.low")]
    acts = p.feed(cand(t=10 * S, value=87))
    assert names(acts) == [("update", "spo2.low")]
    assert acts[0].evidence == {"value": 87}
    assert len(p.live_alerts()) == 1 and p.live_alerts()[0].candidate_count == 2
    # a different kind or device is its own alert
    assert names(p.feed(cand("hr.high", t=11 * S, vitals=("hr",)))) == [("open", "hr.high")]
    assert names(p.feed(cand(t=12 * S, device="dev-2"))) == [("open", "spo2.low")]


def test_severity_rises_but_never_drops():
    p = AlertPolicy(CFG)
    p.feed(cand(t=0, severity="low"))
    up = p.feed(cand(t=S, severity="critical"))
    assert [(a.action, a.reason, a.severity) for a in up] == [("escalate", "severity", "high")]
    down = p.feed(cand(t=2 * S, severity="low"))
    assert [(a.action, a.severity) for a in down] == [("update", "high")]


def test_map_severity_aliases_and_overrides():
    assert map_severity("x", "WARNING", CFG) == "medium"
    assert map_severity("x", "bogus", CFG) == "medium"
    assert map_severity("news2.high", "low", PolicyConfig(severity_by_kind={"news2.high": "high"})) == "high"


def test_auto_resolve_after_clear_period_not_before():
    p = AlertPolicy(CFG)
    p.feed(cand(t=0))
    p.feed(cand(t=90 * S, active=False))
    assert names(p.tick(T0 + 90 * S + 2 * MIN - 1)) == []
    acts = p.tick(T0 + 90 * S + 2 * MIN)
    assert [(a.action, a.actor, a.ts_ms - T0) for a in acts] == [("resolve", "auto", 90 * S + 2 * MIN)]
    assert p.live_alerts() == []


def test_condition_back_before_resolve_keeps_alert_open():
    p = AlertPolicy(CFG)
    p.feed(cand(t=0))
    p.feed(cand(t=10 * S, active=False))
    assert names(p.feed(cand(t=60 * S))) == [("update", "spo2.low")]
    assert p.tick(T0 + 10 * MIN) == []
    assert len(p.live_alerts()) == 1


def test_min_open_time_holds_a_short_alert():
    p = AlertPolicy(PolicyConfig(resolve_after_ms=10 * S, min_open_ms=3 * MIN, escalate_after_ms={}))
    p.feed(cand(t=0))
    p.feed(cand(t=5 * S, active=False))
    assert p.tick(T0 + 2 * MIN) == []
    assert [(a.action, a.ts_ms - T0) for a in p.tick(T0 + 3 * MIN)] == [("resolve", 3 * MIN)]


def test_reopen_waits_for_cooldown_without_flapping():
    p = AlertPolicy(CFG)
    p.feed(cand(t=0))
    p.feed(cand(t=30 * S, active=False))
    resolved_at = 30 * S + 2 * MIN
    assert names(p.tick(T0 + resolved_at)) == [("resolve", "spo2.low")]
    # comes back 1 min later: held, not a new alert
    assert [a.reason for a in p.feed(cand(t=resolved_at + MIN))] == ["cooldown"]
    assert p.live_alerts() == []
    # still present when the cooldown ends: opens then, once
    acts = p.tick(T0 + resolved_at + 5 * MIN)
    assert [(a.action, a.reason, a.ts_ms - T0) for a in acts] == [("open", "cooldown_ended", resolved_at + 5 * MIN)]
    assert len(p.live_alerts()) == 1


def test_reopen_cancelled_if_it_clears_during_cooldown_and_worse_reopens_at_once():
    p = AlertPolicy(CFG)
    p.feed(cand(t=0))
    p.resolve("dev-1", "spo2.low", T0 + 2 * MIN, "nurse")
    p.feed(cand(t=2 * MIN + 10 * S))
    p.feed(cand(t=2 * MIN + 20 * S, active=False))
    assert p.tick(T0 + 20 * MIN) == []
    assert names(p.feed(cand(t=21 * MIN, active=True, severity="high"))) == [("open", "spo2.low")]


def test_manual_resolve_of_a_present_condition_reopens_after_cooldown():
    p = AlertPolicy(CFG)
    p.feed(cand(t=0))
    acts = p.resolve("dev-1", "spo2.low", T0 + MIN, "nurse")
    assert [(a.action, a.actor) for a in acts] == [("resolve", "nurse")]
    assert p.resolve("dev-1", "spo2.low", T0 + MIN, "nurse") == []  # idempotent
    assert names(p.tick(T0 + 6 * MIN)) == [("open", "spo2.low")]


def test_escalation_timing_per_severity_and_ack_stops_it():
    p = AlertPolicy(CFG)
    p.feed(cand("news2.high", t=0, severity="high", vitals=()))
    p.feed(cand("temp.high", t=0, severity="low", vitals=("temp",)))
    p.feed(cand("hr.high", t=0, severity="medium", vitals=("hr",)))
    acts = p.tick(T0 + 60 * MIN)
    got = [(a.kind, a.ts_ms - T0) for a in acts if a.action == "escalate"]
    # high every 5 min, medium every 15, low never; at most 2 each
    assert got == [("news2.high", 5 * MIN), ("news2.high", 10 * MIN), ("hr.high", 15 * MIN), ("hr.high", 30 * MIN)]
    assert p.state["dev-1"]["news2.high"].escalation_level == 2

    q = AlertPolicy(CFG)
    q.feed(cand("news2.high", t=0, severity="high", vitals=()))
    assert names(q.acknowledge("dev-1", "news2.high", T0 + 4 * MIN, "nurse")) == [("acknowledge", "news2.high")]
    assert q.acknowledge("dev-1", "news2.high", T0 + 4 * MIN, "nurse") == []  # idempotent
    assert q.tick(T0 + 60 * MIN) == []
    assert q.state["dev-1"]["news2.high"].status == "acknowledged"


def test_escalation_raises_severity_when_configured():
    cfg = PolicyConfig(escalate_after_ms={"low": 2 * MIN, "medium": MIN, "high": None}, escalation_raises_severity=True)
    p = AlertPolicy(cfg)
    p.feed(cand(t=0, severity="low"))
    acts = p.tick(T0 + 10 * MIN)
    assert [(a.severity, a.ts_ms - T0) for a in acts] == [("medium", 2 * MIN), ("high", 3 * MIN)]


def test_acknowledge_resolved_refused():
    p = AlertPolicy(CFG)
    p.feed(cand(t=0))
    p.resolve("dev-1", "spo2.low", T0 + MIN, "nurse")
    with pytest.raises(InvalidTransition):
        p.acknowledge("dev-1", "spo2.low", T0 + MIN, "nurse")
    with pytest.raises(InvalidTransition):
        p.acknowledge("dev-1", "hr.high", T0 + MIN, "nurse")


def test_signal_loss_suppresses_affected_vitals_only():
    p = AlertPolicy(CFG)
    assert names(p.feed(cand("signal.lost", t=0, vitals=("spo2", "hr")))) == [("open", "signal.lost")]
    held = p.feed(cand("spo2.low", t=10 * S))
    assert [(a.action, a.reason) for a in held] == [("suppress", "signal.lost")]
    assert names(p.feed(cand("news2.high", t=11 * S, vitals=()))) == [("suppress", "news2.high")]
    assert names(p.feed(cand("temp.high", t=12 * S, vitals=("temp",)))) == [("open", "temp.high")]
    assert {a.kind for a in p.live_alerts()} == {"signal.lost", "temp.high"}
    # a second loss report widens the one signal.lost alert, no second alert
    assert names(p.feed(cand("signal.lost", t=20 * S, vitals=("rr",)))) == [("update", "signal.lost")]
    assert p.state["dev-1"]["signal.lost"].vitals == ("hr", "rr", "spo2")
    # signal back: clinical alerts open again; signal.lost resolves after the quiet period
    p.feed(cand("signal.lost", t=60 * S, active=False, vitals=()))
    assert names(p.feed(cand("spo2.low", t=61 * S))) == [("open", "spo2.low")]
    assert ("resolve", "signal.lost") in names(p.tick(T0 + 60 * S + 2 * MIN))


def test_signal_loss_freezes_existing_alert_and_ignores_clears():
    p = AlertPolicy(CFG)
    p.feed(cand("spo2.low", t=0))
    p.feed(cand("signal.lost", t=10 * S, vitals=()))
    assert p.feed(cand("spo2.low", t=20 * S, active=False)) == []
    assert all(a.kind != "spo2.low" or a.action != "resolve" for a in p.tick(T0 + 10 * MIN))
    assert p.state["dev-1"]["spo2.low"].status == "open"


def test_partial_signal_recovery():
    p = AlertPolicy(CFG)
    p.feed(cand("signal.lost", t=0, vitals=("spo2", "hr")))
    p.feed(cand("signal.lost", t=S, active=False, vitals=("spo2",)))
    assert names(p.feed(cand("spo2.low", t=2 * S))) == [("open", "spo2.low")]
    assert names(p.feed(cand("hr.low", t=3 * S, vitals=("hr",)))) == [("suppress", "hr.low")]


def test_stale_condition_counts_as_cleared():
    p = AlertPolicy(PolicyConfig(stale_after_ms=MIN, resolve_after_ms=MIN, min_open_ms=0, escalate_after_ms={}))
    p.feed(cand(t=0))
    acts = p.tick(T0 + 5 * MIN)
    assert [(a.action, a.ts_ms - T0) for a in acts] == [("update", MIN), ("resolve", 2 * MIN)]


def test_feed_runs_due_timers_first_in_time_order():
    p = AlertPolicy(CFG)
    p.feed(cand(t=0))
    p.feed(cand(t=S, active=False))
    acts = p.feed(cand(t=20 * MIN))  # no tick in between: resolve happens first, then a fresh open
    assert [(a.action, a.ts_ms - T0) for a in acts] == [("resolve", S + 2 * MIN), ("open", 20 * MIN)]


def test_state_round_trips_as_plain_data():
    p = AlertPolicy(CFG)
    p.feed(cand(t=0))
    p.resolve("dev-1", "spo2.low", T0 + MIN, "nurse")
    st = p.state["dev-1"]["spo2.low"]
    again = AlertState.from_dict(st.to_dict())
    assert again == st and again.pending is not None
    resumed = AlertPolicy(CFG, {"dev-1": {"spo2.low": again}})
    assert names(resumed.tick(T0 + 6 * MIN)) == [("open", "spo2.low")]


def test_actions_are_deterministic_event_types():
    p = AlertPolicy(CFG)
    acts = p.feed(cand(t=0)) + p.acknowledge("dev-1", "spo2.low", T0 + S, "n")
    acts += p.resolve("dev-1", "spo2.low", T0 + 2 * S, "n")
    assert [a.event_type for a in acts] == ["alert.opened", "alert.acknowledged", "alert.resolved"]
