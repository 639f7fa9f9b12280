"""Deterministic minute-level wearer days for the early-warning tests."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from detectors.candidate import AlertCandidate
from detectors.early_warning import EwState, ew_update

T0 = 1_795_000_000_000 - 1_795_000_000_000 % 86_400_000  # a UTC midnight
DAY_S = 86_400

# excess(t_days) -> bpm added to resting HR at day t (fractional days since T0)
Excess = Callable[[float], float]


def wearer_sample(t_s: int, level: float, rng: random.Random) -> tuple[float, float]:
    """(hr, activity) at t_s seconds since T0: asleep 00-07 h, awake with a 15-min walk each hour."""
    tod = t_s % DAY_S
    hour, minute = divmod(tod // 60, 60)
    if hour < 7:
        return level - 6.0 + rng.gauss(0, 1.5), 0.0
    if minute < 15:
        return level + 35.0 + rng.gauss(0, 3.0), 0.6
    return level + 2.0 + rng.gauss(0, 1.5), 0.02


def feed(
    st: EwState,
    day0: float,
    days: float,
    *,
    base: float = 60.0,
    excess: Excess = lambda t: 0.0,
    step_s: int = 60,
    seed: int = 0,
    day_noise: float = 0.8,
    device_id: str = "dev-ew",
    skip: Callable[[int], bool] = lambda t_s: False,
) -> list[tuple[float, AlertCandidate]]:
    """Feed [day0, day0+days) into `st`; return (t_days, candidate) for every candidate emitted."""
    rng = random.Random(seed)
    day_levels: dict[int, float] = {}
    out = []
    t = int(day0 * DAY_S)
    end = int((day0 + days) * DAY_S)
    while t < end:
        if not skip(t):
            d = t // DAY_S
            if d not in day_levels:
                day_levels[d] = random.Random(seed * 1000 + d).gauss(0, day_noise)
            hr, act = wearer_sample(t, base + day_levels[d] + excess(t / DAY_S), rng)
            c = ew_update(st, device_id, T0 + t * 1000, hr, act)
            if c is not None:
                out.append((t / DAY_S, c))
        t += step_s
    return out


@pytest.fixture
def feed_days():
    return feed


@pytest.fixture
def t0() -> int:
    return T0
