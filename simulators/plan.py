"""A patient's plan: baseline plus every schedule (sleep, activity bouts, events, artefacts, gaps).

The plan is drawn once per patient from its own seed and is cheap even for 60 days; the
vitals themselves are rendered from it for any range of samples (render.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .baseline import Baseline, draw_baseline
from .events import DAY, H, EventSpec, schedule_events
from .model import Event
from .scenarios import Scenario

ACUTE_GAP_S = 300.0
SLOW_KINDS = ("fever", "deterioration")  # events lasting hours  # no activity bout or wear gap within 5 minutes of an acute event


@dataclass(frozen=True, slots=True)
class Intervals:
    """Sorted, non-overlapping [start, end) spans in seconds with one level each."""

    start: np.ndarray
    end: np.ndarray
    level: np.ndarray

    @classmethod
    def from_lists(cls, start: list[float], end: list[float], level: list[float] | None = None) -> Intervals:
        s, e = np.asarray(start, float), np.asarray(end, float)
        lv = np.asarray(level if level is not None else np.ones(len(start)), float)
        order = np.argsort(s, kind="stable")
        s, e, lv = s[order], e[order], lv[order]
        keep = np.ones(len(s), bool)
        last_end = -np.inf
        for i in range(len(s)):  # drop spans that overlap an earlier kept one
            if s[i] < last_end:
                keep[i] = False
            else:
                last_end = e[i]
        return cls(s[keep], e[keep], lv[keep])

    def index(self, t: np.ndarray, tail: float = 0.0) -> np.ndarray:
        """Index of the span containing each t (extended by `tail` seconds), -1 if none."""
        j = np.searchsorted(self.start, t, side="right") - 1
        jj = np.maximum(j, 0)
        inside = (j >= 0) & (t < self.end[jj] + tail) if len(self.start) else np.zeros(t.shape, bool)
        return np.where(inside, j, -1)

    def envelope(self, t: np.ndarray, rise: float, fall: float, tail: float = 0.0) -> np.ndarray:
        """level x trapezoid with smoothstep ramps; with tail > 0 the fall happens after `end`."""
        if len(self.start) == 0:
            return np.zeros(t.shape)
        j = self.index(t, tail)
        jj = np.maximum(j, 0)
        up = _smooth((t - self.start[jj]) / rise)
        down = _smooth((self.end[jj] + tail - t) / fall)
        return np.where(j >= 0, self.level[jj] * np.minimum(up, down), 0.0)

    def overlaps(self, lo: float, hi: float) -> np.ndarray:
        return (self.start < hi) & (self.end > lo)


def _smooth(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


@dataclass(frozen=True, slots=True)
class Plan:
    device_id: str
    key: tuple[int, ...]  # (seed, index) or (seed, index, segment): seeds this plan's noise
    start_ms: int
    rate_hz: float
    n: int  # samples in the horizon
    base: Baseline
    scenario: Scenario
    sleep: Intervals
    bouts: Intervals  # level = intensity (g)
    events: tuple[EventSpec, ...]
    motion: Intervals  # motion-artefact bursts
    flat: Intervals  # flatlines; level = metric column
    gaps: Intervals  # no samples at all (radio loss, non-wear, charging)

    def labels(self) -> list[Event]:
        return [
            Event(
                self.device_id,
                e.kind,
                self.start_ms + int(round(e.start * 1000)),
                self.start_ms + int(round(e.labelled_end * 1000)),
                e.severity,
            )
            for e in self.events
        ]


def make_plan(
    index: int,
    *,
    hours: float,
    rate_hz: float,
    seed: int,
    scenario: Scenario,
    start_ms: int,
    device_id: str,
    segment: int = 0,
) -> Plan:
    """The plan of patient `index`. Segment k > 0 continues the same patient (same baseline)
    with fresh schedules and noise: long live runs are planned a day at a time."""
    if hours <= 0 or rate_hz <= 0:
        raise ValueError("hours and rate_hz must be > 0")
    horizon = hours * H
    key: tuple[int, ...] = (int(seed), int(index))
    r_base, r_sched, r_art = (np.random.default_rng(s) for s in np.random.SeedSequence(list(key)).spawn(3))
    base = draw_baseline(r_base)
    if segment:
        key = (*key, int(segment))
        r_sched, r_art = (np.random.default_rng(s) for s in np.random.SeedSequence(list(key)).spawn(2))
    # An explicit warm-up applies to the first planned day only; later days need none.
    warmup = scenario.warmup_s if not segment else 0.0 if scenario.warmup_s is not None else None
    events = schedule_events(r_sched, base, scenario.event_rates, horizon, scenario.infection_prob, warmup)
    sleep = _sleep(r_sched, base, start_ms, horizon)
    bouts = _bouts(r_sched, base, sleep, horizon, events)
    a = scenario.artefacts
    days = horizon / DAY
    motion = _motion(r_art, bouts, a)
    n_flat = r_art.poisson(2.0 * a * days)
    fs = r_art.uniform(0, horizon, n_flat)
    flat = Intervals.from_lists(list(fs), list(fs + r_art.uniform(20, 120, n_flat)), list(r_art.integers(0, 3, n_flat)))
    gaps = _gaps(r_art, sleep, horizon, events, a, scenario.consumer_gaps)
    n = int(round(horizon * rate_hz))
    return Plan(device_id, key, start_ms, rate_hz, n, base, scenario, sleep, bouts, tuple(events), motion, flat, gaps)


def _sleep(rng: np.random.Generator, b: Baseline, start_ms: int, horizon: float) -> Intervals:
    tod0 = (start_ms / 1000.0) % DAY
    starts, ends = [], []
    for d in range(-1, int(np.ceil(horizon / DAY)) + 1):
        bed = d * DAY + (23.0 + b.chrono_h + rng.normal(0, 0.4)) * H - tod0
        starts.append(bed)
        ends.append(bed + (b.sleep_h + rng.normal(0, 0.5)) * H)
    return Intervals.from_lists(starts, ends)


def _bouts(rng: np.random.Generator, b: Baseline, sleep: Intervals, horizon: float, events: list[EventSpec]) -> Intervals:
    starts: list[float] = []
    ends: list[float] = []
    levels: list[float] = []
    wake = list(zip(sleep.end[:-1], sleep.start[1:]))
    for lo, hi in wake:
        lo, hi = max(lo, 0.0), min(hi, horizon)
        if hi - lo < 600:
            continue
        k = rng.poisson(b.bouts_per_h * (hi - lo) / H)
        s = rng.uniform(lo, hi - 300, k)
        dur = np.clip(np.exp(rng.normal(np.log(600), 0.7, k)), 120, 3600)
        lvl = np.clip(np.exp(rng.normal(np.log(0.18), 0.5, k)), 0.05, 0.9)
        starts += list(s)
        ends += list(np.minimum(s + dur, hi))
        levels += list(lvl)
    for lo, hi in zip(sleep.start, sleep.end):  # turning over, getting up at night
        k = rng.poisson(0.8)
        s = rng.uniform(lo, hi, k)
        starts += list(s)
        ends += list(s + rng.uniform(60, 300, k))
        levels += list(rng.uniform(0.05, 0.12, k))
    s, e, lv = np.asarray(starts), np.asarray(ends), np.asarray(levels)
    keep = np.ones(len(s), bool)
    for ev in events:
        if ev.kind == "infection":
            # Activity falls and sleep breaks up as the illness builds (issue 11).
            p = ev.profile(s - ev.start)
            keep &= rng.random(len(s)) >= ev.params["activity"] * p
            lv = lv * (1.0 - 0.5 * ev.params["activity"] * p)
            continue
        near = (s < ev.end + ACUTE_GAP_S) & (e > ev.start - ACUTE_GAP_S)
        if ev.kind in SLOW_KINDS:
            # Feverish or deteriorating patients move less, but they still move.
            keep &= ~(near & (rng.random(len(s)) < 0.5))
            lv = np.where(near, lv * 0.6, lv)
        else:
            # Patients in acute trouble do not go for walks; keep short event windows free of bouts.
            keep &= ~near
    iv = Intervals.from_lists(list(s[keep]), list(e[keep]), list(lv[keep]))
    # Keep 5 minutes between bouts so a bout's recovery tail never runs into the next bout.
    keep2 = np.ones(len(iv.start), bool)
    last = -np.inf
    for i in range(len(iv.start)):
        if iv.start[i] < last + 300:
            keep2[i] = False
        else:
            last = iv.end[i]
    return Intervals(iv.start[keep2], iv.end[keep2], iv.level[keep2])


def _motion(rng: np.random.Generator, bouts: Intervals, a: float) -> Intervals:
    starts: list[float] = []
    ends: list[float] = []
    for s, e, lv in zip(bouts.start, bouts.end, bouts.level):
        if lv < 0.25:
            continue
        k = rng.poisson(a * (e - s) / 600.0)
        bs = rng.uniform(s, e, k)
        starts += list(bs)
        ends += list(bs + rng.uniform(3, 15, k))
    return Intervals.from_lists(starts, ends)


def _gaps(
    rng: np.random.Generator, sleep: Intervals, horizon: float, events: list[EventSpec], a: float, consumer: bool
) -> Intervals:
    days = horizon / DAY
    k = rng.poisson(6.0 * a * days)  # short radio dropouts
    s = list(rng.uniform(0, horizon, k))
    e = [x + d for x, d in zip(s, rng.uniform(5, 60, k))]
    if consumer:
        for lo, hi in zip(sleep.start, sleep.end):
            if rng.random() < 0.25:  # watch left off overnight
                s.append(lo - 1800)
                e.append(hi + 1800)
            else:  # charging, usually in the evening or after getting up
                c = (hi + rng.uniform(0, 2 * H)) if rng.random() < 0.5 else (lo - rng.uniform(1, 3) * H)
                s.append(c)
                e.append(c + rng.uniform(30, 90) * 60)
            if rng.random() < 0.5:  # shower / off-wrist
                c = hi + rng.uniform(0.5, 12) * H
                s.append(c)
                e.append(c + rng.uniform(10, 25) * 60)
    sa, ea = np.asarray(s), np.asarray(e)
    keep = np.ones(len(sa), bool)
    for ev in events:
        if ev.kind != "infection":  # keep labelled acute spans observable
            keep &= ~((sa < ev.end + ACUTE_GAP_S) & (ea > ev.start - ACUTE_GAP_S))
    return _union(sa[keep], ea[keep])


def _union(s: np.ndarray, e: np.ndarray) -> Intervals:
    order = np.argsort(s)
    out_s: list[float] = []
    out_e: list[float] = []
    for lo, hi in zip(s[order], e[order]):
        if out_s and lo <= out_e[-1]:
            out_e[-1] = max(out_e[-1], hi)
        else:
            out_s.append(lo)
            out_e.append(hi)
    return Intervals.from_lists(out_s, out_e)
