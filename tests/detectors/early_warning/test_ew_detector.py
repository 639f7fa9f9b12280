"""The detector: raises once on a sustained rise, ignores blips, clears, stays single."""

from __future__ import annotations

from detectors.early_warning import ew_new


def _openings(events):
    """Candidates that open an alert (active after not-active), in order."""
    out, is_open = [], False
    for t, c in events:
        if c.active and not is_open:
            out.append((t, c))
        is_open = c.active
    return out


def _rise(start: float, days: float, peak: float, hold: float):
    def excess(t: float) -> float:
        if t < start:
            return 0.0
        if t < start + days:
            return peak * (t - start) / days
        if t < start + days + hold:
            return peak
        return max(0.0, peak * (1 - (t - start - days - hold)))  # back within a day

    return excess


def test_quiet_wearer_never_alerts(feed_days):
    st = ew_new()
    assert feed_days(st, 0, 45, seed=11) == []


def test_sustained_rise_raises_before_onset_once_then_clears(feed_days):
    st = ew_new()
    onset = 23.0
    events = feed_days(st, 0, 32, seed=12, excess=_rise(20.0, 3.0, 12.0, 4.0))
    opens = _openings(events)
    assert len(opens) == 1
    t_open, cand = opens[0]
    assert 20.0 < t_open < onset - 1.0  # more than a day before symptoms
    assert cand.kind == "early_warning" and cand.detector == "early_warning"
    assert cand.severity in ("low", "medium") and cand.vitals == ("hr",)
    assert "bpm above this patient's baseline" in cand.summary and " h" in cand.summary
    ev = cand.evidence
    assert {"baseline_rhr_bpm", "current_rhr_bpm", "excess_bpm", "hours_elevated"} <= set(ev)
    assert ev["excess_bpm"] >= 3.0 and ev["hours_elevated"] >= 1
    assert abs(ev["baseline_rhr_bpm"] - 60.0) < 3.0
    cleared = [t for t, c in events if not c.active]
    assert len(cleared) == 1 and cleared[0] > onset + 4.0  # clears after the illness, not during
    assert events[-1][1].active is False


def test_one_bad_night_does_not_alert(feed_days):
    st = ew_new()
    # night of day 20: +10 bpm for 8 h (e.g. alcohol); day 24: one hour +30 bpm
    def blip(t: float) -> float:
        if 20.0 <= t < 20.0 + 8 / 24:
            return 10.0
        if 24.5 <= t < 24.5 + 1 / 24:
            return 30.0
        return 0.0

    assert feed_days(st, 0, 30, seed=13, excess=blip) == []


def test_at_most_one_open_during_long_elevation(feed_days):
    st = ew_new()
    events = feed_days(st, 0, 32, seed=14, excess=lambda t: 6.0 + (t % 1.0) * 4 if t >= 18 else 0.0)
    assert len(_openings(events)) == 1
    actives = [c for _, c in events if c.active]
    assert len(actives) <= 2  # the opening and at most one low -> medium escalation
    if len(actives) == 2:
        assert (actives[0].severity, actives[1].severity) == ("low", "medium")


def test_lasting_shift_is_eventually_absorbed(feed_days):
    st = ew_new()
    events = feed_days(st, 0, 60, seed=15, excess=lambda t: 8.0 if t >= 18 else 0.0)
    assert len(_openings(events)) == 1
    assert events[-1][1].active is False  # re-baselined after the excluded-run guard, then cleared
    assert st.base_level > 64.0


def test_candidates_survive_the_wire_format(feed_days):
    from detectors.candidate import AlertCandidate

    st = ew_new()
    events = feed_days(st, 0, 30, seed=16, excess=_rise(20.0, 2.0, 10.0, 3.0))
    assert events
    for _, c in events:
        assert AlertCandidate.from_json(c.to_json()) == c
