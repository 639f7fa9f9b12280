"""Resting-HR extraction: activity gating, gaps, sample-rate independence."""

from __future__ import annotations

from detectors.early_warning import ew_new, ew_update
from detectors.early_warning.config import HOUR_MS, MINUTE_MS


def _hour_rhr(st):
    return {int(h): v for h, v in st.day_hours}


def test_only_hr_after_12_still_minutes_counts(t0):
    st = ew_new()
    for m in range(60):  # 10 min walking at 110 bpm, then still at 60 bpm
        moving = m < 10
        ew_update(st, "d", t0 + m * MINUTE_MS, 110.0 if moving else 60.0, 0.8 if moving else 0.0)
    assert st.acc_ms == (59 - 9 - 12 + 1) * MINUTE_MS  # minutes 21..59: 12 still minutes after the last movement
    ew_update(st, "d", t0 + HOUR_MS, 60.0, 0.0)
    assert _hour_rhr(st)[0] == 60.0  # no walking HR leaks in


def test_recovery_minutes_are_excluded(t0):
    st = ew_new()
    for m in range(60):  # still from minute 10 on, HR recovering 100 -> 60 over 10 minutes
        hr, act = (120.0, 0.9) if m < 10 else (max(60.0, 100.0 - 4.0 * (m - 10)), 0.0)
        ew_update(st, "d", t0 + m * MINUTE_MS, hr, act)
    ew_update(st, "d", t0 + HOUR_MS, 60.0, 0.0)
    assert abs(_hour_rhr(st)[0] - 60.0) < 0.5


def test_too_little_rest_gives_no_hourly_value(t0):
    st = ew_new()
    for m in range(60):  # moves every 10 minutes: never 12 still minutes
        ew_update(st, "d", t0 + m * MINUTE_MS, 90.0, 0.5 if m % 10 == 0 else 0.0)
    ew_update(st, "d", t0 + HOUR_MS, 60.0, 0.0)
    assert st.day_hours == []


def test_gap_restarts_rest_timer(t0):
    st = ew_new()
    for m in range(0, 10):
        ew_update(st, "d", t0 + m * MINUTE_MS, 60.0, 0.0)
    for m in range(40, 60):  # after a 30-min gap (charging): the timer restarts at minute 40
        ew_update(st, "d", t0 + m * MINUTE_MS, 80.0, 0.0)
    assert st.acc_ms == 8 * MINUTE_MS  # minutes 52..59 only
    ew_update(st, "d", t0 + HOUR_MS, 60.0, 0.0)
    assert _hour_rhr(st)[0] == 80.0


def test_unknown_activity_is_not_rest(t0):
    st = ew_new()
    for m in range(60):
        ew_update(st, "d", t0 + m * MINUTE_MS, 60.0, None if m % 11 == 0 else 0.0)
    ew_update(st, "d", t0 + HOUR_MS, 60.0, 0.0)
    assert st.day_hours == []


def test_implausible_hr_is_ignored(t0):
    st = ew_new()
    for m in range(60):
        ew_update(st, "d", t0 + m * MINUTE_MS, 300.0 if m % 2 else 60.0, 0.0)
    ew_update(st, "d", t0 + HOUR_MS, 60.0, 0.0)
    assert _hour_rhr(st)[0] == 60.0


def test_one_hz_and_one_per_minute_agree(feed_days):
    a, b = ew_new(), ew_new()
    feed_days(a, 0, 1, step_s=60, seed=3)
    feed_days(b, 0, 1, step_s=1, seed=3)
    ra, rb = _hour_rhr(a), _hour_rhr(b)
    assert len(ra) >= 20 and set(ra) == set(rb)
    for h in ra:
        assert abs(ra[h] - rb[h]) < 1.0, (h, ra[h], rb[h])


def test_gappy_one_per_minute_close_to_complete(feed_days):
    full, gappy = ew_new(), ew_new()
    feed_days(full, 0, 1, seed=4)
    # every 7th minute lost, plus a charging hour 13:00-14:00
    feed_days(gappy, 0, 1, seed=4, skip=lambda t: (t // 60) % 7 == 3 or 13 * 3600 <= t < 14 * 3600)
    rf, rg = _hour_rhr(full), _hour_rhr(gappy)
    assert 13 not in rg and len(rg) >= len(rf) - 2
    for h in rg:
        assert abs(rf[h] - rg[h]) < 1.0


def test_duplicates_and_late_samples_are_ignored(t0):
    st = ew_new()
    for m in range(60):
        ew_update(st, "d", t0 + m * MINUTE_MS, 60.0, 0.0)
        ew_update(st, "d", t0 + m * MINUTE_MS, 200.0, 0.0)  # duplicate timestamp
    ew_update(st, "d", t0 + HOUR_MS, 60.0, 0.0)
    assert ew_update(st, "d", t0 + 5 * MINUTE_MS, 200.0, 0.0) is None  # late: that hour is closed
    assert _hour_rhr(st)[0] == 60.0
