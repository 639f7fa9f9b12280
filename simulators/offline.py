"""Offline generation: a labelled cohort written at simulated time, as fast as the disk takes it.

Patients are independent, so with jobs > 1 worker processes generate and format (and,
for .gz, compress: concatenated gzip members are one valid gzip file) whole patients
while this process writes them in order; the output is byte-identical for any `jobs`.
"""

from __future__ import annotations

import gzip
import multiprocessing as mp
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .model import Event
from .patient import DEFAULT_START_MS, generate_patient
from .scenarios import Scenario, get_scenario
from .writers import CSV_HEADER, trace_lines, write_events_jsonl


@dataclass(frozen=True)
class OfflineStats:
    devices: int
    samples: int
    events: int
    elapsed_s: float

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.elapsed_s if self.elapsed_s > 0 else 0.0


class ProgressBar:
    """A one-line progress bar on a terminal (or a line every 10 % elsewhere)."""

    def __init__(self, total: int, out: TextIO | None = None, width: int = 30):
        self.total, self.width, self.out = max(total, 1), width, out or sys.stderr
        self.t0 = time.perf_counter()
        self.tty = self.out.isatty()
        self._last_decile = -1

    def update(self, done: int, samples: int) -> None:
        frac = done / self.total
        rate = samples / max(time.perf_counter() - self.t0, 1e-9)
        bar = "#" * int(frac * self.width)
        line = f"[{bar:<{self.width}}] {done}/{self.total} patients, {samples:,} samples, {rate:,.0f} samples/s"
        if self.tty:
            self.out.write("\r" + line)
            self.out.flush()
        elif int(frac * 10) != self._last_decile:
            self._last_decile = int(frac * 10)
            self.out.write(line + "\n")

    def close(self) -> None:
        if self.tty:
            self.out.write("\n")


@dataclass(frozen=True)
class _Job:
    hours: float
    rate_hz: float
    seed: int
    scenario: Scenario
    start_ms: int
    device_prefix: str
    csv: bool
    gz: bool


def _patient_bytes(job: _Job, index: int) -> tuple[bytes, list[Event], int]:
    tr = generate_patient(
        index, hours=job.hours, rate_hz=job.rate_hz, seed=job.seed, scenario=job.scenario,
        start_ms=job.start_ms, device_prefix=job.device_prefix,
    )
    data = trace_lines(tr, job.csv).encode()
    if job.gz:
        data = gzip.compress(data, compresslevel=1, mtime=0)
    return data, tr.events, len(tr)


def _star(args: tuple[_Job, int]) -> tuple[bytes, list[Event], int]:
    return _patient_bytes(*args)


def default_jobs() -> int:
    """One core stays with the writer; on 2 cores a worker measured no faster than inline."""
    return max(1, min(4, (os.cpu_count() or 1) - 1))


def run_offline(
    *,
    devices: int,
    hours: float,
    rate_hz: float,
    seed: int,
    scenario: str | Scenario,
    samples_out: str | Path,
    events_out: str | Path | None,
    start_ms: int = DEFAULT_START_MS,
    device_prefix: str = "sim-",
    first_index: int = 0,
    progress: bool = True,
    jobs: int | None = None,
) -> OfflineStats:
    t0 = time.perf_counter()
    out = str(samples_out)
    job = _Job(
        hours, rate_hz, seed, get_scenario(scenario), start_ms, device_prefix,
        csv=out.removesuffix(".gz").endswith(".csv"), gz=out.endswith(".gz"),
    )
    events: list[Event] = []
    done = samples = 0
    bar = ProgressBar(devices) if progress else None
    jobs = default_jobs() if jobs is None else max(1, jobs)
    indices = range(first_index, first_index + devices)
    with open(out, "wb") as f:
        if job.csv:
            head = (CSV_HEADER + "\n").encode()
            f.write(gzip.compress(head, compresslevel=1, mtime=0) if job.gz else head)
        for data, evs, n in _results(job, indices, jobs):
            f.write(data)
            events.extend(evs)
            done += 1
            samples += n
            if bar:
                bar.update(done, samples)
    if bar:
        bar.close()
    if events_out is not None:
        write_events_jsonl(events, events_out)
    return OfflineStats(devices, samples, len(events), time.perf_counter() - t0)


def _results(job: _Job, indices: range, jobs: int) -> Iterator[tuple[bytes, list[Event], int]]:
    if jobs == 1 or len(indices) < 2:
        for i in indices:
            yield _patient_bytes(job, i)
        return
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    with ctx.Pool(jobs) as pool:
        # Ordered, a few patients ahead at most (each is ~10 MB of text per day at 1 Hz).
        yield from pool.imap(_star, ((job, i) for i in indices), chunksize=1)
