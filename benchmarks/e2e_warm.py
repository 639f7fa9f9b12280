"""Detector states an hour old, for the end-to-end benchmark's fleet.

A device's LSTM scores only once it has an hour of minute-means (detectors/lstm), and
its checkpoint grows to its steady size with it, so a benchmark of a few minutes on
fresh devices never runs a single LSTM inference and checkpoints states a third of
their real size. Before the first step the benchmark therefore writes, into the worker's
state changelog, a state per fleet device whose LSTM has seen the last 70 minutes of a
simulated patient (1/min, scenario `normal`). The worker, restarted,
recovers them like any checkpoint, and from the first minute boundary of a step every
device is scored once a minute, as in production.

Only the LSTM part is aged: the rules, NEWS2 and signal quality keep seconds to minutes
of memory and reach their steady cost within a step anyway; the resting-HR early
warning ages over days and is left fresh. The dedup memory (seqs) stays empty, so no
fleet sample is mistaken for a redelivery.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

HISTORY_MIN = 70  # > the LSTM's 60-minute warm-up


def warm_states(device_ids: list[str], end_ms: int, seed: int = 1, histories: int = 200,
                progress: Callable[[str], None] | None = None) -> dict[str, bytes]:
    """device_id → checkpoint bytes, the LSTM fed minute-means up to `end_ms`. `histories`
    distinct simulated patients are aged (~4 ms each) and shared round-robin: what a
    scoring costs does not depend on whose hour the window holds."""
    from detectors import plugins
    from detectors.pipeline import Pipeline, PipelineConfig
    from detectors.state import state_to_bytes
    from simulators.patient import generate_patient

    pipeline = Pipeline(PipelineConfig(), lstm=plugins.load_lstm(None))
    start_ms = (end_ms // 60_000 - HISTORY_MIN) * 60_000
    pool = []
    for index in range(min(histories, len(device_ids))):
        lstm = plugins.lstm_new()
        if lstm is not None:
            trace = generate_patient(index, hours=HISTORY_MIN / 60, rate_hz=1 / 60, seed=seed, scenario="normal",
                                     start_ms=start_ms)
            plugins.lstm_feed(lstm, trace.ts_ms.tolist(), trace.values.tolist())
        pool.append(lstm)
    out: dict[str, bytes] = {}
    began = time.monotonic()
    for k, device_id in enumerate(device_ids):
        state = pipeline.new_state(device_id)
        state.lstm = pool[k % len(pool)]  # only read by state_to_bytes
        out[device_id] = state_to_bytes(state)
        if progress is not None and (k + 1) % 2500 == 0:
            progress(f"aged {k + 1:,} / {len(device_ids):,} device states ({time.monotonic() - began:.0f} s)")
    return out


async def _changelog_topic(bootstrap: str, prefix: str) -> str:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics()
                 if t.startswith(prefix) and t.endswith("device_state-changelog")]
    finally:
        await admin.close()
    if len(names) != 1:
        raise RuntimeError(f"expected one device_state changelog under {prefix!r}, found {names}")
    return names[0]


async def _write(bootstrap: str, prefix: str, blobs: dict[str, bytes]) -> str:
    topic = await _changelog_topic(bootstrap, prefix)
    # The default partitioner, as the worker's table uses (stream.scoring): each state lands
    # on the partition of its device's samples.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20,
                                max_batch_size=512 * 1024, max_request_size=4 * 2**20)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key.encode()) for key, value in blobs.items()]
        await producer.flush()
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return topic


def write_changelog(bootstrap: str, prefix: str, blobs: dict[str, bytes]) -> str:
    """Produce the states to the worker's changelog (it must exist: a worker has started once)."""
    return asyncio.run(_write(bootstrap, prefix, blobs))


if __name__ == "__main__":  # the cost of aging, for a quick look
    t = time.monotonic()
    states = warm_states([f"sim-{i:05d}" for i in range(int(sys.argv[1]) if len(sys.argv) > 1 else 200)],
                         int(time.time() * 1000))
    print(f"{len(states)} states, {sum(map(len, states.values())) / len(states):.0f} bytes each, "
          f"{(time.monotonic() - t) / len(states) * 1000:.2f} ms per state")
