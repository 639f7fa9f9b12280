"""Per-device state of the early-warning detector: small, explicit, JSON-able.

Size stays bounded however long a device streams: the current hour's accumulators, the
current day's hourly values (≤ 24), a trailing ring of scored hours (≤ history_hours),
the accepted days of the baseline (≤ baseline_days), and a 24-value circadian profile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STATE_VERSION = 1


@dataclass(slots=True)
class EwState:
    # per-sample (hot path)
    last_ts: int = 0  # ms of the last accepted sample
    rest_since: int = 0  # ms of the last movement / gap / unknown activity
    hour: int = -1  # current local hour index (epoch hours)
    acc_ms: float = 0.0  # resting time accumulated in the current hour (ms)
    acc_hr_ms: float = 0.0  # sum of hr × weight
    # current local day: [hour_of_day, rhr] pairs
    day: int = -1
    day_hours: list[list[float]] = field(default_factory=list)
    day_elevated: int = 0  # scored hours of this day above z_elevated
    day_scored: int = 0
    day_flagged: bool = False  # alert open during the day -> excluded from baseline
    # baseline: accepted days [day_index, level_bpm, within_day_scale_bpm, nightly_bpm|None]
    days: list[list[Any]] = field(default_factory=list)
    excluded_run: int = 0
    profile: list[float] = field(default_factory=lambda: [0.0] * 24)
    profile_n: list[int] = field(default_factory=lambda: [0] * 24)  # days that informed each hour
    base_level: float | None = None  # None until min_baseline_days accepted
    base_scale: float = 0.0
    # scored hours: [hour_index, rhr, excess_bpm, z]
    scored: list[list[float]] = field(default_factory=list)
    cusum: float = 0.0
    # alert lifecycle (at most one open)
    open: bool = False
    open_severity: str = ""
    opened_hour: int = -1


def ew_new() -> EwState:
    return EwState()


def _r(x: float | None, nd: int = 2) -> float | None:
    return None if x is None else round(float(x), nd)


def ew_to_dict(st: EwState) -> dict[str, Any]:
    """JSON-able snapshot; floats rounded to 0.01 bpm to keep it a few KiB."""
    return {
        "v": STATE_VERSION,
        "last_ts": st.last_ts,
        "rest_since": st.rest_since,
        "hour": st.hour,
        "acc_ms": round(st.acc_ms, 1),
        "acc_hr_ms": round(st.acc_hr_ms, 1),
        "day": st.day,
        "day_hours": [[int(h), _r(v)] for h, v in st.day_hours],
        "day_elevated": st.day_elevated,
        "day_scored": st.day_scored,
        "day_flagged": st.day_flagged,
        "days": [[int(d), _r(lv), _r(sc), _r(nt)] for d, lv, sc, nt in st.days],
        "excluded_run": st.excluded_run,
        "profile": [_r(p, 3) for p in st.profile],
        "profile_n": list(st.profile_n),
        "base_level": _r(st.base_level, 3),
        "base_scale": _r(st.base_scale, 3),
        "scored": [[int(h), _r(r), _r(e), _r(z, 3)] for h, r, e, z in st.scored],
        "cusum": _r(st.cusum, 4),
        "open": st.open,
        "open_severity": st.open_severity,
        "opened_hour": st.opened_hour,
    }


def ew_from_dict(doc: dict[str, Any]) -> EwState:
    if doc.get("v") != STATE_VERSION:
        raise ValueError(f"early-warning state version {doc.get('v')!r} != {STATE_VERSION}")
    return EwState(
        last_ts=int(doc["last_ts"]),
        rest_since=int(doc["rest_since"]),
        hour=int(doc["hour"]),
        acc_ms=float(doc["acc_ms"]),
        acc_hr_ms=float(doc["acc_hr_ms"]),
        day=int(doc["day"]),
        day_hours=[[int(h), float(v)] for h, v in doc["day_hours"]],
        day_elevated=int(doc["day_elevated"]),
        day_scored=int(doc["day_scored"]),
        day_flagged=bool(doc["day_flagged"]),
        days=[[int(d), float(lv), float(sc), None if nt is None else float(nt)] for d, lv, sc, nt in doc["days"]],
        excluded_run=int(doc["excluded_run"]),
        profile=[float(p) for p in doc["profile"]],
        profile_n=[int(n) for n in doc["profile_n"]],
        base_level=None if doc["base_level"] is None else float(doc["base_level"]),
        base_scale=float(doc["base_scale"]),
        scored=[[int(h), float(r), float(e), float(z)] for h, r, e, z in doc["scored"]],
        cusum=float(doc["cusum"]),
        open=bool(doc["open"]),
        open_severity=str(doc["open_severity"]),
        opened_hour=int(doc["opened_hour"]),
    )
