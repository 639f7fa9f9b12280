"""Per-device LSTM state as explicit data: grid resampling, baseline, window, decision memory.

The worker keeps one LstmState per device, feeds it samples with `lstm_update` (or
`lstm_feed` for a chunk), asks for `lstm_window` when a scoring is due, and persists it
with `lstm_state_to_dict` (JSON, a few KiB). Functions mutate the state in place.

Resampling: samples are averaged per vital into the open 1-minute bucket; a sample from a
later minute closes the bucket (one grid step) and, after a gap, pushes empty steps.
A sample for a minute that is already closed arrives too late to change a step the model
may already have scored: it is dropped and counted in `late`.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .features import (
    CLINICAL,
    GRID_MS,
    N_VITALS,
    WARMUP_STEPS,
    WINDOW,
    baseline_step_py,
    initial_baseline,
    window_features,
)

STATE_VERSION = 1
SCORE_EVERY_STEPS = 1  # scoring cadence: every closed grid step (once a minute)
MIN_OBSERVED_IN_WINDOW = WINDOW // 4  # fewer observed steps than this: too little to judge
REF_LEN = 240  # smoothed errors kept as the device's own normal reference (4 h at 1/min)


@dataclass
class DecisionState:
    """What lstm_decide remembers between scorings (see decide.py)."""

    err_s: float | None = None  # EWMA-smoothed score
    contrib_s: list[float] = field(default_factory=lambda: [0.0] * N_VITALS)
    ref: list[float] = field(default_factory=list)  # recent normal smoothed errors, oldest first
    above: int = 0  # consecutive scorings above the threshold
    below: int = 0  # consecutive scorings below the clear level while active
    active: bool = False
    severity: str = "low"
    opened_ms: int = 0
    peak: float = 0.0


@dataclass
class LstmState:
    bucket: int = -1  # grid index (ts_ms // GRID_MS) of the open bucket; -1 before the first sample
    sums: np.ndarray = field(default_factory=lambda: np.zeros(N_VITALS))
    counts: np.ndarray = field(default_factory=lambda: np.zeros(N_VITALS))
    ring: np.ndarray = field(default_factory=lambda: np.full((WINDOW, N_VITALS), np.nan))  # z, oldest first
    mean: np.ndarray = field(default_factory=lambda: initial_baseline()[0])
    var: np.ndarray = field(default_factory=lambda: initial_baseline()[1])
    n: np.ndarray = field(default_factory=lambda: initial_baseline()[2])
    steps: int = 0  # grid steps pushed, empty ones included
    observed: int = 0  # grid steps that had a clinical value
    since_score: int = 0  # observed steps since the last due scoring
    late: int = 0  # samples dropped because their minute had closed
    decision: DecisionState = field(default_factory=DecisionState)


def lstm_state_new() -> LstmState:
    return LstmState()


def push_step(state: LstmState, means: np.ndarray | list[float]) -> bool:
    """Append one grid step (7 minute-means, NaN = missing); True if it had a clinical value."""
    mean, var, n = state.mean.tolist(), state.var.tolist(), state.n.tolist()
    z, has_data = baseline_step_py(mean, var, n, [float(v) for v in means])
    state.mean[:], state.var[:], state.n[:] = mean, var, n
    state.ring[:-1] = state.ring[1:]
    state.ring[-1] = [_round4(v) for v in z]  # rounded so a JSON round trip is exact
    state.steps += 1
    state.observed += has_data
    state.since_score += has_data
    return has_data


def _round4(v: float) -> float:
    """np.round(v, 4) on one float: rint(v * 1e4) / 1e4, NaN and the sign of zero kept."""
    if v != v:
        return v
    y = v * 10000.0
    return math.copysign(float(round(y)), y) / 10000.0


def _close_bucket(state: LstmState, next_bucket: int) -> bool:
    """Close the open bucket and push empty steps up to next_bucket; True if the step had data."""
    means = [s / c if c > 0 else math.nan for s, c in zip(state.sums.tolist(), state.counts.tolist())]
    had = push_step(state, means)
    empty = [math.nan] * N_VITALS
    for _ in range(min(next_bucket - state.bucket - 1, WINDOW)):
        push_step(state, empty)
    state.sums[:] = 0.0
    state.counts[:] = 0.0
    state.bucket = next_bucket
    return had


def _due(state: LstmState, closed_with_data: bool) -> bool:
    if not closed_with_data or state.since_score < SCORE_EVERY_STEPS or not window_ready(state):
        return False
    state.since_score = 0
    return True


def window_ready(state: LstmState) -> bool:
    if state.observed < WARMUP_STEPS:
        return False
    observed_rows = np.any(~np.isnan(state.ring[:, list(CLINICAL)]), axis=1)
    return int(observed_rows.sum()) >= MIN_OBSERVED_IN_WINDOW


def lstm_update(state: LstmState, ts_ms: int, values: np.ndarray) -> bool:
    """Feed one sample (values (7,), METRICS order, NaN = missing). True when a scoring is due."""
    b = int(ts_ms) // GRID_MS
    if state.bucket < 0:
        state.bucket = b
    if b < state.bucket:
        state.late += 1
        return False
    closed = False
    if b > state.bucket:
        closed = _close_bucket(state, b)
    v = np.asarray(values, dtype=float)
    seen = ~np.isnan(v)
    state.sums[seen] += v[seen]
    state.counts += seen
    return _due(state, closed)


SCALAR_FEED_MAX = 4  # chunks up to this size take the per-sample path


def _update_scalar(state: LstmState, ts_ms: int, row: Any) -> bool:
    """lstm_update without numpy on the hot path (one sample, plain floats)."""
    b = ts_ms // GRID_MS
    if state.bucket < 0:
        state.bucket = b
    if b < state.bucket:
        state.late += 1
        return False
    closed = _close_bucket(state, b) if b > state.bucket else False
    sums, counts = state.sums, state.counts
    for k, x in enumerate(row):
        x = float(x)
        if x == x:  # not NaN
            sums[k] += x
            counts[k] += 1
    return _due(state, closed)


def lstm_feed(state: LstmState, ts_ms: Any, values: Any) -> bool:
    """Feed a chunk of one device's samples (ts (n,), values (n, 7)), in arrival order.

    Same result as calling lstm_update per sample, but vectorised per minute. True when a
    scoring is due for the latest window (intermediate minutes of a chunk are not scored
    separately: the latest window already contains them).
    """
    if len(ts_ms) <= SCALAR_FEED_MAX:
        # Live traffic brings one or two samples per device per batch: there a dozen numpy
        # calls per chunk cost ~10x the arithmetic (a third of the worker's detector time).
        due = False
        for t, row in zip(ts_ms, values):
            due = _update_scalar(state, int(t), row) or due
        return due
    ts = np.asarray(ts_ms, dtype=np.int64)
    vals = np.asarray(values, dtype=float).reshape(ts.size, N_VITALS)
    b = ts // GRID_MS
    if state.bucket < 0:
        state.bucket = int(b[0])
    prior = np.maximum.accumulate(np.concatenate([[state.bucket], b[:-1]]))
    keep = b >= prior
    state.late += int((~keep).sum())
    b, vals = b[keep], vals[keep]
    due = False
    starts = np.flatnonzero(np.concatenate([[True], b[1:] != b[:-1]]))
    for i, start in enumerate(starts):
        stop = starts[i + 1] if i + 1 < len(starts) else len(b)
        bucket = int(b[start])
        if bucket > state.bucket:
            due = _due(state, _close_bucket(state, bucket)) or due
        chunk = vals[start:stop]
        seen = ~np.isnan(chunk)
        state.sums += np.where(seen, chunk, 0.0).sum(axis=0)
        state.counts += seen.sum(axis=0)
    return due


def lstm_window(state: LstmState) -> np.ndarray | None:
    """The model input (WINDOW, 14) float32 for the latest closed grid step; None while warming up."""
    if not window_ready(state):
        return None
    return window_features(state.ring)


def _ring_b64(ring: np.ndarray) -> str:
    # Binary, not a list of floats: the worker checkpoints every device's state every few
    # seconds, and a 60x7 float list costs ~2 ms to build; the bytes keep NaN as NaN.
    return base64.b64encode(np.ascontiguousarray(ring, dtype="<f8").tobytes()).decode("ascii")


def lstm_state_to_dict(state: LstmState) -> dict:
    d = state.decision
    return {
        "v": STATE_VERSION,
        "bucket": state.bucket,
        "sums": state.sums.tolist(),
        "counts": state.counts.tolist(),
        "ring_b64": _ring_b64(state.ring),
        "mean": state.mean.tolist(),
        "var": state.var.tolist(),
        "n": state.n.tolist(),
        "steps": state.steps,
        "observed": state.observed,
        "since_score": state.since_score,
        "late": state.late,
        "decision": {
            "err_s": d.err_s,
            "contrib_s": list(d.contrib_s),
            "ref": list(d.ref),
            "above": d.above,
            "below": d.below,
            "active": d.active,
            "severity": d.severity,
            "opened_ms": d.opened_ms,
            "peak": d.peak,
        },
    }


def _arr(values: list) -> np.ndarray:
    return np.array([np.nan if x is None else x for x in values], dtype=float)


def lstm_state_from_dict(doc: dict) -> LstmState:
    if doc.get("v") != STATE_VERSION:
        raise ValueError(f"LSTM state version {doc.get('v')!r} is not {STATE_VERSION}; start a new state")
    if "ring_b64" in doc:
        ring = np.frombuffer(base64.b64decode(doc["ring_b64"]), dtype="<f8").astype(float).reshape(WINDOW, N_VITALS)
    else:  # the list form written before the binary one
        ring = np.array([_arr(row) for row in doc["ring"]], dtype=float).reshape(WINDOW, N_VITALS)
    return LstmState(
        bucket=int(doc["bucket"]),
        sums=np.array(doc["sums"], dtype=float),
        counts=np.array(doc["counts"], dtype=float),
        ring=ring,
        mean=np.array(doc["mean"], dtype=float),
        var=np.array(doc["var"], dtype=float),
        n=np.array(doc["n"], dtype=float),
        steps=int(doc["steps"]),
        observed=int(doc["observed"]),
        since_score=int(doc["since_score"]),
        late=int(doc["late"]),
        decision=DecisionState(**doc["decision"]),
    )
