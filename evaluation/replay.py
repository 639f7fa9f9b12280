"""Offline replay: every device's samples through the same Pipeline the worker runs.

Time advances in slices (default one minute of device time) across all devices at once,
the way the live worker sees a fleet: each device's samples of the slice go through
`Pipeline.observe` in one call, and the devices whose LSTM became due are scored together
in one batched forward pass (`Pipeline.score_lstm`). What comes out is the candidate stream
the alert engine would receive, in time order per device.
"""

from __future__ import annotations

import heapq
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from detectors.candidate import AlertCandidate
from detectors.pipeline import Pipeline

from .series import DeviceSeries


@dataclass(slots=True)
class ReplayResult:
    candidates: list[AlertCandidate] = field(default_factory=list)  # sorted by (device, ts)
    samples: int = 0
    lstm_windows: int = 0
    lstm_batches: int = 0
    seconds: float = 0.0


def replay(series: dict[str, DeviceSeries], pipeline: Pipeline, *, slice_s: float = 60.0,
           progress: Callable[[float], None] | None = None) -> ReplayResult:
    out = ReplayResult()
    t0 = time.perf_counter()
    slice_ms = int(slice_s * 1000)
    total = sum(len(s) for s in series.values()) or 1
    states = {dev: pipeline.new_state(dev) for dev in series}
    # Per device: slice index of every sample, and a cursor; a heap yields slices in time order.
    slices = {dev: s.ts_ms // slice_ms for dev, s in series.items()}
    cursor = {dev: 0 for dev in series}
    heap = [(int(slices[dev][0]), dev) for dev, s in series.items() if len(s)]
    heapq.heapify(heap)
    per_device: dict[str, list[AlertCandidate]] = {dev: [] for dev in series}
    done, last_report = 0, 0.0
    while heap:
        current = heap[0][0]
        due = []
        while heap and heap[0][0] == current:
            _, dev = heapq.heappop(heap)
            s, i0 = series[dev], cursor[dev]
            i1 = int(np.searchsorted(slices[dev], current, side="right"))
            step = pipeline.observe(states[dev], s.samples(i0, i1))
            per_device[dev] += step.candidates
            done += i1 - i0
            cursor[dev] = i1
            if step.lstm_due:
                due.append(dev)
            if i1 < len(s):
                heapq.heappush(heap, (int(slices[dev][i1]), dev))
        if due:
            results = pipeline.score_lstm([states[d] for d in due])
            out.lstm_batches += 1
            for dev, r in zip(due, results):
                out.lstm_windows += sum(1 for sc in r.scores if sc.detector == "lstm")
                per_device[dev] += r.candidates
        if progress is not None and (done / total - last_report >= 0.01 or not heap):
            last_report = done / total
            progress(last_report)
    for dev in sorted(per_device):
        out.candidates += sorted(per_device[dev], key=lambda c: c.ts_ms)
    out.samples = done
    out.seconds = time.perf_counter() - t0
    return out


def stderr_progress(label: str) -> Callable[[float], None]:
    """Progress on stderr (stdout stays clean for the report): a live bar on a terminal,
    a line every 10 % elsewhere (logs, CI)."""
    start = time.perf_counter()
    tty = sys.stderr.isatty()
    shown = [-1]

    def show(frac: float) -> None:
        width = 30
        filled = int(frac * width)
        elapsed = time.perf_counter() - start
        eta = elapsed / frac - elapsed if frac > 0 else 0.0
        line = f"{label} [{'#' * filled}{'.' * (width - filled)}] {frac:5.1%} {elapsed:6.0f}s elapsed, ~{eta:4.0f}s left"
        if tty:
            sys.stderr.write("\r" + line + ("\n" if frac >= 1.0 else ""))
        elif int(frac * 10) != shown[0]:
            shown[0] = int(frac * 10)
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    return show
