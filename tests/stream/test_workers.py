"""Workers on real Kafka (tansu) and PostgreSQL: load split, handover, SIGKILL, exactly-once storage."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import psycopg
import pytest

from tests.helpers import count_rows, wait_until
from tests.stream.conftest import candidates, metric, noisy_samples, produce

pytestmark = pytest.mark.slow

SCORED = "vitalstream_worker_samples_scored_total"
RECORDS = "vitalstream_worker_records_total"


def _spo2_low_devices(found: list[dict]) -> set[str]:
    return {c["device_id"] for c in found if c["kind"] == "spo2.low" and c["active"]}


def _scored(workers, names) -> float:
    total = 0.0
    for name in names:
        try:
            total += metric(workers.ports[name], SCORED)
        except OSError:
            pass
    return total


def test_two_workers_split_the_load_and_a_handover_continues_each_window(workers, scoped_settings):
    settings = scoped_settings
    devices = [f"hand-{i:02d}" for i in range(16)]
    t0 = int(time.time() * 1000) - 3_600_000
    # Phase 1: 2 min normal, then 40 s of SpO2 ~86 %: below the spo2.low rule's 60 s persistence.
    phase1 = []
    for d in devices:
        phase1 += noisy_samples(d, 0, t0, 120, spo2=96, seed=1) + noisy_samples(d, 120, t0 + 120_000, 40, spo2=86, seed=2)
    workers.start("a")
    workers.start("b")
    asyncio.run(produce(settings, phase1))
    wait_until(lambda: _scored(workers, ["a", "b"]) >= len(phase1), 120, what="phase 1 scored")
    # The load split: both workers consumed records.
    assert metric(workers.ports["a"], RECORDS) > 0 and metric(workers.ports["b"], RECORDS) > 0
    assert not _spo2_low_devices(asyncio.run(candidates(settings)))

    # Worker b leaves; its partitions (and device windows) move to a.
    scored_by_a = metric(workers.ports["a"], SCORED)
    workers.stop("b")
    # Phase 2: 30 s more of low SpO2. Only a window that continued across the handover
    # reaches the 60 s persistence (40 s + 30 s); a cold start would see 30 s.
    phase2 = []
    for d in devices:
        phase2 += noisy_samples(d, 160, t0 + 160_000, 30, spo2=86, seed=3)
    asyncio.run(produce(settings, phase2, per_record=len(devices), packed=True))  # the gateway's v2 packs
    wait_until(lambda: metric(workers.ports["a"], SCORED) >= scored_by_a + len(phase2), 120, what="phase 2 scored by a")
    assert _spo2_low_devices(asyncio.run(candidates(settings))) == set(devices)
    assert count_rows(settings.core.database_url) == len(phase1) + len(phase2)


def test_sigkill_mid_stream_stores_everything_once_and_keeps_the_alert(workers, scoped_settings):
    settings = scoped_settings
    devices = [f"kill-{i:02d}" for i in range(8)]
    t0 = int(time.time() * 1000) - 3_600_000
    per_device = {d: noisy_samples(d, 0, t0, 150, spo2=96, seed=4) + noisy_samples(d, 150, t0 + 150_000, 90, spo2=86, seed=5)
                  + noisy_samples(d, 240, t0 + 240_000, 60, spo2=96, seed=6) for d in devices}
    chunks = [[s for d in devices for s in per_device[d][lo:hi]] for lo, hi in ((0, 170), (170, 220), (220, 300))]
    total = sum(len(c) for c in chunks)

    child = workers.start("a")
    asyncio.run(produce(settings, chunks[0], per_record=8, packed=True))
    wait_until(lambda: _scored(workers, ["a"]) >= len(chunks[0]), 120, what="chunk 1 scored")
    asyncio.run(produce(settings, chunks[1], per_record=8, packed=True))
    os.kill(child.proc.pid, signal.SIGKILL)  # mid-stream: chunk 2 is partly processed at most
    child.proc.wait(10)
    workers.start("a")
    asyncio.run(produce(settings, chunks[2], per_record=8, packed=True))
    wait_until(lambda: count_rows(settings.core.database_url) >= total, 180, what="every sample stored")
    time.sleep(2)
    url = settings.core.database_url
    assert count_rows(url) == total
    assert count_rows(url, "SELECT count(DISTINCT (device_id, seq)) FROM vitals") == total
    wait_until(lambda: _spo2_low_devices(asyncio.run(candidates(settings, 1500))) == set(devices), 90,
               what="a spo2.low candidate for every device")


def test_a_device_that_goes_silent_raises_signal_lost_and_clears_when_it_returns(workers, scoped_settings):
    settings = scoped_settings
    workers.start("a", VITALSTREAM_WORKER_SILENT_AFTER_S="6")
    now = int(time.time() * 1000)
    asyncio.run(produce(settings, noisy_samples("quiet-1", 0, now - 30_000, 30, spo2=97, seed=7)))

    def lost(active: bool) -> bool:
        return any(c["device_id"] == "quiet-1" and c["kind"] == "signal.lost" and c["active"] is active
                   for c in asyncio.run(candidates(settings, 1000)))

    wait_until(lambda: lost(True), 90, what="signal.lost for the silent device")
    assert not lost(False)
    asyncio.run(produce(settings, noisy_samples("quiet-1", 30, int(time.time() * 1000), 5, spo2=97, seed=8)))
    wait_until(lambda: lost(False), 60, what="the clear once data returns")


def test_rebalances_before_the_first_commit_lose_nothing(workers, scoped_settings):
    """Workers join and leave under load, the first time before any offset is committed
    (nothing is acknowledged before the first checkpoint). faust drops records fetched
    while a rebalance stops its flow and seeks back to the committed offsets; a partition
    with none must go back to its start, not stay past the dropped records."""
    import threading

    settings = scoped_settings
    devices = [f"reb-{i:02d}" for i in range(24)]
    t0 = int(time.time() * 1000) - 3_600_000
    seconds = 40
    samples = {d: noisy_samples(d, 0, t0, seconds * 5, spo2=97, seed=8) for d in devices}
    done = threading.Event()

    def load() -> None:  # 5 device-seconds per wall second, in packs as the gateway sends them
        try:
            for i in range(0, seconds * 5, 1):
                asyncio.run(produce(settings, [samples[d][i] for d in devices], per_record=len(devices), packed=True))
                time.sleep(0.2)
        finally:
            done.set()

    workers.start("a")
    threading.Thread(target=load, daemon=True).start()
    for pause in (2, 6, 6):  # each start and stop of b is a rebalance for a
        time.sleep(pause)
        workers.start("b")
        time.sleep(8)
        workers.stop("b")
    assert done.wait(120)
    total = len(devices) * seconds * 5
    url = settings.core.database_url
    try:
        wait_until(lambda: count_rows(url) >= total, 120, what="every sample stored")
    except AssertionError:
        with psycopg.connect(url) as conn:
            have = {(d, s) for d, s in conn.execute("SELECT device_id, seq FROM vitals").fetchall()}
        missing = sorted({(d, s.seq) for d in devices for s in samples[d]} - have)
        raise AssertionError(f"{len(missing)} of {total} never stored, e.g. {missing[:10]}") from None
    assert count_rows(url, "SELECT count(DISTINCT (device_id, seq)) FROM vitals") == total


def test_split_roles_store_everything_once_and_score_everything(workers, scoped_settings):
    """A split deployment: a storage worker (its own consumer group) and a detectors worker.
    Every sample stored exactly once by the storage worker, every sample scored by the
    detectors worker, its scores stored by the storage worker, the alert raised."""
    settings = scoped_settings
    devices = [f"split-{i:02d}" for i in range(6)]
    t0 = int(time.time() * 1000) - 3_600_000
    samples = []
    for d in devices:
        samples += noisy_samples(d, 0, t0, 120, spo2=96, seed=9) + noisy_samples(d, 120, t0 + 120_000, 90, spo2=85, seed=10)
    workers.start("store", "--role", "storage")
    workers.start("det", VITALSTREAM_WORKER_ROLE="detectors")
    asyncio.run(produce(settings, samples, per_record=6, packed=True))
    url = settings.core.database_url
    wait_until(lambda: count_rows(url) >= len(samples), 120, what="every sample stored")
    wait_until(lambda: _scored(workers, ["det"]) >= len(samples), 120, what="every sample scored")
    wait_until(lambda: _spo2_low_devices(asyncio.run(candidates(settings, 1500))) == set(devices), 60,
               what="a spo2.low candidate for every device")
    wait_until(lambda: count_rows(url, "SELECT count(*) FROM scores") >= len(devices), 60, what="scores stored")
    time.sleep(2)
    assert count_rows(url) == len(samples)
    assert count_rows(url, "SELECT count(DISTINCT (device_id, seq)) FROM vitals") == len(samples)
    assert _scored(workers, ["store"]) == 0  # the storage worker runs no detectors...
    assert metric(workers.ports["det"], "vitalstream_worker_samples_stored_total") == 0  # ...the other stores nothing
