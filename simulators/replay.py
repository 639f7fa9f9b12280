"""Replay a recorded stream (INTERFACE §6 JSONL/CSV, .gz, or a MIMIC-II numerics CSV) over MQTT.

The file is read first (bad rows reported with their line number and skipped, or the
whole file refused in strict mode, before anything is published), then sorted by
timestamp (stable, so each device keeps its file order) and published preserving the
relative timing, scaled by `speed` (2 = twice as fast; 0 = as fast as possible).

With `rewrite_ts` each sample's ts becomes the wall-clock time it is due, and seq is
offset by the pass's start time in ms so that a second replay is not de-duplicated as
redelivery. Looping implies rewriting. MIMIC records carry de-identified dates (years
2704, 2896) that a gateway rightly rejects, so they are always rewritten.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vitalstream.records import METRICS

from .fmt import format_values
from .publisher import BoundedPublisher
from .readers import ErrorHandler, ReadStats, read_samples
from .writers import open_text

PAYLOAD_TMPL = '{"device_id":"%s","seq":%d,"ts":%d,' + ",".join(f'"{m}":%s' for m in METRICS) + "}"


@dataclass
class Recording:
    devices: list[str]
    dev: np.ndarray  # int32 index into devices
    seq: np.ndarray  # int64
    ts: np.ndarray  # int64 epoch ms, sorted ascending
    values: np.ndarray  # (n, 7) float64, NaN = null
    stats: ReadStats
    mimic: bool

    def __len__(self) -> int:
        return int(self.ts.shape[0])


def load_recording(path: str | Path, *, strict: bool = False, on_error: ErrorHandler | None = None) -> Recording:
    stats = ReadStats()
    names: dict[str, int] = {}
    dev, seq, ts, vals = [], [], [], []
    for s in read_samples(path, strict=strict, on_error=on_error, stats=stats):
        dev.append(names.setdefault(s.device_id, len(names)))
        seq.append(s.seq)
        ts.append(s.ts_ms)
        vals.append(s.metrics())
    ts_a = np.asarray(ts, dtype=np.int64)
    order = np.argsort(ts_a, kind="stable")
    values = np.asarray(vals, dtype=np.float64).reshape(-1, 7)  # None -> nan
    with open_text(path, "r") as f:
        mimic = f.readline().startswith("t_min,timestamp_deid,")
    return Recording(
        list(names), np.asarray(dev, np.int32)[order], np.asarray(seq, np.int64)[order], ts_a[order],
        values[order], stats, mimic,
    )


@dataclass
class ReplayStats:
    rows: int
    bad_rows: int
    published: int = 0
    acked: int = 0
    passes: int = 0
    elapsed_s: float = 0.0

    @property
    def msg_rate(self) -> float:
        return self.published / self.elapsed_s if self.elapsed_s > 0 else 0.0


async def replay(
    mqtt_url: str,
    topic_root: str,
    recording: Recording,
    *,
    speed: float = 1.0,
    loop: bool = False,
    rewrite_ts: bool = False,
    max_outstanding: int = 5_000,
    progress: Callable[[ReplayStats, int], None] | None = None,
    progress_every_s: float = 5.0,
) -> ReplayStats:
    """Publish the recording (once, or until cancelled with loop=True); returns counts."""
    if speed < 0:
        raise ValueError("speed must be >= 0")
    rec = recording
    stats = ReplayStats(len(rec), rec.stats.bad)
    if len(rec) == 0:
        return stats
    rewrite = rewrite_ts or loop or rec.mimic
    topics = [f"{topic_root}/{d}" for d in rec.devices]
    cols = format_values(rec.values, "null")
    rows = list(zip(*cols))
    span_ms = int(rec.ts[-1] - rec.ts[0])
    seq_min = int(rec.seq.min())
    seq_range = int(rec.seq.max()) - seq_min + 1
    base = 0
    ev = asyncio.get_running_loop()
    pub = BoundedPublisher(mqtt_url, max_outstanding=max_outstanding)
    await pub.connect()
    t_start = ev.time()
    reporter = asyncio.create_task(_report(stats, pub, t_start, progress, progress_every_s)) if progress else None
    try:
        while True:
            t0, wall0 = ev.time(), int(time.time() * 1000)
            # Rewritten seq: from this pass's start time in ms, and past the previous pass's range.
            base = max(wall0, base + seq_range)
            offset = base - seq_min if rewrite else 0
            for r in range(len(rec)):
                rel_ms = int(rec.ts[r] - rec.ts[0])
                if speed > 0:
                    delay = t0 + rel_ms / 1000.0 / speed - ev.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    ts = wall0 + int(round(rel_ms / speed)) if rewrite else int(rec.ts[r])
                else:
                    ts = int(time.time() * 1000) if rewrite else int(rec.ts[r])
                    if r % 500 == 499:
                        await asyncio.sleep(0)
                seq = int(rec.seq[r]) + offset
                d = int(rec.dev[r])
                await pub.publish(topics[d], PAYLOAD_TMPL % (rec.devices[d], seq, ts, *rows[r]))
                stats.published += 1
            stats.passes += 1
            if not loop:
                break
            if speed > 0:  # keep the file's own spacing between the last and the first sample
                await asyncio.sleep(max(1.0, span_ms / max(len(rec) - 1, 1)) / 1000.0 / speed)
        await pub.drain(timeout_s=30.0)
    finally:
        stats.elapsed_s = ev.time() - t_start
        stats.acked = pub.acked
        if reporter:
            reporter.cancel()
        await asyncio.shield(pub.close())
    return stats


async def _report(
    stats: ReplayStats, pub: BoundedPublisher, t0: float, progress: Callable[[ReplayStats, int], None], every: float
) -> None:
    ev = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(every)
        stats.elapsed_s = ev.time() - t0
        stats.acked = pub.acked
        progress(stats, pub.outstanding)
