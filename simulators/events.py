"""Clinical events: when they happen, how big they are, and how they move the vitals.

An event rises gradually (smoothstep over `on_s`), holds for `plat_s`, and returns to
baseline over `off_s`; its label spans start .. start+on+plat+off, i.e. until the vitals
are back close to baseline. The exception is `infection`, labelled from the first rise of
resting HR to symptom onset (issue 11), while its effects last days longer.

Thresholds behind the severities follow the NEWS2 bands (Royal College of Physicians,
National Early Warning Score 2, 2017): SpO2 <= 91 %, HR <= 40 or >= 131, SBP <= 90,
temperature >= 39.1 °C each score 3.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .baseline import Baseline

H = 3600.0
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class EventSpec:
    kind: str
    start: float  # seconds since the trace start
    on_s: float
    plat_s: float
    off_s: float
    severity: str
    params: dict[str, float] = field(default_factory=dict)
    label_end: float | None = None  # None: start + on + plat + off

    @property
    def end(self) -> float:
        return self.start + self.on_s + self.plat_s + self.off_s

    @property
    def labelled_end(self) -> float:
        return self.end if self.label_end is None else self.label_end

    def profile(self, tau: np.ndarray) -> np.ndarray:
        """0..1 intensity at tau seconds after start: smoothstep up, hold, smoothstep down."""
        if self.kind == "sensor_off":  # a detachment is abrupt, not a ramp
            return ((tau >= 0) & (tau < self.end - self.start)).astype(float)
        up = _smooth(tau / self.on_s)
        down = _smooth((self.end - self.start - tau) / self.off_s)
        if self.kind == "deterioration":
            up = np.clip(tau / self.on_s, 0.0, 1.0) ** 2.5  # slow, accelerating drift: normal for hours
        return np.minimum(up, down)


def _smooth(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _sev(value: float, high: float, medium: float, falling: bool) -> str:
    if falling:
        return "high" if value <= high else "medium" if value <= medium else "low"
    return "high" if value >= high else "medium" if value >= medium else "low"


def draw_event(kind: str, rng: np.random.Generator, b: Baseline) -> EventSpec:
    """Shape and size of one event of `kind` (start is filled in by the scheduler)."""
    u = rng.uniform
    if kind == "desaturation":
        nadir = u(80.0, 90.0)
        return EventSpec(kind, 0, u(120, 420), u(240, 1500), u(120, 360), _sev(nadir, 84, 88, True), {"spo2": nadir})
    if kind == "tachycardia":
        peak = u(118.0, 160.0)
        return EventSpec(kind, 0, u(90, 300), u(480, 2700), u(180, 600), _sev(peak, 140, 128, False), {"hr": peak})
    if kind == "bradycardia":
        low = u(34.0, 46.0)
        return EventSpec(kind, 0, u(90, 300), u(480, 2100), u(120, 420), _sev(low, 38, 42, True), {"hr": low})
    if kind == "fever":
        peak = u(38.3, 40.0)
        return EventSpec(kind, 0, u(1, 2.5) * H, u(2, 6) * H, u(1, 2.5) * H, _sev(peak, 39.5, 38.9, False), {"temp": peak})
    if kind == "hypotension":
        sbp = u(72.0, 88.0)
        # Long enough for at least three cuff readings at a 15-minute cycle.
        return EventSpec(
            kind, 0, u(300, 900), u(2700, 5400), u(600, 1200), _sev(sbp, 78, 84, True),
            {"sbp": sbp, "dbp": sbp * b.dbp / b.sbp * u(0.9, 1.0)},  # pulse pressure narrows with SBP
        )
    if kind == "deterioration":
        p = {"hr": u(32, 48), "rr": u(8, 13), "temp": u(1.3, 2.2), "sbp": u(22, 38), "dbp": u(10, 18), "spo2": u(4, 7)}
        return EventSpec(kind, 0, u(4, 10) * H, u(1, 2) * H, u(2, 4) * H, "high", p)
    if kind == "arrhythmia":
        sd = u(6.0, 14.0)
        shift = u(10.0, 40.0)
        sev = "high" if b.hr + shift >= 120 else "medium"
        return EventSpec(kind, 0, u(45, 120), u(600, 5400), u(45, 120), sev, {"hr": shift, "sd": sd})
    if kind == "sensor_off":
        return EventSpec(kind, 0, 0.0, float(np.exp(rng.normal(np.log(480), 0.6)).clip(150, 3600)), 0.0, "low")
    if kind == "infection":
        rise = u(2, 5) * DAY  # Mishra et al., Nat Biomed Eng 2020: RHR rises days before symptoms
        p = {"hr": u(5.0, 15.0), "temp": u(0.3, 0.6), "sleep": u(0.4, 0.7), "activity": u(0.3, 0.5)}
        return EventSpec(kind, 0, rise, u(1, 3) * DAY, u(3, 6) * DAY, "medium", p, label_end=None)
    raise ValueError(f"unknown event kind {kind!r}")


def schedule_events(
    rng: np.random.Generator, b: Baseline, rates: dict[str, float], horizon_s: float, infection_prob: float,
    warmup_s: float | None = None,
) -> list[EventSpec]:
    """Place events at random, never overlapping (30 min apart), all inside the horizon."""
    days = horizon_s / DAY
    wanted: list[str] = []
    for kind in sorted(rates):
        wanted += [kind] * int(rng.poisson(rates[kind] * days))
    # Longest first, so the long ones still find room.
    order = {"deterioration": 0, "fever": 1, "hypotension": 2}
    wanted.sort(key=lambda k: order.get(k, 3))
    placed: list[EventSpec] = []
    if infection_prob > 0 and rng.random() < infection_prob:
        inf = draw_event("infection", rng, b)
        earliest = min(21 * DAY, 0.4 * horizon_s)  # weeks of baseline first
        latest = horizon_s - inf.end + inf.start
        if latest > earliest:
            start = float(rng.uniform(earliest, latest))
            placed.append(_at(inf, start, label_end=start + inf.on_s))
    # Keep events apart and leave detectors a warm-up (half an hour, less in short runs).
    gap = lead = min(1800.0, 0.1 * horizon_s)
    if warmup_s is not None:
        lead = warmup_s
    for kind in wanted:
        spec = draw_event(kind, rng, b)
        span = spec.end - spec.start
        for _ in range(30):
            if horizon_s - span <= lead:
                break
            start = float(rng.uniform(lead, horizon_s - span))
            if all(start + span + gap <= e.start or start >= e.end + gap for e in placed if e.kind != "infection"):
                placed.append(_at(spec, start))
                break
    placed.sort(key=lambda e: e.start)
    return placed


def _at(spec: EventSpec, start: float, label_end: float | None = None) -> EventSpec:
    return EventSpec(
        spec.kind, start, spec.on_s, spec.plat_s, spec.off_s, spec.severity, spec.params, label_end
    )
