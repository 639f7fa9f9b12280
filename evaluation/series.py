"""Recorded samples as compact per-device arrays (what the offline replay walks through).

Millions of samples as Python objects would not fit a laptop's memory; one float array
per device does. Loaded from simulator traces directly, or from files through the
simulators' readers (INTERFACE §6 JSON Lines / CSV / .gz, and the MIMIC-II numerics CSV).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vitalstream.records import METRICS, Sample


@dataclass(slots=True)
class DeviceSeries:
    device_id: str
    ts_ms: np.ndarray  # int64, sorted
    seq: np.ndarray  # int64
    values: np.ndarray  # float64 (n, 7), METRICS order, NaN = missing

    def __len__(self) -> int:
        return int(self.ts_ms.shape[0])

    @property
    def days(self) -> float:
        """Observed span in days (first to last sample), the denominator of per-day rates."""
        if len(self) < 2:
            return 0.0
        return float(self.ts_ms[-1] - self.ts_ms[0]) / 86_400_000

    def samples(self, i0: int, i1: int) -> list[Sample]:
        dev = self.device_id
        out = []
        for seq, ts, row in zip(self.seq[i0:i1].tolist(), self.ts_ms[i0:i1].tolist(), self.values[i0:i1].tolist()):
            out.append(Sample(dev, seq, ts, *[None if math.isnan(v) else v for v in row]))
        return out


def from_trace(trace: Any) -> DeviceSeries:
    """From a simulators.PatientTrace (already sorted arrays)."""
    return DeviceSeries(trace.device_id, np.asarray(trace.ts_ms, np.int64), np.asarray(trace.seq, np.int64),
                        np.asarray(trace.values, np.float64))


def from_samples(samples: Iterable[Sample]) -> dict[str, DeviceSeries]:
    # array('d') per device: 72 bytes a sample instead of ~250 for tuples of floats.
    rows: dict[str, array[float]] = {}
    nan = math.nan
    for s in samples:
        buf = rows.get(s.device_id)
        if buf is None:
            buf = rows[s.device_id] = array("d")
        buf.extend((s.ts_ms, s.seq, *[nan if v is None else v for v in s.metrics()]))
    out: dict[str, DeviceSeries] = {}
    width = 2 + len(METRICS)
    for dev, buf in rows.items():
        arr = np.frombuffer(buf, dtype=np.float64).reshape(-1, width)
        order = np.argsort(arr[:, 0], kind="stable")
        arr = arr[order]
        out[dev] = DeviceSeries(dev, arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), arr[:, 2:2 + len(METRICS)])
    return out


def sample_files(paths: Iterable[str | Path]) -> list[Path]:
    """Files named directly, plus every file inside a named directory (sorted)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith(".")
                          and f.suffix.lower() in (".csv", ".jsonl", ".json", ".gz", ".ndjson"))
        elif p.exists():
            out.append(p)
        else:
            raise FileNotFoundError(f"samples file not found: {p}")
    return out


def load_samples(paths: Iterable[str | Path], progress: Callable[[str], None] | None = None) -> dict[str, DeviceSeries]:
    from simulators import ReadStats, read_samples

    def chain() -> Iterator[Sample]:
        for f in sample_files(paths):
            stats = ReadStats()
            yield from read_samples(f, stats=stats)
            if progress:
                progress(f"read {f}: {stats.rows} samples, {stats.bad} malformed rows skipped")

    series = from_samples(chain())
    return series
