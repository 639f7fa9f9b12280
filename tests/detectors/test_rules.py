"""Threshold rules: persistence, hysteresis, severity, gaps, movement, overrides."""

from __future__ import annotations

from typing import Any

import pytest

from detectors.news2 import score_pulse, score_rr, score_sbp, score_temp
from detectors.rules import DEFAULT_RULES, Rule, RuleOverrideError, RuleState, apply_overrides, rule_step

SPO2 = Rule("spo2.low", "spo2", "low", on=90, persist_s=60, off=92, clear_s=30, high_at=85)
S = 1000


def run(rule: Rule, values: list[float | None], step_s: float = 10, gap_s: float = 300, st: RuleState | None = None,
        moving: bool = False) -> list[tuple[bool, str | None]]:
    st = st or RuleState()
    out = []
    for i, v in enumerate(values):
        rule_step(rule, st, int(i * step_s * S), v, gap_s, moving)
        out.append((st.active, st.severity))
    return out


def test_raises_only_after_persistence() -> None:
    # 10 s apart: below 90 from t=0; 60 s of persistence is reached at t=60 (7th sample).
    states = run(SPO2, [88] * 8)
    assert [a for a, _ in states] == [False] * 6 + [True, True]
    assert states[-1][1] == "medium"


def test_a_short_dip_does_not_alarm() -> None:
    assert not any(a for a, _ in run(SPO2, [88, 88, 88, 88, 88, 95, 88, 88, 88, 88, 88, 95]))


def test_threshold_is_strict() -> None:
    assert not any(a for a, _ in run(SPO2, [90] * 20))


def test_hysteresis_holds_between_on_and_off() -> None:
    st = RuleState()
    run(SPO2, [88] * 7, st=st)
    assert st.active
    # 91 is above `on` (90) but below `off` (92): still active, however long it lasts.
    run(SPO2, [91] * 30, st=st)
    assert st.active


def test_clears_only_after_clear_delay_past_off() -> None:
    st = RuleState()
    run(SPO2, [88] * 7, st=st)
    trace = run(SPO2, [93, 93, 93, 93], st=st)  # 0, 10, 20, 30 s back past 92
    assert [a for a, _ in trace] == [True, True, True, False]
    assert st.since is None and st.worst is None


def test_severity_escalates_and_does_not_drop_back() -> None:
    st = RuleState()
    run(SPO2, [88] * 7, st=st)
    assert st.severity == "medium"
    run(SPO2, [84] * 7, st=st)
    assert st.severity == "high"
    run(SPO2, [89] * 5, st=st)
    assert st.active and st.severity == "high"
    assert st.worst == 84


def test_missing_values_do_not_count_as_holding() -> None:
    # The gap (None) does not reset timers by itself, but a gap longer than max_gap does.
    assert run(SPO2, [88, 88, None, None, None, None, None, 88], step_s=10, gap_s=300)[-1][0]
    assert not run(SPO2, [88, 88, None, None, None, None, None, 88], step_s=60, gap_s=300)[-1][0]


def test_sparse_readings_need_three_of_them() -> None:
    # A once-a-minute wearable: 60 s of persistence is two readings, min_n asks for three.
    assert [a for a, _ in run(SPO2, [88, 88, 88], step_s=60)] == [False, False, True]


def test_sparse_readings_persist_within_gap_allowance() -> None:
    sbp = next(r for r in DEFAULT_RULES if r.kind == "sbp.low")
    # Cuff readings every 15 min: three low readings in a row (min_n=3), within the gap allowance.
    assert [a for a, _ in run(sbp, [85, 84, 86], step_s=900, gap_s=3900)] == [False, False, True]
    assert not run(sbp, [85, 84, 86], step_s=900, gap_s=300)[-1][0]
    assert not run(sbp, [85, 84, 96, 85, 84], step_s=900, gap_s=3900)[-1][0]


def test_high_direction_rule() -> None:
    temp = Rule("temp.high", "temp", "high", on=38.0, persist_s=300, off=37.7, clear_s=300)
    states = run(temp, [38.4] * 31 + [37.8] * 40, step_s=10)
    assert states[30][0] and not states[29][0]  # t=300 s is the first with 300 s held
    assert states[-1][0]  # 37.8 is not past off (37.7): hysteresis keeps it
    assert not run(temp, [37.6] * 31, step_s=10, st=None)[-1][0]


def test_activity_aware_rule_uses_moving_threshold() -> None:
    hr = next(r for r in DEFAULT_RULES if r.kind == "hr.high")
    assert run(hr, [125] * 10, step_s=10)[-1][0]  # at rest, 125 is too fast
    assert not run(hr, [125] * 10, step_s=10, moving=True)[-1][0]  # walking: explained
    assert run(hr, [160] * 10, step_s=10, moving=True)[-1][0]


def test_overrides_change_one_rule_only() -> None:
    rules = apply_overrides(DEFAULT_RULES, {"spo2.low": {"on": 86, "off": 88}, "hr.high": {"enabled": False}})
    by = {r.kind: r for r in rules}
    assert by["spo2.low"].on == 86 and by["spo2.low"].off == 88 and by["spo2.low"].persist_s == 60
    assert by["hr.high"].enabled is False
    assert by["rr.high"] == next(r for r in DEFAULT_RULES if r.kind == "rr.high")
    assert apply_overrides(DEFAULT_RULES, None) is DEFAULT_RULES


