"""Fixtures for the LSTM tests. Synthetic traces (no simulator needed): a resting patient with
sleep dips, activity bouts that raise HR and RR, cuff BP every 15 minutes, and optionally
a slow multi-vital deterioration."""

from __future__ import annotations

import numpy as np
import pytest

T0 = 1_795_000_020_000  # a fixed epoch-ms start, minute-aligned


def synth_trace(seed: int, hours: float = 4.0, rate_hz: float = 1 / 10, drift_from_h: float | None = None):
    rng = np.random.default_rng(seed)
    n = int(hours * 3600 * rate_hz)
    t_s = np.arange(n) / rate_hz
    base = np.array([68 + rng.normal(0, 5), 97.5, 14.5, 36.6, 122, 76, 0.0])
    act = np.zeros(n)
    for start in rng.uniform(0, hours * 3600, int(hours)):
        act[(t_s >= start) & (t_s < start + 600)] = rng.uniform(0.1, 0.6)
    vals = np.tile(base, (n, 1)) + rng.normal(0, 1, (n, 7)) * np.array([2.0, 0.4, 0.8, 0.05, 3, 2, 0])
    vals[:, 0] += 35 * act
    vals[:, 2] += 6 * act
    vals[:, 6] = act + np.abs(rng.normal(0, 0.01, n))
    if drift_from_h is not None:
        ramp = np.clip((t_s - drift_from_h * 3600) / 7200, 0, 1)
        vals += ramp[:, None] * np.array([40, -6, 10, 1.8, -30, -14, 0])
    cuff = (t_s % 900) < (1 / rate_hz)
    vals[~cuff, 4:6] = np.nan
    ts = T0 + (t_s * 1000).astype(np.int64)
    return ts, vals


synth_trace.T0 = T0  # type: ignore[attr-defined]


@pytest.fixture
def synth():
    """The synthetic trace generator (fixtures, because tests run with --import-mode=importlib)."""
    return synth_trace
