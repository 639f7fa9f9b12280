"""Threshold rules: persistence, hysteresis, severity, gaps, movement, overrides."""

from __future__ import annotations

import pytest

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
