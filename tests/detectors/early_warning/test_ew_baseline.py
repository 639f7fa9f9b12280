"""Personal baseline: circadian profile, robustness to odd days, scale."""

from __future__ import annotations

from detectors.early_warning import ew_new
from detectors.early_warning.baseline import mad, median


def test_median_and_mad():
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 2.0, 3.0]) == 2.5
    assert mad([1.0, 2.0, 3.0, 100.0], 2.5) == 1.0


def test_baseline_learns_level_and_circadian_profile(feed_days):
    st = ew_new()
    assert feed_days(st, 0, 20, base=60.0, seed=1) == []
    assert st.base_level is not None
    asleep = st.base_level + st.profile[3]
    awake = st.base_level + st.profile[15]
    assert abs(asleep - 54.0) < 1.0 and abs(awake - 62.0) < 1.0  # wearer_sample: level-6 asleep, +2 awake
    assert 1.5 <= st.base_scale < 2.5


def test_baseline_not_ready_before_two_weeks(feed_days):
    st = ew_new()
    feed_days(st, 0, 10, seed=2)
    assert st.base_level is None and st.scored == []


def test_odd_days_barely_move_the_baseline(feed_days):
    clean, odd = ew_new(), ew_new()
    feed_days(clean, 0, 20, seed=5)
    # three days (before the baseline is ready, so nothing flags them) 25 bpm high
    feed_days(odd, 0, 20, seed=5, excess=lambda t: 25.0 if int(t) in (2, 6, 9) else 0.0)
    assert abs(odd.base_level - clean.base_level) < 1.0
    assert odd.base_scale < clean.base_scale + 1.0


def test_days_with_an_open_alert_are_excluded(feed_days):
    st = ew_new()
    feed_days(st, 0, 20, seed=6)
    level_before = st.base_level
    events = feed_days(st, 20, 6, seed=6, excess=lambda t: 12.0)
    assert any(c.active for _, c in events)
    accepted = {int(d[0]) for d in st.days}
    opened_day = int(next(t for t, c in events if c.active))
    assert not any(d in accepted for d in range(opened_day + 1, 26))  # days under the alert stay out
    assert abs(st.base_level - level_before) < 0.5
