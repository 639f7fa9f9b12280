"""VitalsWriter against a real PostgreSQL: idempotency, batching, backpressure, errors."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import psycopg
import pytest

from storage.errors import StorageUnavailable, WriteError
from storage.rows import ScoreRow
from storage.writer import VitalsWriter
from vitalstream.config.storage import StorageSettings
from vitalstream.records import Sample, SampleBatch

from .conftest import StorageDb
from .data import make_samples, now_minute_ms


async def _count(url: str, sql: str = "SELECT count(*) FROM vitals") -> int:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        row = await (await conn.execute(sql)).fetchone()
        assert row is not None
        return int(row[0])


async def test_redelivered_samples_are_stored_once(storage_db: StorageDb) -> None:
    samples = make_samples(5, 400, end_ms=now_minute_ms(), span_s=3600)
    async with VitalsWriter(storage_db.url, storage_db.settings) as w:
        assert await w.write(samples, received_at_ms=now_minute_ms()) == len(samples)
        assert w.stats.fast_batches > 0
        # the same samples again, and a mix of old and new in one call
        assert await w.write(samples[:700]) == 0
        extra = [Sample("dev-new", i, now_minute_ms() - 1000 * i, hr=60.0) for i in range(10)]
        assert await w.write(samples[700:900] + extra) == 10
        assert w.stats.safe_batches > 0
    assert await _count(storage_db.url) == len(samples) + 10
    assert await _count(storage_db.url, "SELECT count(DISTINCT (device_id, seq)) FROM vitals") == len(samples) + 10
    # devices.last_seen_at follows the newest sample per device
    async with await psycopg.AsyncConnection.connect(storage_db.url) as conn:
        cur = await conn.execute("SELECT device_id, last_seen_at FROM devices ORDER BY 1")
        seen = {d: t for d, t in await cur.fetchall()}
    newest: dict[str, int] = {}
    for s in samples + extra:
        newest[s.device_id] = max(newest.get(s.device_id, 0), s.ts_ms)
    assert {d: int(t.timestamp() * 1000) for d, t in seen.items()} == newest


async def test_duplicates_inside_one_call_count_once(storage_db: StorageDb) -> None:
    s = Sample("d1", 5, now_minute_ms(), hr=70.0)
    async with VitalsWriter(storage_db.url, storage_db.settings) as w:
        assert await w.write([s, s, s]) == 1
    assert await _count(storage_db.url) == 1


async def test_concurrent_small_writes_share_a_batch(storage_db: StorageDb) -> None:
    st = replace(storage_db.settings, writer_flush_ms=300)
    now = now_minute_ms()
    async with VitalsWriter(storage_db.url, st) as w:
        results = await asyncio.gather(
            *(w.write([Sample(f"d{k}", i, now - i * 1000, spo2=95.0) for i in range(20)]) for k in range(10))
        )
        assert results == [20] * 10
        assert w.stats.batches == 1  # coalesced by time, one COPY + one commit
    assert await _count(storage_db.url) == 200


async def test_large_write_is_split_and_memory_bounded(storage_db: StorageDb) -> None:
    st = replace(storage_db.settings, writer_batch_rows=100, writer_max_pending_rows=250)
    samples = make_samples(2, 1000, end_ms=now_minute_ms(), span_s=7200, seed=3)
    async with VitalsWriter(storage_db.url, st) as w:
        peak = 0

        async def watch() -> None:
            nonlocal peak
            while True:
                peak = max(peak, w._pending_rows)
                await asyncio.sleep(0)

        watcher = asyncio.create_task(watch())
        try:
            assert await w.write(samples) == len(samples)
        finally:
            watcher.cancel()
        assert 20 <= w.stats.batches <= 30  # 100-row batches (a few partial ones sealed by time)
        assert peak <= 250
    assert await _count(storage_db.url) == 2000


async def test_rejected_rows_fail_alone_and_loudly(storage_db: StorageDb) -> None:
    now = now_minute_ms()
    good = [Sample("ok", i, now - i * 1000, hr=60.0) for i in range(50)]
    bad = Sample("bad", -1, now, hr=60.0)  # violates CHECK (seq >= 0)
    async with VitalsWriter(storage_db.url, storage_db.settings) as w:
        with pytest.raises(WriteError) as info:
            await w.write(good[:25] + [bad] + good[25:])
        assert info.value.failed == [bad]
        assert await w.write([Sample("ok", 999, now, hr=61.0)]) == 1  # the writer carries on
    assert await _count(storage_db.url) == 51


async def test_unreachable_database_surfaces_after_retry_budget(storage_settings: StorageSettings) -> None:
    st = replace(storage_settings, writer_retry_timeout_s=0.5)
    writer = VitalsWriter("postgresql://postgres@127.0.0.1:1/nowhere", st)
    with pytest.raises(StorageUnavailable):
        await writer.start()


async def test_missing_schema_is_a_permanent_error(fresh_db: str, storage_settings: StorageSettings) -> None:
    with pytest.raises(WriteError, match="vitals"):
        await VitalsWriter(fresh_db, storage_settings).start()


async def test_write_scores_idempotent(storage_db: StorageDb) -> None:
    now = now_minute_ms()
    scores = [
        ScoreRow("d1", now - k * 60_000, det, 0.1 * k, 0.8, {"spo2": 0.7, "hr": 0.3}, "lstm-1")
        for k in range(30)
        for det in ("lstm", "news2")
    ]
    async with VitalsWriter(storage_db.url, storage_db.settings) as w:
        assert await w.write_scores(scores) == 60
        assert await w.write_scores(scores[:10]) == 0
    async with await psycopg.AsyncConnection.connect(storage_db.url) as conn:
        cur = await conn.execute("SELECT contributions, model_version FROM scores WHERE detector = 'lstm' LIMIT 1")
        assert await cur.fetchone() == ({"spo2": 0.7, "hr": 0.3}, "lstm-1")
    assert await _count(storage_db.url, "SELECT count(*) FROM scores") == 60


async def test_write_after_close_is_refused(storage_db: StorageDb) -> None:
    w = VitalsWriter(storage_db.url, storage_db.settings)
    await w.start()
    await w.close()
    with pytest.raises(RuntimeError):
        await w.write([Sample("d", 1, now_minute_ms(), hr=1.0)])


async def test_write_batches_seals_at_once(storage_db: StorageDb) -> None:
    st = replace(storage_db.settings, writer_flush_ms=60_000)  # only the explicit seal can flush
    now = now_minute_ms()
    batches = [
        SampleBatch(f"b{k}", now + k, tuple(Sample(f"b{k}", i, now - i * 1000, hr=70.0) for i in range(5)))
        for k in range(3)
    ]
    async with VitalsWriter(storage_db.url, st) as w:
        assert await asyncio.wait_for(w.write_batches(batches), 10) == 15
        assert await asyncio.wait_for(w.write_batches(batches[:1]), 10) == 0
    async with await psycopg.AsyncConnection.connect(storage_db.url) as conn:
        cur = await conn.execute("SELECT DISTINCT device_id, received_at FROM vitals ORDER BY 1")
        got = [(d, int(t.timestamp() * 1000)) for d, t in await cur.fetchall()]
    assert got == [(f"b{k}", now + k) for k in range(3)]
