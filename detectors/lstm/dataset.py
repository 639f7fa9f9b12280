"""Training and calibration data: traces -> the exact windows the streaming state produces.

A trace is one device's samples (ts_ms (n,), values (n, 7), NaN = missing), from the
simulator or from a recorded samples file (INTERFACE §6: JSON Lines or CSV, gzip ok).
Windows are built by pushing per-minute means through the same state code the worker
runs (state.push_step), so training and serving cannot disagree on features.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from vitalstream.records import METRICS

from .features import GRID_MS, N_VITALS, window_features
from .state import lstm_state_new, push_step, window_ready


@dataclass
class Trace:
    device_id: str
    ts_ms: np.ndarray  # int64, in arrival order
    values: np.ndarray  # (n, 7) float64, NaN = missing
    events: list[dict] = field(default_factory=list)  # INTERFACE §6 event dicts (evaluation only)


@dataclass
class TraceWindows:
    device_id: str
    end_ms: np.ndarray  # (m,) int64: end of the grid step each window ends with
    windows: np.ndarray  # (m, W, F) float32


def minute_means(ts_ms: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(grid indices (k,), means (k, 7)) for the minutes that have samples; NaN where a vital was absent.

    Samples arriving after a later minute (out of order) are dropped, as the streaming state does.
    """
    b = np.asarray(ts_ms, dtype=np.int64) // GRID_MS
    keep = b >= np.maximum.accumulate(b)
    b, v = b[keep], np.asarray(values, dtype=float)[keep]
    starts = np.flatnonzero(np.concatenate([[True], b[1:] != b[:-1]]))
    seen = ~np.isnan(v)
    sums = np.add.reduceat(np.where(seen, v, 0.0), starts, axis=0)
    counts = np.add.reduceat(seen.astype(float), starts, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / counts, np.nan)
    return b[starts], means


def trace_windows(trace: Trace, stride: int = 1) -> TraceWindows:
    """Every stride-th window the streaming state would score for this trace.

    The last minute stays open in streaming (no later sample closes it), so it is left out here too.
    """
    grid, means = minute_means(trace.ts_ms, trace.values)
    state = lstm_state_new()
    ends, wins = [], []
    empty = np.full(N_VITALS, np.nan)
    for i in range(len(grid) - 1):
        had = push_step(state, means[i])
        for _ in range(min(int(grid[i + 1] - grid[i]) - 1, 60)):
            push_step(state, empty)
        if had and window_ready(state) and state.observed % stride == 0:
            ends.append((int(grid[i]) + 1) * GRID_MS)
            wins.append(window_features(state.ring))
    w = np.stack(wins) if wins else np.zeros((0, *state.ring.shape[:1], 2 * N_VITALS), np.float32)
    return TraceWindows(trace.device_id, np.asarray(ends, dtype=np.int64), w)


def simulate(devices: int, hours: float, seed: int, scenario: str, rates_hz: tuple[float, ...]) -> list[Trace]:
    """Simulated traces; device i reports at rates_hz[i % len(rates_hz)] so every rate is learnt."""
    from simulators.patient import generate_patient  # the simulators package, imported only when used

    out = []
    for i in range(devices):
        p = generate_patient(i, hours=hours, rate_hz=rates_hz[i % len(rates_hz)], seed=seed, scenario=scenario)
        events = [e.to_dict() if hasattr(e, "to_dict") else dict(e) for e in p.events]
        out.append(Trace(p.device_id, np.asarray(p.ts_ms, np.int64), np.asarray(p.values, float), events))
    return out


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def _num(x: object) -> float:
    if x is None or x == "":
        return np.nan
    return float(x)  # type: ignore[arg-type]


def _ts(x: object) -> int:
    """Epoch ms from an integer or an RFC 3339 string with a zone (INTERFACE §1)."""
    if isinstance(x, str) and not x.lstrip("-").isdigit():
        dt = datetime.fromisoformat(x)
        if dt.tzinfo is None:
            raise ValueError(f"timestamp without a zone: {x!r}")
        return int(round(dt.timestamp() * 1000))
    return int(x)  # type: ignore[call-overload]


def read_samples(path: Path) -> list[Trace]:
    """Read a recorded samples file (JSON Lines or CSV, optionally .gz) into per-device traces."""
    rows: dict[str, list[tuple[int, list[float]]]] = defaultdict(list)
    name = path.name.removesuffix(".gz")
    with _open_text(path) as fh:
        if name.endswith(".csv"):
            for r in csv.DictReader(fh):
                rows[r["device_id"]].append((_ts(r["ts"]), [_num(r.get(m)) for m in METRICS]))
        else:
            for line in fh:
                if line.strip():
                    d = json.loads(line)
                    rows[d["device_id"]].append((_ts(d["ts"]), [_num(d.get(m)) for m in METRICS]))
    traces = []
    for dev, items in sorted(rows.items()):
        items.sort(key=lambda it: it[0])
        traces.append(Trace(dev, np.array([t for t, _ in items], np.int64), np.array([v for _, v in items], float)))
    return traces


def read_events(path: Path) -> dict[str, list[dict]]:
    by_dev: dict[str, list[dict]] = defaultdict(list)
    with _open_text(path) as fh:
        for line in fh:
            if line.strip():
                e = json.loads(line)
                by_dev[e["device_id"]].append(e)
    return by_dev
