"""Storage benchmark: VitalsWriter rows/s against raw COPY, and the 24-hour 1-minute query.

    python -m benchmarks.storage_bench [--rows 500000] [--query-rows 10000000] [--quick]
                                       [--database-url URL] [--timescaledb auto|on|off] [--json OUT]

Runs in a scratch database created on the server of --database-url (default
VITALSTREAM_DATABASE_URL, else postgresql://postgres@127.0.0.1:5432/postgres), dropped at
the end unless --keep.

1. Baseline: raw COPY (binary, batches of writer_batch_rows, one commit per batch) of
   pre-built row tuples into an empty table shaped like `vitals` with no index or
   constraint: the fastest a COPY can go on this server.
2. VitalsWriter.write() of the same samples into the migrated `vitals` (unique key, indexes,
   devices upsert, from Sample objects: conversion included), 1,000 samples per call, up to
   8 calls in flight, as the worker would. Printed as rows/s and as a ratio of (1).
   Target (issue 5): >= 50 %. Then the same samples again (a full replay: every row a
   duplicate) to show what idempotency costs when it is exercised.
3. Query: `vitals` is filled to --query-rows with 1 Hz samples (time-major: devices
   interleaved, as a live feed lays them out), then storage.queries.bucketed() for one
   device, 24 hours, 1-minute buckets: first call and the median/p95 of 20 more.
   Target: <= 100 ms on TimescaleDB (continuous aggregate).
On a shared 2-core machine figures are noisy: compare numbers from the same run only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from dataclasses import replace
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import psycopg

from storage import queries
from storage.flavor import TIMESCALE, flavor_of
from storage.migrate import apply_migrations
from storage.rows import VITALS_COLUMNS, VITALS_TYPES, ms_to_dt, sample_rows
from storage.timescale import refresh_aggregates
from storage.writer import VitalsWriter
from vitalstream.config import load_settings
from vitalstream.records import Sample

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def make_samples(n: int, devices: int, start_ms: int) -> list[Sample]:
    out = []
    for i in range(n):
        seq, dev = divmod(i, devices)
        out.append(Sample(f"dev-{dev:04d}", seq, start_ms + seq * 1000, 60.0 + i % 40, 97.5, 14.0, 36.7,
                          120.0, 80.0, 0.1))
    return out


async def bench_copy(url: str, rows: list[tuple], batch: int, *, indexed: bool = False) -> float:
    cols = ", ".join(VITALS_COLUMNS)
    like = "INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES" if indexed else "INCLUDING DEFAULTS"
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(f"CREATE TABLE copy_baseline (LIKE vitals {like})")
        t0 = time.perf_counter()
        for i in range(0, len(rows), batch):
            async with conn.transaction(), conn.cursor() as cur:
                async with cur.copy(f"COPY copy_baseline ({cols}) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(list(VITALS_TYPES))
                    for row in rows[i : i + batch]:
                        await copy.write_row(row)
        elapsed = time.perf_counter() - t0
        await conn.execute("DROP TABLE copy_baseline")
    return len(rows) / elapsed


async def bench_writer(url: str, samples: list[Sample], settings) -> tuple[float, int]:  # noqa: ANN001
    in_flight = asyncio.Semaphore(8)

    async def one(chunk: list[Sample]) -> int:
        async with in_flight:
            return await w.write(chunk)

    async with VitalsWriter(url, settings) as w:
        t0 = time.perf_counter()
        stored = sum(await asyncio.gather(*(one(samples[i : i + 1000]) for i in range(0, len(samples), 1000))))
        elapsed = time.perf_counter() - t0
    return len(samples) / elapsed, stored


async def _drop_indexes(conn: psycopg.AsyncConnection) -> list[str]:
    """Drop vitals' constraints and indexes; returns the DDL that recreates them."""
    cur = await conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = 'vitals'::regclass AND contype IN ('u', 'p')"
    )
    constraints = await cur.fetchall()
    cur = await conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'vitals'"
        " AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'vitals'::regclass)"
    )
    indexes = await cur.fetchall()
    for name, _ in constraints:
        await conn.execute(f'ALTER TABLE vitals DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        await conn.execute(f'DROP INDEX "{name}"')
    return [f'ALTER TABLE vitals ADD CONSTRAINT "{n}" {d}' for n, d in constraints] + [d for _, d in indexes]


async def fill(url: str, total: int, devices: int, end_ms: int) -> float:
    """Bulk-load the query table: indexes dropped, rows generated server-side, indexes rebuilt."""
    per_device = total // devices
    start = ms_to_dt(end_ms - per_device * 1000)
    t0 = time.perf_counter()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("TRUNCATE vitals")
        recreate = await _drop_indexes(conn)
        step = max(1, 2_000_000 // devices)
        for s0 in range(0, per_device, step):
            await conn.execute(
                "INSERT INTO vitals (device_id, ts, seq, hr, spo2, rr, temp, sbp, dbp, activity)"
                " SELECT 'q-' || lpad(d::text, 4, '0'), %(start)s + s * interval '1 second', s,"
                " 60 + random() * 40, 90 + random() * 10, 10 + random() * 10, 36 + random(), 100 + random() * 40,"
                " 60 + random() * 30, random()"
                " FROM generate_series(%(s0)s::int, %(s1)s::int) s, generate_series(0, %(nd)s::int - 1) d"
                " ORDER BY s, d",
                {"start": start, "s0": s0, "s1": min(per_device, s0 + step) - 1, "nd": devices},
            )
            print(f"  loaded {min(per_device, s0 + step) * devices:,} / {per_device * devices:,} rows", flush=True)
        for ddl in recreate:
            await conn.execute(ddl)
        print(f"  rebuilt {len(recreate)} indexes", flush=True)
        await conn.execute("VACUUM ANALYZE vitals")
        if await flavor_of(conn) == TIMESCALE:
            await refresh_aggregates(conn)
            await conn.execute("ANALYZE")
    return time.perf_counter() - t0


async def bench_query(url: str, device: str, end_ms: int, runs: int = 20) -> dict[str, float]:
    end = ms_to_dt(end_ms)
    start = end - timedelta(hours=24)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        t0 = time.perf_counter()
        rows = await queries.bucketed(conn, device, start, end, "1m")
        first = (time.perf_counter() - t0) * 1000
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            await queries.bucketed(conn, device, start, end, "1m")
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {"buckets": len(rows), "first_ms": first, "median_ms": statistics.median(times),
            "p95_ms": times[int(0.95 * (len(times) - 1))]}


def _with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


async def main(args: argparse.Namespace) -> dict:
    base = args.database_url or os.environ.get("VITALSTREAM_DATABASE_URL") or DEFAULT_URL
    settings = replace(load_settings().storage, timescaledb=args.timescaledb)
    if args.connections:
        settings = replace(settings, writer_connections=args.connections)
    name = f"vs_bench_{uuid.uuid4().hex[:8]}"
    async with await psycopg.AsyncConnection.connect(base, autocommit=True) as admin:
        await admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_db(base, name)
    try:
        await apply_migrations(url, settings=settings)
        async with await psycopg.AsyncConnection.connect(url) as conn:
            flavor = await flavor_of(conn)
        end_ms = (int(time.time()) // 60) * 60_000
        samples = make_samples(args.rows, args.devices, end_ms - (args.rows // args.devices + 1) * 1000)
        rows = sample_rows(samples, end_ms)
        print(f"flavour {flavor}; {args.rows:,} rows, {args.devices} devices, batch {settings.writer_batch_rows}")
        copy_rps = await bench_copy(url, rows, settings.writer_batch_rows)
        print(f"raw COPY into an empty, unindexed table: {copy_rps:,.0f} rows/s")
        indexed_rps = await bench_copy(url, rows, settings.writer_batch_rows, indexed=True)
        print(f"raw COPY into an empty table with vitals' indexes (not idempotent): {indexed_rps:,.0f} rows/s")
        writer_rps, stored = await bench_writer(url, samples, settings)
        assert stored == len(samples), (stored, len(samples))
        print(f"VitalsWriter into vitals (idempotent, {settings.writer_connections} connection(s)):"
              f" {writer_rps:,.0f} rows/s = {writer_rps / copy_rps:.0%} of raw COPY,"
              f" {writer_rps / indexed_rps:.0%} of raw COPY with the same indexes")
        replay_rps, again = await bench_writer(url, samples, settings)
        assert again == 0
        print(f"VitalsWriter full replay (all duplicates): {replay_rps:,.0f} rows/s, 0 stored")
        result = {"flavor": flavor, "rows": args.rows, "copy_rows_per_s": copy_rps,
                  "copy_indexed_rows_per_s": indexed_rps, "writer_rows_per_s": writer_rps,
                  "writer_connections": settings.writer_connections,
                  "writer_ratio": writer_rps / copy_rps, "writer_ratio_indexed": writer_rps / indexed_rps,
                  "replay_rows_per_s": replay_rps}
        print(f"loading {args.query_rows:,} rows for the query benchmark ...")
        result["fill_s"] = await fill(url, args.query_rows, args.query_devices, end_ms)
        q = await bench_query(url, "q-0000", end_ms)
        print(f"24 h of 1-minute buckets, one device, {args.query_rows:,} rows: {q['buckets']} buckets,"
              f" first {q['first_ms']:.1f} ms, median {q['median_ms']:.1f} ms, p95 {q['p95_ms']:.1f} ms")
        result.update({"query_rows": args.query_rows, **{f"query_{k}": v for k, v in q.items()}})
        return result
    finally:
        if not args.keep:
            async with await psycopg.AsyncConnection.connect(base, autocommit=True) as admin:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            print(f"kept database {url}")


def cli(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--database-url")
    p.add_argument("--rows", type=int, default=500_000, help="rows for the write benchmark")
    p.add_argument("--devices", type=int, default=1000, help="devices in the write benchmark")
    p.add_argument("--query-rows", type=int, default=10_000_000, help="rows in vitals for the query benchmark")
    p.add_argument("--query-devices", type=int, default=100, help="devices sharing --query-rows (1 Hz each)")
    p.add_argument("--timescaledb", choices=("auto", "on", "off"), default="auto")
    p.add_argument("--connections", type=int, help="writer connections (default: VITALSTREAM_WRITER_CONNECTIONS)")
    p.add_argument("--quick", action="store_true", help="100k write rows, 1M query rows (10 devices)")
    p.add_argument("--keep", action="store_true", help="keep the scratch database")
    p.add_argument("--json", help="write the figures to this file")
    args = p.parse_args(argv)
    if args.quick:
        args.rows, args.query_rows, args.query_devices = 100_000, 1_000_000, 10
    if args.query_rows // args.query_devices < 86_400:
        p.error("--query-rows / --query-devices must be >= 86400 (24 h at 1 Hz per device)")
    result = asyncio.run(main(args))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
