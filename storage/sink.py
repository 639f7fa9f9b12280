"""The SQL the writer runs on its connection: one batch, one transaction.

Idempotent insert, two ways:
- fast: COPY (binary) straight into `vitals`. A redelivered sample violates the unique
  key, the COPY fails as a whole and nothing of it is kept; the caller then uses
- safe: COPY (binary) into a temporary staging table, then
  INSERT INTO vitals SELECT ... FROM staging ON CONFLICT DO NOTHING.
Redeliveries are rare (a worker restart replays at most the uncommitted Kafka tail), so
almost every batch takes the fast path at raw-COPY speed, and a replay costs one wasted
COPY per batch while the writer is in its "recently saw duplicates" mode (see writer).
Both paths upsert `devices.last_seen_at` in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg import errors as pgerr

from .rows import VITALS_COLUMNS, VITALS_TYPES, ScoreRow, VitalsRow, score_columns

Seen = dict[str, int]  # device_id -> newest sample time (binary timestamptz µs) to record

_COLS = ", ".join(VITALS_COLUMNS)
STAGING = "vitals_staging"

SETUP_SQL = (
    # ON COMMIT DELETE ROWS truncates it after every batch: no dead tuples (autovacuum
    # never visits temp tables), no catalog churn from DROP/CREATE.
    f"CREATE TEMP TABLE IF NOT EXISTS {STAGING} (LIKE vitals INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
    # A batch that runs this long is stuck on a lock or a sick server: fail, reconnect, retry.
    "SET statement_timeout = '60s'",
)

# Newest sample times arrive as binary-timestamptz microseconds (see storage.rows);
# binary parameters (%b) avoid quoting thousands of ids as a text array literal.
_DEVICES_SQL = """
INSERT INTO devices (device_id, last_seen_at)
SELECT d, TIMESTAMPTZ '2000-01-01 00:00:00+00' + u * INTERVAL '1 microsecond'
FROM unnest(%b::text[], %b::int8[]) AS x(d, u)
ORDER BY d
ON CONFLICT (device_id) DO UPDATE
SET last_seen_at = GREATEST(devices.last_seen_at, EXCLUDED.last_seen_at)
"""

_MERGE_SQL = f"""
INSERT INTO vitals ({_COLS}) SELECT {_COLS} FROM {STAGING}
ON CONFLICT DO NOTHING
RETURNING device_id, seq
"""

_SCORES_SQL = """
INSERT INTO scores (device_id, window_end, detector, score, threshold, contributions, model_version)
SELECT d, w, det, s, t, c::jsonb, mv
FROM unnest(%s::text[], %s::timestamptz[], %s::text[], %s::float8[], %s::float8[], %s::text[], %s::text[])
     AS u(d, w, det, s, t, c, mv)
ON CONFLICT DO NOTHING
"""


async def prepare(conn: psycopg.AsyncConnection) -> None:
    for sql in SETUP_SQL:
        await conn.execute(sql)


async def _copy(conn: psycopg.AsyncConnection, table: str, rows: Sequence[VitalsRow]) -> None:
    async with conn.cursor() as cur:
        async with cur.copy(f"COPY {table} ({_COLS}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(list(VITALS_TYPES))
            for row in rows:
                await copy.write_row(row)


async def _touch_devices(conn: psycopg.AsyncConnection, seen: Seen) -> None:
    if seen:
        ids = sorted(seen)  # one lock order for concurrent writers: no deadlocks
        await conn.execute(_DEVICES_SQL, (ids, [seen[i] for i in ids]))


async def insert_fast(conn: psycopg.AsyncConnection, rows: Sequence[VitalsRow], seen: Seen) -> bool:
    """COPY straight into vitals. False (and nothing stored) if any row already exists."""
    try:
        async with conn.transaction():
            await _copy(conn, "vitals", rows)
            await _touch_devices(conn, seen)
    except pgerr.UniqueViolation:
        return False
    return True


async def insert_safe(conn: psycopg.AsyncConnection, rows: Sequence[VitalsRow], seen: Seen) -> set[tuple[str, int]]:
    """Stage, then insert what is new. Returns the (device_id, seq) keys actually inserted."""
    async with conn.transaction():
        await _copy(conn, STAGING, rows)
        async with conn.cursor() as cur:
            await cur.execute(_MERGE_SQL)
            inserted = {(r[0], r[1]) for r in await cur.fetchall()}
        await _touch_devices(conn, seen)
    return inserted


async def insert_scores(conn: psycopg.AsyncConnection, scores: Sequence[ScoreRow]) -> int:
    """Idempotent on (device_id, window_end, detector); returns rows newly stored."""
    async with conn.transaction():
        cur = await conn.execute(_SCORES_SQL, score_columns(scores))
        return cur.rowcount
