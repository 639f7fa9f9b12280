"""Scoring each finished hour against the baseline; raising and clearing the one alert.

Each hourly resting HR is standardised against the personal baseline plus the circadian
profile for that hour (Mishra et al. Nat Biomed Eng 2020, "RHR-Diff"). A one-sided CuSum
over the capped z-scores (Page 1954; Mishra's online detector) accumulates sustained
elevation and forgets isolated hours; the alert opens when the CuSum passes its threshold
and the median excess over the trailing day is clinically visible (≥ 3 bpm). The
"fraction" rule (most of the trailing day above z = 1) is kept for comparison; the
measurement that chose CuSum is in docs/early_warning.md. At most one alert is open per
device: it opens once, may escalate low → medium once, and clears when the trailing day
is back near baseline.
"""

from __future__ import annotations

from detectors.candidate import AlertCandidate

from .baseline import median, nightly_baseline
from .config import EwConfig
from .state import EwState

KIND = "early_warning"


def score_hour(st: EwState, cfg: EwConfig, device_id: str, hour: int, rhr: float, ts_ms: int) -> AlertCandidate | None:
    if st.base_level is None:
        return None
    excess = rhr - (st.base_level + st.profile[hour % 24])
    z = excess / st.base_scale
    scored = st.scored
    scored.append([hour, rhr, excess, z])
    oldest = hour - cfg.history_hours
    while scored and scored[0][0] <= oldest:
        scored.pop(0)
    st.day_scored += 1
    if z > cfg.z_elevated:
        st.day_elevated += 1
    st.cusum = max(0.0, st.cusum + min(z, cfg.z_cap) - cfg.cusum_k)

    since = hour - cfg.window_hours
    window = [s for s in scored if s[0] > since]
    med_excess = median([s[2] for s in window])
    if not st.open:
        if _triggered(st, cfg, window, med_excess):
            st.open = True
            st.opened_hour = hour
            st.day_flagged = True
            st.open_severity = _severity(cfg, med_excess, _hours_elevated(st, cfg, hour))
            return _candidate(st, cfg, device_id, ts_ms, hour, window, med_excess, active=True)
        return None
    st.day_flagged = True
    if (
        hour - st.opened_hour >= cfg.clear_min_open_hours
        and len(window) >= cfg.min_observed_hours // 2
        and med_excess < cfg.clear_excess_bpm
    ):
        st.open = False
        st.cusum = 0.0
        return _candidate(st, cfg, device_id, ts_ms, hour, window, med_excess, active=False)
    if (
        st.open_severity == "low"
        and med_excess >= cfg.min_excess_bpm
        and _severity(cfg, med_excess, _hours_elevated(st, cfg, hour)) == "medium"
    ):
        st.open_severity = "medium"  # the engine dedups per device+kind: this escalates, not a second alert
        return _candidate(st, cfg, device_id, ts_ms, hour, window, med_excess, active=True)
    return None


def _triggered(st: EwState, cfg: EwConfig, window: list[list[float]], med_excess: float) -> bool:
    if med_excess < cfg.min_excess_bpm:
        return False
    if cfg.min_elevated_hours_24h > 0:
        # Persistence: one bad night (alcohol, a late workout) elevates <= ~8 hours; an
        # infection raises resting HR awake and asleep (Mishra 2020, Fig. 2).
        since = window[-1][0] - 24
        if sum(1 for s in st.scored if s[0] > since and s[3] > cfg.z_elevated) < cfg.min_elevated_hours_24h:
            return False
    if cfg.min_window_z > 0 and median([s[3] for s in window]) < cfg.min_window_z:
        return False
    if cfg.method == "cusum":
        return st.cusum >= cfg.cusum_h and len(window) >= 4
    if len(window) < cfg.min_observed_hours:
        return False
    elevated = sum(1 for s in window if s[3] > cfg.z_elevated)
    return elevated >= cfg.min_fraction * len(window)


def _hours_elevated(st: EwState, cfg: EwConfig, hour: int) -> int:
    """Hours since the current elevated stretch began (an elevated hour with no 12-h lull after it)."""
    start = hour
    last = hour
    for h, _r, _e, z in reversed(st.scored):
        if z > cfg.z_elevated:
            start = h
            last = h
        elif last - h > 12:
            break
    return int(hour - start + 1)


def _severity(cfg: EwConfig, med_excess: float, hours_elevated: int) -> str:
    if med_excess >= cfg.medium_excess_bpm or hours_elevated >= cfg.medium_hours:
        return "medium"
    return "low"


def _candidate(
    st: EwState,
    cfg: EwConfig,
    device_id: str,
    ts_ms: int,
    hour: int,
    window: list[list[float]],
    med_excess: float,
    *,
    active: bool,
) -> AlertCandidate:
    base = st.base_level or 0.0
    hours_el = _hours_elevated(st, cfg, hour) if active else hour - st.opened_hour
    current = median([s[1] for s in window])
    night = nightly_baseline(st)
    if active:
        summary = (
            f"Resting HR {med_excess:.0f} bpm above this patient's baseline ({base:.0f} bpm) for {hours_el} h"
            f" (current {current:.0f} bpm): possible early sign of illness; check for symptoms."
        )
    else:
        summary = f"Resting HR back near this patient's baseline ({base:.0f} bpm, now {current:.0f} bpm)."
    return AlertCandidate(
        device_id=device_id,
        kind=KIND,
        severity=st.open_severity or "low",  # type: ignore[arg-type]
        ts_ms=ts_ms,
        active=active,
        summary=summary,
        evidence={
            "baseline_rhr_bpm": round(base, 1),
            "baseline_scale_bpm": round(st.base_scale, 2),
            "baseline_days": len(st.days),
            "baseline_nightly_rhr_bpm": None if night is None else round(night, 1),
            "current_rhr_bpm": round(current, 1),
            "last_hour_rhr_bpm": round(window[-1][1], 1),
            "excess_bpm": round(med_excess, 1),
            "last_hour_z": round(window[-1][3], 2),
            "hours_elevated": hours_el,
            "hours_observed_24h": len(window),
            "cusum": round(st.cusum, 2),
            "method": cfg.method,
        },
        vitals=("hr",),
        detector=KIND,
    )
