"""Error smoothing and nonparametric dynamic thresholding after Hundman et al., KDD 2018
("Detecting Spacecraft Anomalies Using LSTMs and Nonparametric Dynamic Thresholding").

Re-implemented from the paper as small pure functions:
- ewma: exponentially weighted smoothing of raw errors (paper §3.2, e_s);
- hundman_epsilon: the threshold eps = mean + z*sd over a history of smoothed errors,
  with z chosen to maximise the relative drop in mean and sd of the errors left below
  eps, penalised by the number of points and sequences above it (paper eq. 4-6);
- is_pruned: the paper's false-positive mitigation (§3.3): an anomalous sequence whose
  peak is within p of the largest normal error is not an anomaly.
"""

from __future__ import annotations

import numpy as np

Z_VALUES = np.arange(2.5, 12.0, 0.5)  # the paper searches z over a small range of sd multiples
PRUNE_P = 0.13  # minimum relative drop (paper: p = 0.13 on SMAP/MSL)


def ewma(prev: float | None, value: float, alpha: float) -> float:
    return float(value) if prev is None else float(prev + alpha * (value - prev))


def ewma_vec(prev: np.ndarray, value: np.ndarray, alpha: float, first: bool) -> np.ndarray:
    return np.array(value, dtype=float) if first else prev + alpha * (np.asarray(value) - prev)


def _sequence_count(above: np.ndarray) -> int:
    """Number of runs of consecutive True values."""
    if not above.any():
        return 0
    starts = above & ~np.concatenate([[False], above[:-1]])
    return int(starts.sum())


def hundman_epsilon(errors: np.ndarray, z_values: np.ndarray = Z_VALUES) -> float:
    """Dynamic threshold over a history of smoothed errors (paper eq. 4-6).

    If no z separates anything (a history without outliers), eps is the history's maximum:
    nothing in it is anomalous, so the device's threshold sits at the top of its own record.
    """
    e = np.asarray(errors, dtype=float)
    mu, sd = float(e.mean()), float(e.std())
    if sd <= 0.0 or mu <= 0.0:
        return mu
    best_eps, best_score = float(e.max()), -np.inf
    for z in z_values:
        eps = mu + float(z) * sd
        above = e > eps
        n_above = int(above.sum())
        if n_above == 0 or n_above >= 0.5 * e.size:
            continue
        below = e[~above]
        delta_mu = (mu - below.mean()) / mu
        delta_sd = (sd - below.std()) / sd
        n_seq = _sequence_count(above)
        score = (delta_mu + delta_sd) / (n_seq**2 + n_above)
        if score > best_score:
            best_score, best_eps = score, eps
    return best_eps


def is_pruned(peak: float, normal_max: float, p: float = PRUNE_P) -> bool:
    """True when the anomalous peak is not at least a fraction p above the largest normal error."""
    if peak <= 0.0:
        return True
    return (peak - normal_max) / peak < p
