"""A small stand-alone cohort generator for developing and testing the early-warning detector.

Not the project simulator (simulators/ owns that, scenario "infection"); this one exists
so the detector can be measured before and independently of it, and so tests have
deterministic inputs. One sample a minute: hr and activity only, with realistic gaps
(daily charging, dropouts, some nights unworn), sleep/wake circadian rhythm, exercise
bouts, day-to-day drift, one-night confounders (alcohol, late training) and, in some
people, an infection: resting HR rising 5-15 bpm over 2-5 days before symptom onset
(shape after Mishra et al. Nat Biomed Eng 2020, Fig. 2), staying up for several days after,
with disturbed sleep and less activity. Events are labelled from the first rise to onset.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MIN_MS = 60_000
DAY_MIN = 1440
T0_MS = 1_795_000_000_000 - 1_795_000_000_000 % 86_400_000  # a UTC midnight


@dataclass(slots=True)
class SynthPerson:
    device_id: str
    ts_ms: np.ndarray  # int64, sorted
    hr: np.ndarray  # float, NaN = missing
    activity: np.ndarray  # float, NaN = missing
    events: list[dict] = field(default_factory=list)  # INTERFACE §6 event dicts


def generate_person(index: int, *, days: int = 60, seed: int = 0, infected: bool | None = None) -> SynthPerson:
    rng = np.random.default_rng([seed, index])
    n = days * DAY_MIN
    t_min = np.arange(n)
    minute_of_day = t_min % DAY_MIN
    day = t_min // DAY_MIN
    base = rng.uniform(52, 76)
    # day-to-day drift: AR(1) with ~1.2 bpm spread, plus a small weekend effect
    drift = np.zeros(days)
    for d in range(1, days):
        drift[d] = 0.7 * drift[d - 1] + rng.normal(0, 0.85)
    drift += np.where(np.arange(days) % 7 >= 5, 1.0, 0.0)
    level = base + drift[day]
    # sleep window: ~23:00-07:00 with a personal shift
    shift = int(rng.integers(-90, 91))
    mod = (minute_of_day - shift) % DAY_MIN
    asleep = (mod >= 23 * 60) | (mod < 7 * 60)
    circ = np.where(asleep, -rng.uniform(4, 9), 2.0 + 2.0 * np.sin(2 * np.pi * (mod - 9 * 60) / DAY_MIN))

    # activity: awake minutes in bouts
    act = np.zeros(n)
    p_move = rng.uniform(0.15, 0.35)
    moving = np.zeros(n, dtype=bool)
    i = 0
    while i < n:
        if not asleep[i] and rng.random() < p_move / 10:
            length = int(rng.integers(3, 45))
            moving[i : i + length] = True
            i += length
        else:
            i += 1
    act[moving] = rng.uniform(0.15, 1.2, moving.sum())
    act[~moving] = np.abs(rng.normal(0, 0.02, (~moving).sum()))
    # exertion raises HR with ~6-minute recovery
    exert = np.zeros(n)
    e = 0.0
    a_arr = act
    for k in range(n):
        e = e * 0.85 + (25.0 * a_arr[k] if a_arr[k] > 0.1 else 0.0) * 0.15
        exert[k] = e

    excess = np.zeros(n)
    events: list[dict] = []
    if infected is None:
        infected = rng.random() < 0.6
    if infected:
        onset_day = rng.uniform(24, days - 6)
        rise_days = rng.uniform(2, 5)
        mag = rng.uniform(5, 15)
        t_day = t_min / DAY_MIN
        start = onset_day - rise_days
        ramp = np.clip((t_day - start) / rise_days, 0, 1)
        after = t_day - onset_day
        plateau = rng.uniform(3, 7)
        decay = np.clip(1 - (after - plateau) / 3, 0, 1)
        excess = mag * np.where(after < plateau, ramp, decay)
        ill = excess > 0.5 * mag
        # activity down, sleep disturbed (wake bouts at night) while unwell
        act[ill & moving] *= 0.4
        wake = ill & asleep & (rng.random(n) < 0.04)
        act[wake] = rng.uniform(0.12, 0.4, wake.sum())
        events.append(
            {
                "device_id": f"ew-{index:04d}",
                "kind": "infection",
                "start": int(T0_MS + start * 86_400_000),
                "end": int(T0_MS + onset_day * 86_400_000),
                "severity": "medium",
            }
        )
    # one-night confounders: ~2 a month, +4-8 bpm for most of a night
    blips = np.zeros(n)
    for d in range(days):
        if rng.random() < 2 / 30:
            s = d * DAY_MIN + (23 * 60 + shift) % DAY_MIN
            blips[s : s + int(rng.integers(300, 600))] = rng.uniform(4, 8)

    hr = level + circ + exert + excess + blips + rng.normal(0, 2.5, n)
    # gaps: daily charging 45-90 min while awake, random dropouts, some unworn nights
    keep = np.ones(n, dtype=bool)
    night_off = rng.random() < 0.3
    for d in range(days):
        c = d * DAY_MIN + int(rng.integers(9 * 60, 21 * 60))
        keep[c : c + int(rng.integers(45, 90))] = False
        if night_off and rng.random() < 0.4:
            s = d * DAY_MIN + (23 * 60 + shift) % DAY_MIN
            keep[s : s + 8 * 60] = False
    drop = rng.random(n) < 0.02  # single missed minutes
    keep &= ~drop
    idx = np.nonzero(keep)[0]
    return SynthPerson(
        device_id=f"ew-{index:04d}",
        ts_ms=(T0_MS + idx.astype(np.int64) * MIN_MS),
        hr=np.round(hr[idx]),
        activity=np.round(act[idx], 3),
        events=events,
    )
