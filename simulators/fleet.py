"""A live fleet: many simulated devices publishing over MQTT in real time from one asyncio process.

Vitals come from the same patient plans as offline data (plan.py/render.py). Each device's
next chunk of samples (about two minutes) is rendered in a worker thread while the current
one is published; a tick formats the due sample of every device at once (lookup-table
formatting across devices) and publishes one message per device, or one batch of `batch`
samples every `batch` ticks, the devices spread over the tick in phases 50 ms apart, as
unsynchronised wearables are (a fleet publishing all at once turns every tick into a
burst that only a simulator makes). Timestamps are real now (each sample stamped with its
phase's time); `seq` starts at round(start_ms * rate / 1000), so a rerun with the same device ids never collides with
earlier samples in the (device_id, seq) de-duplication.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vitalstream.records import METRICS

from .fmt import format_values
from .model import Event
from .patient import device_name, patient_plan
from .plan import Plan
from .publisher import BoundedPublisher
from .render import render
from .scenarios import Scenario
from .writers import write_events_jsonl

log = logging.getLogger(__name__)
SAMPLE_TMPL = '{"seq":%d,"ts":%d,' + ",".join(f'"{m}":%s' for m in METRICS) + "}"
CHUNK_S = 120.0  # seconds of samples rendered ahead per device
PHASE_MS = 50.0  # devices of a tick publish in groups this far apart
SEGMENT_S = 86_400.0  # long runs are planned a day at a time (a 10-year `vitalstream dev` fleet too)


@dataclass
class FleetStats:
    devices: int
    rate_hz: float
    published: int = 0  # MQTT messages
    samples: int = 0
    acked: int = 0
    elapsed_s: float = 0.0
    max_lag_s: float = 0.0  # how far the publisher fell behind real time
    events: list[Event] = field(default_factory=list)

    @property
    def msg_rate(self) -> float:
        return self.published / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def sample_rate(self) -> float:
        return self.samples / self.elapsed_s if self.elapsed_s > 0 else 0.0


def _render_chunk(plans: list[Plan], i0: int, i1: int) -> tuple[np.ndarray, np.ndarray]:
    vals = np.empty((len(plans), i1 - i0, 7))
    keep = np.empty((len(plans), i1 - i0), bool)
    for d, p in enumerate(plans):
        vals[d], keep[d] = render(p, i0, i1)
    return vals, keep


async def run_fleet(
    mqtt_url: str,
    topic_root: str,
    devices: int,
    rate_hz: float,
    duration_s: float,
    seed: int = 0,
    scenario: str | Scenario = "default",
    *,
    batch: int = 1,
    device_prefix: str = "sim-",
    first_index: int = 0,
    events_out: str | Path | None = None,
    max_outstanding: int = 5_000,
    progress: Callable[[FleetStats, int], None] | None = None,
    progress_every_s: float = 5.0,
) -> FleetStats:
    """Publish `devices` simulated wearables for `duration_s` seconds; cancel to stop early.

    `progress(stats, outstanding)` is called every `progress_every_s` seconds.
    """
    if devices < 1 or rate_hz <= 0 or duration_s <= 0 or batch < 1:
        raise ValueError("devices, rate_hz, duration_s and batch must be positive")
    loop = asyncio.get_running_loop()
    start_ms = int(time.time() * 1000)
    n_ticks = max(1, int(round(duration_s * rate_hz)))
    seg_ticks = max(1, int(round(SEGMENT_S * rate_hz)))
    step_ms = 1000.0 / rate_hz
    # Wearables are not synchronised: devices publish in phases PHASE_MS apart across each
    # tick (each sample stamped with its own phase's time), not all in one burst per tick.
    n_phases = max(1, min(devices, int(step_ms // PHASE_MS)))
    chunk = max(batch, int(CHUNK_S * rate_hz) // batch * batch, 1)
    names = [device_name(first_index + d, device_prefix) for d in range(devices)]
    topics = [f"{topic_root}/{n}" for n in names]
    heads = [f'{{"device_id":"{n}",' for n in names]
    labels: list[Event] = []
    current: dict[int, list[Plan]] = {}

    def prepare(seg: int, i0: int, i1: int) -> tuple[np.ndarray, np.ndarray]:
        """Runs in a worker thread, one call at a time: plans (once per segment) and one chunk."""
        if seg not in current:
            s0 = seg * seg_ticks
            ticks = min(seg_ticks, n_ticks - s0)
            plans = [
                patient_plan(first_index + d, hours=ticks / rate_hz / 3600.0, rate_hz=rate_hz, seed=seed,
                             scenario=scenario, start_ms=start_ms + int(round(s0 * step_ms)),
                             device_prefix=device_prefix, segment=seg)
                for d in range(devices)
            ]
            current.clear()
            current[seg] = plans
            labels.extend(e for p in plans for e in p.labels())
        return _render_chunk(current[seg], i0 - seg * seg_ticks, i1 - seg * seg_ticks)

    spans = [
        (c0 // seg_ticks, c0, min(c0 + chunk, (c0 // seg_ticks + 1) * seg_ticks, n_ticks))
        for seg_start in range(0, n_ticks, seg_ticks)
        for c0 in range(seg_start, min(seg_start + seg_ticks, n_ticks), chunk)
    ]
    pub = BoundedPublisher(mqtt_url, max_outstanding=max_outstanding)
    await pub.connect()
    stats = FleetStats(devices, rate_hz)
    t0, wall_ms = loop.time(), start_ms
    pending: list[list[str]] = [[] for _ in range(devices)]
    reporter = None
    try:
        first = await asyncio.to_thread(prepare, *spans[0])
        nxt: asyncio.Future[tuple[np.ndarray, np.ndarray]] = loop.create_future()
        nxt.set_result(first)
        # Real time starts now that the first chunk is ready; labels shift with it.
        t0, wall_ms = loop.time(), int(time.time() * 1000)
        seq0 = int(round(wall_ms * rate_hz / 1000.0))
        reporter = asyncio.create_task(_report(stats, pub, t0, progress, progress_every_s)) if progress else None
        for n, (_seg, c0, c1) in enumerate(spans):
            vals, keep = await nxt
            if n + 1 < len(spans):
                nxt = asyncio.ensure_future(asyncio.to_thread(prepare, *spans[n + 1]))
            for k in range(c1 - c0):
                i = c0 + k
                cols = format_values(vals[:, k, :], "null")
                phase = -1
                for j, d in enumerate(np.nonzero(keep[:, k])[0].tolist()):
                    if d * n_phases // devices != phase:  # the next phase's devices are due
                        phase = d * n_phases // devices
                        due_ms = i * step_ms + phase * step_ms / n_phases
                        lag = loop.time() - (t0 + due_ms / 1000)
                        if lag < 0:
                            await asyncio.sleep(-lag)
                        stats.max_lag_s = max(stats.max_lag_s, lag)
                        ts = wall_ms + int(round(due_ms))
                    elif j % 500 == 499:
                        await asyncio.sleep(0)  # let acks, progress and cancellation through
                    body = SAMPLE_TMPL % (seq0 + i, ts, *(col[d] for col in cols))
                    if batch == 1:
                        await pub.publish(topics[d], heads[d] + body[1:])
                        stats.published += 1
                    else:
                        pending[d].append(body)
                    stats.samples += 1
                if batch > 1 and ((i + 1) % batch == 0 or i + 1 == n_ticks):
                    await _flush(pub, topics, heads, pending, stats)
        await pub.drain(timeout_s=10.0)
    finally:
        stats.elapsed_s = loop.time() - t0
        stats.acked = pub.acked
        if reporter:
            reporter.cancel()
        await asyncio.shield(pub.close())
        end_ms = wall_ms + int(stats.elapsed_s * 1000)
        shift = wall_ms - start_ms
        stats.events = [
            Event(e.device_id, e.kind, e.start_ms + shift, e.end_ms + shift, e.severity)
            for e in list(labels)
            if e.start_ms + shift < end_ms
        ]
        if events_out is not None:
            write_events_jsonl(stats.events, events_out)
    return stats


async def _flush(
    pub: BoundedPublisher, topics: list[str], heads: list[str], pending: list[list[str]], stats: FleetStats
) -> None:
    for d, bodies in enumerate(pending):
        if bodies:
            await pub.publish(topics[d], heads[d] + '"samples":[' + ",".join(bodies) + "]}")
            stats.published += 1
            bodies.clear()


async def _report(
    stats: FleetStats, pub: BoundedPublisher, t0: float, progress: Callable[[FleetStats, int], None], every: float
) -> None:
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(every)
        stats.elapsed_s = loop.time() - t0
        stats.acked = pub.acked
        progress(stats, pub.outstanding)
