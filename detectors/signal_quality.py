"""Signal quality per vital: sensor off / dropout, flatline, motion artefact.

Each vital of a device gets a small tracker fed one value per sample (None when the
sample did not carry it). The tracker answers whether the value is usable now and
whether the vital's signal should be reported as lost:

- invalid: a value outside what a sensor can physiologically report (a monitor writes 0
  when the probe is off, e.g. MIMIC numerics) counts as missing, not as bradycardia.
- dropout / sensor off: a vital the device normally reports has been missing for longer
  than max(`lost_s`, `lost_intervals` × its usual reporting interval), so a once-a-minute
  wearable is not declared lost after one late sample and a 15-minute BP cuff is judged
  against its own cadence.
- flatline: the same value repeated exactly for FLATLINE_S seconds and FLATLINE_N
  readings (a stuck sensor or a frozen front end; real vitals jitter).
- motion artefact: an implausible jump between consecutive values while the wearer is
  moving (accelerometer activity ≥ `artefact_activity`); the vital is distrusted for
  `artefact_hold_s` and, if artefacts keep coming for `artefact_lost_s`, reported lost.

A distrusted vital is withheld from the clinical detectors (rules, NEWS2, the LSTM's
window) and `signal.lost` is raised instead, so a probe falling off does not page anyone
as a desaturation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# What a working sensor can report; outside this it is a sensor fault, not physiology
# (wider than any survivable value, so real extremes still reach the rules).
VALID_RANGE: dict[str, tuple[float, float]] = {
    "hr": (20.0, 300.0),
    "spo2": (40.0, 100.0),
    "rr": (1.0, 80.0),
    "temp": (30.0, 45.0),  # a thermistor in room air reads below 30 °C; a worn one does not
    "sbp": (40.0, 300.0),
    "dbp": (15.0, 200.0),
}
# Largest believable change between consecutive samples a few seconds apart; bigger
# jumps while moving are motion artefacts (PPG heart rate and SpO2 are the classic victims).
JUMP_LIMIT: dict[str, float] = {"hr": 30.0, "spo2": 6.0, "rr": 12.0, "temp": 1.5, "sbp": 40.0, "dbp": 30.0}
# Exact repeats this long, over at least this many readings, mean a stuck sensor. Devices
# report integers, so a stable patient read once a minute repeats by chance: the reading
# count keeps that from looking stuck (SpO2 repeats most: ~0.5 % resolution, little noise).
# Temperature and cuff BP legitimately repeat, so they are not flatline-checked.
FLATLINE_S: dict[str, float] = {"hr": 300.0, "spo2": 900.0, "rr": 300.0}
FLATLINE_N: dict[str, int] = {"hr": 30, "spo2": 60, "rr": 30}
SPO2_CEILING = 99.0  # a patient on oxygen sits at 99-100 % for hours: a flat ceiling is not a stuck probe


@dataclass(frozen=True, slots=True)
class SqiConfig:
    lost_s: float = 30.0
    lost_intervals: float = 3.5
    lost_min_n: int = 3  # ...and at least this many samples in a row without it (a radio gap is not a lost sensor)
    artefact_activity: float = 0.15  # g: moving (walking is ~0.2-0.3 g); PPG artefacts come with movement
    artefact_window_s: float = 15.0  # only jumps between samples this close count
    artefact_hold_s: float = 30.0
    artefact_lost_s: float = 120.0
    track_after_n: int = 3  # a vital is tracked (may be 'lost') once seen this often
    forget_s: float = 12 * 3600.0  # a vital missing this long is no longer expected


@dataclass(slots=True)
class VitalQuality:
    """Mutable per-(device, vital) tracker state; plain data for persistence."""

    seen: int = 0
    miss_n: int = 0  # samples in a row without a usable value
    last_ts: int | None = None  # last usable (present, valid) value
    last_value: float | None = None
    interval_s: float | None = None  # EWMA of the interval between present values
    flat_value: float | None = None
    flat_since: int | None = None
    flat_n: int = 0
    artefact_until: int | None = None
    artefact_since: int | None = None  # start of the current run of artefacts
    reason: str | None = None  # why the vital is distrusted now (None: usable)
    lost: bool = False  # reported as lost (signal.lost)

    def to_list(self) -> list[Any]:
        return [self.seen, self.miss_n, self.last_ts, self.last_value, self.interval_s, self.flat_value, self.flat_since,
                self.flat_n, self.artefact_until, self.artefact_since, self.reason, self.lost]

    @classmethod
    def from_list(cls, raw: list[Any]) -> VitalQuality:
        return cls(*raw)


@dataclass(slots=True)
class SqiResult:
    usable: float | None  # the value to hand the clinical detectors, None if distrusted
    reason: str | None = None  # "missing" | "invalid" | "flatline" | "artefact" (None: fine)
    lost: bool = False
    detail: dict[str, Any] | None = None  # what the signal.lost evidence says (set when `lost` can be)


_ANY = (float("-inf"), float("inf"))


def valid(vital: str, value: float | None) -> bool:
    if value is None or value != value:
        return False
    lo, hi = VALID_RANGE.get(vital, (float("-inf"), float("inf")))
    return lo <= value <= hi


def sqi_step(cfg: SqiConfig, vital: str, q: VitalQuality, ts_ms: int, value: float | None,
             activity: float | None) -> SqiResult:
    """Advance one vital's tracker by one sample."""
    if value is None or value != value:
        return _absent(cfg, q, ts_ms, "missing")
    lo, hi = VALID_RANGE.get(vital, _ANY)
    if not lo <= value <= hi:
        return _absent(cfg, q, ts_ms, "invalid")
    prev_ts, prev_value = q.last_ts, q.last_value
    if prev_ts is not None and ts_ms > prev_ts:
        gap = (ts_ms - prev_ts) / 1000
        # A gap that made the vital 'lost' says nothing about its reporting cadence.
        if not q.lost:
            q.interval_s = gap if q.interval_s is None else 0.9 * q.interval_s + 0.1 * gap
    q.seen += 1
    q.miss_n = 0
    q.last_ts, q.last_value = ts_ms, value
    # Flatline: exact repeats.
    if q.flat_value is not None and value == q.flat_value:
        q.flat_n += 1
    else:
        q.flat_value, q.flat_since, q.flat_n = value, ts_ms, 1
    flat_s = FLATLINE_S.get(vital)
    if flat_s is not None and q.flat_n >= FLATLINE_N[vital] and q.flat_since is not None \
            and ts_ms - q.flat_since >= flat_s * 1000 and not (vital == "spo2" and value >= SPO2_CEILING):
        q.reason, q.lost = "flatline", True
        return SqiResult(None, "flatline", True, {"value": value, "since": q.flat_since})
    # Motion artefact: a jump too fast to be physiology, while moving.
    moving = activity is not None and activity >= cfg.artefact_activity
    if (moving and prev_value is not None and prev_ts is not None
            and 0 < ts_ms - prev_ts <= cfg.artefact_window_s * 1000
            and abs(value - prev_value) > JUMP_LIMIT.get(vital, float("inf"))):
        q.artefact_until = ts_ms + int(cfg.artefact_hold_s * 1000)
        q.artefact_since = ts_ms if q.artefact_since is None else q.artefact_since
    if q.artefact_until is not None and ts_ms <= q.artefact_until:
        assert q.artefact_since is not None
        q.reason = "artefact"
        q.lost = ts_ms - q.artefact_since >= cfg.artefact_lost_s * 1000
        return SqiResult(None, "artefact", q.lost, {"since": q.artefact_since})
    q.artefact_until = q.artefact_since = None
    q.reason, q.lost = None, False
    return SqiResult(value)


def _absent(cfg: SqiConfig, q: VitalQuality, ts_ms: int, reason: str) -> SqiResult:
    q.miss_n += 1
    if q.seen < cfg.track_after_n or q.last_ts is None:
        return SqiResult(None, reason)  # never reported regularly: nothing to lose
    missing_s = (ts_ms - q.last_ts) / 1000
    if missing_s >= cfg.forget_s:
        q.seen, q.reason, q.lost = 0, None, False  # the device stopped reporting it for good
        return SqiResult(None, reason)
    expected = max(cfg.lost_s, cfg.lost_intervals * (q.interval_s or 0.0))
    q.reason = reason
    q.lost = missing_s >= expected and q.miss_n >= cfg.lost_min_n
    return SqiResult(None, reason, q.lost, {"missing_s": missing_s, "since": q.last_ts})
