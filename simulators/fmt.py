"""Fast text formatting of numeric columns (lookup tables for quantised values).

Formatting ~9M samples a minute with str() per value is too slow in Python; the
simulator's values are quantised, so each column is formatted by indexing a table of
pre-built strings. Columns that are not on their grid (e.g. real recordings) fall back to
per-value formatting.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

# (scale, lo, hi, decimals) per metric, in METRICS order: value*scale must be an integer in [lo, hi].
GRIDS = (
    (1, 0, 400, 0),  # hr
    (1, 0, 150, 0),  # spo2
    (1, 0, 200, 0),  # rr
    (100, 1500, 4600, 2),  # temp
    (1, 0, 400, 0),  # sbp
    (1, 0, 400, 0),  # dbp
    (1000, 0, 20000, 3),  # activity
)


@lru_cache(maxsize=None)
def _table(scale: int, lo: int, hi: int, dec: int, null: str) -> np.ndarray:
    return np.array([f"{v / scale:.{dec}f}" for v in range(lo, hi + 1)] + [null], dtype=object)


def num(x: float) -> str:
    """Shortest JSON-compatible text of a finite float (integers without '.0')."""
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else repr(x)


def format_column(x: np.ndarray, grid: tuple[int, int, int, int], null: str) -> np.ndarray:
    """Object array of strings for one column; NaN -> `null`."""
    scale, lo, hi, dec = grid
    nan = np.isnan(x)
    scaled = np.where(nan, lo / scale, x) * scale
    q = np.round(scaled)
    if np.all(np.abs(scaled - q) < 1e-6) and (x.size == 0 or (q.min() >= lo and q.max() <= hi)):
        idx = np.where(nan, hi - lo + 1, q.astype(np.int64) - lo)
        return _table(scale, lo, hi, dec, null)[idx]
    out = np.empty(x.size, dtype=object)
    out[:] = [null if v != v else num(v) for v in x.tolist()]
    return out


def format_values(values: np.ndarray, null: str) -> list[np.ndarray]:
    return [format_column(values[:, c], GRIDS[c], null) for c in range(values.shape[1])]
