"""The per-sample entry point: resting-HR gating and hourly aggregation.

The hot path is a handful of comparisons and two additions per sample; everything else
(closing an hour, closing a day, scoring) runs once an hour when a sample of a new hour
arrives. Resting HR follows Mishra et al. (Nat Biomed Eng 2020): HR counts only after
12 minutes without movement. A gap longer than max_gap_ms, or a sample without an
activity value, restarts the rest timer: we cannot know the wearer sat still meanwhile.
Each resting sample is weighted by the time since the previous sample (capped at one
minute), so a 1 Hz device and a 1/min device give the same hourly mean.
"""

from __future__ import annotations

from detectors.candidate import AlertCandidate

from .baseline import close_day
from .config import DEFAULT_CONFIG, HOUR_MS, EwConfig
from .detector import score_hour
from .state import EwState


def ew_update(
    st: EwState,
    device_id: str,
    ts_ms: int,
    hr: float | None,
    activity: float | None,
    cfg: EwConfig = DEFAULT_CONFIG,
) -> AlertCandidate | None:
    cand = None
    hour = (ts_ms + cfg.tz_offset_ms) // HOUR_MS
    if hour != st.hour:
        if hour < st.hour:
            return None  # late sample of an hour already closed
        cand = _roll_hour(st, cfg, device_id, hour, ts_ms)
    dt = ts_ms - st.last_ts
    if dt <= 0:
        return cand  # duplicate or out of order within the hour
    st.last_ts = ts_ms
    if activity is None or activity > cfg.rest_activity_max or dt > cfg.max_gap_ms:
        st.rest_since = ts_ms
        return cand
    if hr is None or ts_ms - st.rest_since < cfg.rest_ms or not (cfg.hr_min <= hr <= cfg.hr_max):
        return cand
    w = dt if dt < cfg.max_weight_ms else cfg.max_weight_ms
    st.acc_ms += w
    st.acc_hr_ms += w * hr
    return cand


def _roll_hour(st: EwState, cfg: EwConfig, device_id: str, hour: int, ts_ms: int) -> AlertCandidate | None:
    """Close the current hour (and day, if it ended); start `hour`."""
    rhr = st.acc_hr_ms / st.acc_ms if st.hour >= 0 and st.acc_ms >= cfg.min_rest_per_hour_ms else None
    st.acc_ms = 0.0
    st.acc_hr_ms = 0.0
    return advance_hour(st, cfg, device_id, rhr, hour, ts_ms)


def advance_hour(
    st: EwState, cfg: EwConfig, device_id: str, rhr: float | None, hour: int, ts_ms: int
) -> AlertCandidate | None:
    """Hour-level step: record the closed hour's resting HR (None: too little rest), score it, roll the day.

    Separate from the sample path so evaluation can replay cached hourly values quickly.
    """
    cand = None
    prev = st.hour
    if rhr is not None:
        st.day_hours.append([prev % 24, rhr])
        cand = score_hour(st, cfg, device_id, prev, rhr, ts_ms)
    st.hour = hour
    day = hour // 24
    if day != st.day:
        if st.day >= 0:
            close_day(st, cfg)
        st.day = day
    return cand
