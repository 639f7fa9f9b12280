"""Random-access noise: the same (patient, sample index) always gets the same numbers.

Noise comes in aligned blocks, each from its own generator seeded with (patient key,
stream, block number). Any range of samples can therefore be rendered on its own (the
live fleet renders a few minutes at a time, the offline writer whole days) and agree
with every other rendering, without carrying filter state between chunks.
"""

from __future__ import annotations

import numpy as np

BLOCK = 1024  # samples per noise block: small enough for live chunks, large enough to amortise seeding
N_NORMAL = 9  # per-sample normal columns (6 vitals, activity x2, arrhythmia)
N_UNIFORM = 8  # per-sample uniform columns (dropouts per metric, artefacts)


def sample_noise(key: tuple[int, ...], i0: int, i1: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample (normals (m, N_NORMAL), uniforms (m, N_UNIFORM)) for sample indices [i0, i1)."""
    m = i1 - i0
    if m <= 0:
        return np.empty((0, N_NORMAL)), np.empty((0, N_UNIFORM))
    b0, b1 = i0 // BLOCK, (i1 - 1) // BLOCK
    normals, uniforms = [], []
    for b in range(b0, b1 + 1):
        rng = np.random.default_rng([1, *key, b])  # tag first: keys of any length never collide
        # float32: half the cost of float64 draws, and plenty for measurement noise
        normals.append(rng.standard_normal((BLOCK, N_NORMAL), dtype=np.float32))
        uniforms.append(rng.random((BLOCK, N_UNIFORM), dtype=np.float32))
    off = i0 - b0 * BLOCK
    n = np.concatenate(normals)[off : off + m] if len(normals) > 1 else normals[0][off : off + m]
    u = np.concatenate(uniforms)[off : off + m] if len(uniforms) > 1 else uniforms[0][off : off + m]
    return n, u


def knot_normals(key: tuple[int, ...], stream: int, k0: int, k1: int, width: int) -> np.ndarray:
    """Standard normals (k1-k0, width) for knot indices [k0, k1) of one slow-noise stream."""
    kb = 256
    b0, b1 = k0 // kb, (k1 - 1) // kb
    parts = [np.random.default_rng([2, stream, *key, b]).standard_normal((kb, width)) for b in range(b0, b1 + 1)]
    return np.concatenate(parts)[k0 - b0 * kb : k1 - b0 * kb]


def slow_noise(key: tuple[int, ...], stream: int, t: np.ndarray, period_s: float, width: int) -> np.ndarray:
    """Smooth unit-variance-ish noise (len(t), width): knots every period_s, smoothstep in between."""
    if t.size == 0:
        return np.empty((0, width))
    pos = t / period_s
    k = np.floor(pos).astype(np.int64)
    k0, k1 = int(k[0]), int(k[-1]) + 2
    knots = knot_normals(key, stream, k0, k1, width)
    frac = pos - k
    w = (frac * frac * (3.0 - 2.0 * frac))[:, None]
    a = knots[k - k0]
    b = knots[k - k0 + 1]
    # Smoothstep between independent knots loses variance mid-way; 1/sqrt(mean of w²+(1-w)²) ≈ 1.2 restores it.
    return (a * (1.0 - w) + b * w) * 1.2
