"""The reads the API and the worker need, identical in results on both flavours.

Bucketed aggregates: on TimescaleDB they read the continuous aggregates `vitals_1m`
(for 1m and 5m buckets) and `vitals_1h` (1h, 1d), which are real-time aggregates — the
materialised buckets plus raw rows newer than the refresh watermark — so recent data is
always included. On plain PostgreSQL the same buckets come from `date_bin` over raw rows.
A bucket is whole: a range that starts or ends inside a bucket is widened to the bucket
edges (both flavours do this the same way, so both answer the same). Buckets are UTC
aligned (origin 2000-01-01 00:00 UTC; TimescaleDB's time_bucket agrees for these widths).

Every function takes an open psycopg AsyncConnection (the caller owns pooling).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.rows import class_row

from vitalstream.config.storage import StorageSettings
from vitalstream.records import METRICS

from .flavor import TIMESCALE, flavor_of

BUCKETS: dict[str, timedelta] = {
    "1m": timedelta(minutes=1),
    "5m": timedelta(minutes=5),
    "1h": timedelta(hours=1),
    "1d": timedelta(days=1),
}
ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)
_ORIGIN_SQL = "TIMESTAMPTZ '2000-01-01 00:00:00+00'"
_VITAL_COLS = "device_id, ts, seq, " + ", ".join(METRICS) + ", received_at"


@dataclass(frozen=True, slots=True)
class VitalRow:
    device_id: str
    ts: datetime
    seq: int
    hr: float | None
    spo2: float | None
    rr: float | None
    temp: float | None
    sbp: float | None
    dbp: float | None
    activity: float | None
    received_at: datetime


@dataclass(frozen=True, slots=True)
class MetricStats:
    min: float | None
    max: float | None
    avg: float | None
    count: int  # samples in the bucket that reported this metric


@dataclass(frozen=True, slots=True)
class BucketRow:
    bucket: datetime  # bucket start (UTC)
    count: int  # samples in the bucket
    metrics: dict[str, MetricStats]


@dataclass(frozen=True, slots=True)
class DeviceRow:
    device_id: str
    created_at: datetime
    last_seen_at: datetime | None
    patient_id: int | None
    patient_external_id: str | None
    patient_name: str | None
    ward: str | None
    bed: str | None


def _check_range(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("from/to must be timezone-aware datetimes")
    if end < start:
        raise ValueError("to must not be before from")


def align_range(start: datetime, end: datetime, bucket: str) -> tuple[datetime, datetime]:
    """[start, end) widened to whole buckets."""
    width = BUCKETS[bucket]
    lo = ORIGIN + ((start - ORIGIN) // width) * width
    hi = ORIGIN + -((ORIGIN - end) // width) * width  # ceiling
    return lo, hi


async def raw_range(
    conn: psycopg.AsyncConnection, device_id: str, start: datetime, end: datetime, *, limit: int | None = None
) -> list[VitalRow]:
    """Samples of one device with start <= ts < end, oldest first."""
    _check_range(start, end)
    sql = f"SELECT {_VITAL_COLS} FROM vitals WHERE device_id = %s AND ts >= %s AND ts < %s ORDER BY ts, seq"
    params: list[object] = [device_id, start, end]
    if limit is not None:
        sql += " LIMIT %s"
        params.append(limit)
    async with conn.cursor(row_factory=class_row(VitalRow)) as cur:
        await cur.execute(sql, params)
        return await cur.fetchall()


def _bucket_sql(flavor: str, bucket: str) -> str:
    if flavor == TIMESCALE:
        source = "vitals_1m" if BUCKETS[bucket] < timedelta(hours=1) else "vitals_1h"
        parts = [
            f"min({m}_min), max({m}_max), sum({m}_sum) / NULLIF(sum({m}_count), 0), sum({m}_count)::bigint"
            for m in METRICS
        ]
        return (
            f"SELECT date_bin(%(w)s::interval, bucket, {_ORIGIN_SQL}) AS b, sum(n)::bigint, {', '.join(parts)}"
            f" FROM {source} WHERE device_id = %(d)s AND bucket >= %(a)s AND bucket < %(z)s"
            " GROUP BY 1 ORDER BY 1"
        )
    parts = [f"min({m}), max({m}), sum({m}) / NULLIF(count({m}), 0), count({m})" for m in METRICS]
    return (
        f"SELECT date_bin(%(w)s::interval, ts, {_ORIGIN_SQL}) AS b, count(*), {', '.join(parts)}"
        " FROM vitals WHERE device_id = %(d)s AND ts >= %(a)s AND ts < %(z)s"
        " GROUP BY 1 ORDER BY 1"
    )


async def bucketed(
    conn: psycopg.AsyncConnection, device_id: str, start: datetime, end: datetime, bucket: str
) -> list[BucketRow]:
    """Per-bucket min/max/avg/count of every metric for one device; empty buckets omitted."""
    if bucket not in BUCKETS:
        raise ValueError(f"bucket must be one of {', '.join(BUCKETS)}, got {bucket!r}")
    _check_range(start, end)
    lo, hi = align_range(start, end, bucket)
    sql = _bucket_sql(await flavor_of(conn), bucket)
    async with conn.transaction():
        # A wide range over raw rows has a plan cost that triggers JIT compilation, which
        # costs more (hundreds of ms to seconds) than the query it would speed up.
        await conn.execute("SELECT set_config('jit', 'off', true)")
        # 24 h at 1 Hz is ~86k rows: room to hash-aggregate in memory instead of sorting on disk
        await conn.execute("SELECT set_config('work_mem', '32MB', true)")
        cur = await conn.execute(sql, {"w": BUCKETS[bucket], "d": device_id, "a": lo, "z": hi})
        rows = await cur.fetchall()
    out: list[BucketRow] = []
    for row in rows:
        metrics = {}
        for k, m in enumerate(METRICS):
            lo_v, hi_v, avg_v, n = row[2 + 4 * k : 6 + 4 * k]
            metrics[m] = MetricStats(lo_v, hi_v, avg_v, int(n))
        out.append(BucketRow(row[0], int(row[1]), metrics))
    return out


async def latest_samples(conn: psycopg.AsyncConnection, device_ids: Sequence[str] | None = None) -> list[VitalRow]:
    """The newest sample (by ts, then seq) of each device, ordered by device_id."""
    where = "" if device_ids is None else "WHERE d.device_id = ANY(%s)"
    cols = ", ".join(f"v.{c.strip()}" for c in _VITAL_COLS.split(","))
    sql = (
        f"SELECT {cols} FROM devices d CROSS JOIN LATERAL ("
        f" SELECT {_VITAL_COLS} FROM vitals x WHERE x.device_id = d.device_id ORDER BY ts DESC, seq DESC LIMIT 1"
        f") v {where} ORDER BY d.device_id"
    )
    async with conn.cursor(row_factory=class_row(VitalRow)) as cur:
        await cur.execute(sql, [] if device_ids is None else [list(device_ids)])
        return await cur.fetchall()


async def list_devices(conn: psycopg.AsyncConnection) -> list[DeviceRow]:
    """Every known device with its last sample time and current patient/ward/bed, if any."""
    sql = """
        SELECT d.device_id, d.created_at, d.last_seen_at, a.patient_id, p.external_id AS patient_external_id,
               p.name AS patient_name, COALESCE(a.ward, p.ward) AS ward, COALESCE(a.bed, p.bed) AS bed
        FROM devices d
        LEFT JOIN device_assignments a ON a.device_id = d.device_id AND a.unassigned_at IS NULL
        LEFT JOIN patients p ON p.id = a.patient_id
        ORDER BY d.device_id
    """
    async with conn.cursor(row_factory=class_row(DeviceRow)) as cur:
        await cur.execute(sql)
        return await cur.fetchall()


@dataclass(frozen=True, slots=True)
class RetentionResult:
    vitals_deleted: int
    scores_deleted: int
    skipped: bool  # True on TimescaleDB, where retention policies drop whole chunks


RETENTION_BATCH = 20_000


async def _delete_older(conn: psycopg.AsyncConnection, table: str, column: str, keep: timedelta) -> int:
    # Small batches, each its own transaction: short locks, bounded WAL bursts, and the
    # worker can interleave writes between them.
    sql = (
        f"DELETE FROM {table} WHERE ctid = ANY(ARRAY("
        f"SELECT ctid FROM {table} WHERE {column} < now() - %s::interval LIMIT {RETENTION_BATCH}))"
    )
    total = 0
    while True:
        async with conn.transaction():
            cur = await conn.execute(sql, (keep,))
        total += cur.rowcount
        if cur.rowcount < RETENTION_BATCH:
            return total


async def enforce_retention(conn: psycopg.AsyncConnection, settings: StorageSettings) -> RetentionResult:
    """Plain PostgreSQL: delete raw rows older than raw_retention_days (the worker calls
    this periodically). TimescaleDB: nothing to do, its retention policies drop chunks."""
    if await flavor_of(conn) == TIMESCALE:
        return RetentionResult(0, 0, skipped=True)
    keep = timedelta(days=settings.raw_retention_days)
    vitals = await _delete_older(conn, "vitals", "ts", keep)
    scores = await _delete_older(conn, "scores", "window_end", keep)
    return RetentionResult(vitals, scores, skipped=False)
