"""Reading vitals: raw rows of one device (cursor-paged), bucketed aggregates (through
storage.queries), the latest sample per device and small trend series for the ward view.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from storage import queries
from vitalstream.records import METRICS

from .db import fetch_all

# Fixed origin so bucket edges are stable across queries (and match storage's views).
ORIGIN = "2000-01-01T00:00:00+00:00"


@dataclass(frozen=True)
class RawPage:
    items: list[dict[str, Any]]
    next_key: tuple[datetime, int] | None


async def raw_page(
    conn: psycopg.AsyncConnection,
    device_id: str,
    start: datetime,
    end: datetime,
    limit: int,
    after: tuple[datetime, int] | None = None,
) -> RawPage:
    cols = ", ".join(METRICS)
    args: list[Any] = [device_id, start, end]
    cursor_sql = ""
    if after is not None:
        cursor_sql = "AND (ts, seq) > (%s, %s)"
        args += list(after)
    rows = await fetch_all(
        conn,
        f"SELECT ts, seq, {cols} FROM vitals WHERE device_id = %s AND ts >= %s AND ts < %s {cursor_sql} "
        "ORDER BY ts, seq LIMIT %s",
        [*args, limit + 1],
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return RawPage(rows, (rows[-1]["ts"], rows[-1]["seq"]) if more else None)


async def bucketed(
    conn: psycopg.AsyncConnection, device_id: str, start: datetime, end: datetime, bucket: str
) -> list[dict[str, Any]]:
    """{bucket, n, hr: {avg, min, max, count}, ...} per bucket; a metric with no values is null.

    storage.queries picks the source per flavour (continuous aggregates on TimescaleDB)."""
    rows = await queries.bucketed(conn, device_id, start, end, bucket)
    return [
        {"bucket": r.bucket, "n": r.count,
         **{m: ({"avg": s.avg, "min": s.min, "max": s.max, "count": s.count} if s.count else None)
            for m, s in r.metrics.items()}}
        for r in rows
    ]


async def latest(conn: psycopg.AsyncConnection, device_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The newest sample of each device, by device clock (one index probe per device)."""
    if not device_ids:
        return {}
    cols = ", ".join(f"v.{m}" for m in METRICS)
    rows = await fetch_all(
        conn,
        f"SELECT d.id AS device_id, v.ts, v.seq, {cols} FROM unnest(%s::text[]) AS d(id) "
        "CROSS JOIN LATERAL (SELECT * FROM vitals WHERE device_id = d.id ORDER BY ts DESC LIMIT 1) v",
        (device_ids,),
    )
    return {r["device_id"]: r for r in rows}


async def trend(
    conn: psycopg.AsyncConnection, device_ids: list[str], since: datetime, bucket: timedelta
) -> dict[str, list[dict[str, Any]]]:
    """Small per-device series for the ward tiles: bucket averages of each metric."""
    if not device_ids:
        return {}
    avgs = ", ".join(f"avg({m}) AS {m}" for m in METRICS)
    rows = await fetch_all(
        conn,
        f"SELECT device_id, date_bin(%s, ts, %s::timestamptz) AS bucket, {avgs} FROM vitals "
        "WHERE device_id = ANY(%s) AND ts >= %s GROUP BY 1, 2 ORDER BY 1, 2",
        (bucket, ORIGIN, device_ids, since),
    )
    out: dict[str, list[dict[str, Any]]] = {d: [] for d in device_ids}
    for r in rows:
        out[r.pop("device_id")].append(r)
    return out
