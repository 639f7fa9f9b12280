"""Server-side connection kills in the middle of a load lose nothing and duplicate nothing.

`pg_terminate_backend` closes the writer's connection from the server, as a restart or
failover would, at random moments: during COPY, during the merge, during COMMIT. The
writer must reconnect and retry the batch; since the insert is idempotent, a batch whose
COMMIT did land before the kill is not stored twice.
"""

from __future__ import annotations

import asyncio
import random
import uuid

import psycopg
import pytest

from storage.writer import VitalsWriter

from .conftest import StorageDb
from .data import make_samples, now_minute_ms


@pytest.mark.slow
async def test_connection_kills_mid_load_lose_nothing(storage_db: StorageDb) -> None:
    samples = make_samples(20, 4000, end_ms=now_minute_ms(), span_s=6 * 3600, seed=7)  # 80k rows
    app = f"vs-test-writer-{uuid.uuid4().hex[:8]}"
    kills = 0
    loading = True

    async def killer() -> None:
        nonlocal kills
        rng = random.Random(11)
        async with await psycopg.AsyncConnection.connect(storage_db.url, autocommit=True) as admin:
            while loading:
                await asyncio.sleep(rng.uniform(0.02, 0.25))
                cur = await admin.execute(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))"
                    " FROM pg_stat_activity WHERE application_name = %s",
                    (app,),
                )
                row = await cur.fetchone()
                kills += int(row[0]) if row else 0

    async with VitalsWriter(storage_db.url, storage_db.settings, application_name=app) as w:
        task = asyncio.create_task(killer())
        try:
            chunks = [samples[i : i + 1000] for i in range(0, len(samples), 1000)]
            # a replayed chunk now and then, as after a worker restart
            chunks += chunks[::9]
            results = await asyncio.gather(*(w.write(c) for c in chunks))
        finally:
            loading = False
            await task
        stats = w.stats
    assert kills >= 3, "the test did not manage to kill the writer's connection"
    assert stats.reconnects >= 1 and stats.retries >= 1
    async with await psycopg.AsyncConnection.connect(storage_db.url) as conn:
        cur = await conn.execute("SELECT count(*), count(DISTINCT (device_id, seq)) FROM vitals")
        total, distinct = await cur.fetchone()  # type: ignore[misc]
    assert total == distinct == len(samples)
    # every row was reported once as new, except where a COMMIT landed just before a kill
    # (the retry then sees the rows as existing): new-reports can only undercount
    assert sum(results) <= len(samples)
