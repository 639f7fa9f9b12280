"""Personal baseline: daily resting-HR levels, a circadian profile, medians and MADs.

At each local-day boundary the day's hourly resting-HR values are reduced to one level
(median of the profile-adjusted hours), a within-day spread (MAD) and a nightly value.
Accepted days (not flagged: no alert open, not mostly elevated) form the baseline:
median of levels and a scale combining within-day and between-day spread. Medians and
MADs keep one odd day from moving it (Mishra et al. Nat Biomed Eng 2020 used a personal
baseline of the preceding weeks; Alavi et al. Nat Med 2022 a median of the past days).
"""

from __future__ import annotations

import math

from .config import EwConfig
from .state import EwState

MAD_TO_SD = 1.4826  # MAD of a normal sample × 1.4826 estimates its standard deviation
NIGHT_HOURS = range(0, 6)  # local 00:00-05:59: the wearer is usually asleep


def median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    mid = n // 2
    return s[mid] if n % 2 else 0.5 * (s[mid - 1] + s[mid])


def mad(xs: list[float], centre: float) -> float:
    return median([abs(x - centre) for x in xs])


def close_day(st: EwState, cfg: EwConfig) -> None:
    """Fold the finished local day into the baseline (or exclude it) and reset it."""
    hours = st.day_hours
    if len(hours) >= cfg.min_hours_per_day:
        prof = st.profile
        adjusted = [v - prof[int(h)] for h, v in hours]
        level = median(adjusted)
        scale = MAD_TO_SD * mad(adjusted, level)
        night = [v for h, v in hours if int(h) in NIGHT_HOURS]
        nightly = sum(night) / len(night) if len(night) >= 2 else None
        mostly_elevated = cfg.exclude_elevated_days and st.day_scored > 0 and st.day_elevated * 2 >= st.day_scored
        flagged = st.day_flagged or mostly_elevated
        if flagged and st.excluded_run < cfg.max_excluded_run_days:
            st.excluded_run += 1
        else:
            if not flagged:
                st.excluded_run = 0  # while the guard is tripped, every day is accepted until one is clean
            st.days.append([st.day, level, scale, nightly])
            if len(st.days) > cfg.baseline_days:
                del st.days[: len(st.days) - cfg.baseline_days]
            _update_profile(st, cfg, hours, level)
            _recompute(st, cfg)
    st.day_hours = []
    st.day_elevated = 0
    st.day_scored = 0
    st.day_flagged = st.open  # an alert still open taints the next day too


def _update_profile(st: EwState, cfg: EwConfig, hours: list[list[float]], level: float) -> None:
    # Running mean, per hour of day, over ~profile_max_weight_days of each hour's offset from
    # the day level: resting HR is lower asleep than awake, and a single baseline would read
    # every afternoon as "elevated". Each hour counts its own days, so an hour first seen
    # late (nights unworn at first) starts from its first value instead of from zero.
    prof, counts = st.profile, st.profile_n
    for h, v in hours:
        i = int(h)
        counts[i] += 1
        prof[i] += ((v - level) - prof[i]) / min(counts[i], cfg.profile_max_weight_days)


def _recompute(st: EwState, cfg: EwConfig) -> None:
    if len(st.days) < cfg.min_baseline_days:
        st.base_level = None
        return
    levels = [d[1] for d in st.days]
    level = median(levels)
    between = MAD_TO_SD * mad(levels, level)
    within = median([d[2] for d in st.days])
    st.base_level = level
    st.base_scale = max(cfg.scale_floor_bpm, math.hypot(between, within))


def nightly_baseline(st: EwState) -> float | None:
    nights = [d[3] for d in st.days if d[3] is not None]
    return median(nights) if nights else None