@pytest.mark.parametrize("bad", [{"nope.low": {"on": 1}}, {"spo2.low": {"colour": 1}}, {"spo2.low": {"on": "x"}}])
def test_bad_overrides_are_refused(bad: dict) -> None:
    with pytest.raises(RuleOverrideError):
        apply_overrides(DEFAULT_RULES, bad)


def test_state_round_trips_as_list() -> None:
    st = RuleState()
    run(SPO2, [88] * 7, st=st)
    assert RuleState.from_list(st.to_list()) == st


def test_default_kinds_follow_interface_naming() -> None:
    kinds = [r.kind for r in DEFAULT_RULES]
    assert len(set(kinds)) == len(kinds)
    assert {"spo2.low", "hr.high", "hr.low", "rr.high", "temp.high", "sbp.low"} <= set(kinds)
    for r in DEFAULT_RULES:  # hysteresis is on the safe side of the threshold
        assert (r.off >= r.on) if r.direction == "low" else (r.off <= r.on)


def _rule(kind: str) -> Rule:
    return next(r for r in DEFAULT_RULES if r.kind == kind)


def _held(rule: Rule, value: float) -> bool:
    """Active after the value has been held well past the rule's persistence?"""
    n = int(rule.persist_s / 10) + rule.min_n + 1
    return run(rule, [value] * n, step_s=10)[-1][0]


@pytest.mark.parametrize(("kind", "red", "not_red"), [
    ("rr.low", 8, 9),  # NEWS2 (RCP 2017, Chart 1): RR ≤ 8 scores 3
    ("sbp.low", 90, 91),  # SBP ≤ 90 scores 3
    ("temp.low", 35.0, 35.1),  # temperature ≤ 35.0 scores 3
    ("rr.high", 25, 24),  # RR ≥ 25 scores 3
    ("sbp.high", 220, 219),  # SBP ≥ 220 scores 3
])
def test_defaults_fire_at_the_news2_red_edge(kind: str, red: float, not_red: float) -> None:
    rule = _rule(kind)
    assert _held(rule, red), f"{kind} must fire at {red}"
    assert not _held(rule, not_red), f"{kind} must not fire at {not_red}"


@pytest.mark.parametrize(("kind", "scorer", "values"), [  # each range covers one side of the chart only
    ("rr.low", score_rr, list(range(0, 21))),
    ("rr.high", score_rr, list(range(12, 60))),
    ("sbp.low", score_sbp, list(range(50, 200))),
    ("sbp.high", score_sbp, list(range(111, 280))),
    ("temp.low", score_temp, [x / 10 for x in range(300, 381)]),
])
def test_rule_threshold_matches_news2_red_band_on_chart_values(kind: str, scorer: Any, values: list[float]) -> None:
    """At the chart's resolution (whole numbers, tenths of a °C) the rule starts exactly on
    the values NEWS2 scores 3 on that side of the chart."""
    rule = _rule(kind)
    for v in values:
        assert rule.past_on(v) == (scorer(v) == 3), (kind, v)


def test_hr_low_severity_high_at_news2_red_pulse() -> None:
    rule = _rule("hr.low")
    assert rule.past_high(40) and score_pulse(40) == 3
    assert not rule.past_high(41) and score_pulse(41) == 1


def test_high_side_defaults_against_news2() -> None:
    # temp.high fires from 38.1 (NEWS2 scores 1 from 38.1), hr.high at rest from 121 (before
    # NEWS2's red ≥ 131, on purpose), spo2.low from 89 (the monitor default, below NEWS2 ≤ 91).
    assert _held(_rule("temp.high"), 38.1) and not _held(_rule("temp.high"), 38.0)
    assert _held(_rule("hr.high"), 131) and _held(_rule("hr.high"), 121) and not _held(_rule("hr.high"), 120)
    assert _held(_rule("spo2.low"), 89) and not _held(_rule("spo2.low"), 90)


@pytest.mark.parametrize(("kind", "red", "between", "clear"), [
    ("rr.low", 8, 9, 10), ("sbp.low", 90, 93, 95), ("temp.low", 35.0, 35.3, 35.5),
])
def test_edge_rules_keep_persistence_and_hysteresis(kind: str, red: float, between: float, clear: float) -> None:
    rule = _rule(kind)
    st = RuleState()
    steps = int(rule.persist_s / 10)
    trace = run(rule, [red] * (steps + 1), step_s=10, st=st)
    assert [a for a, _ in trace] == [False] * steps + [True]  # persistence: not before persist_s
    # Back to a value between `on` and `off`: hysteresis keeps it active however long it lasts.
    rs = RuleState.from_list(st.to_list())
    for i in range(60):
        rule_step(rule, rs, (steps + 1 + i) * 10 * S, between, 300)
    assert rs.active
    # Held at `off` for `clear_s`: clears.
    t0 = (steps + 61) * 10 * S
    for i in range(int(rule.clear_s / 10) + 1):
        rule_step(rule, rs, t0 + i * 10 * S, clear, 300)
    assert not rs.active
