"""Row shapes the writer sends, and their conversion from wire records.

Conversion is exact: epoch milliseconds become timestamptz through integer arithmetic
(no float rounding), so a sample read back has the `ts_ms` it was written with.

Hot path: rows for COPY carry their two timestamps as PostgreSQL's own binary timestamptz
value — an int8 of microseconds since 2000-01-01 UTC — declared as "int8" to psycopg.
Binary COPY hands each field to the *column's* receive function, so the server reads
them as timestamptz exactly; this skips building two datetime objects per row, which
was a fifth of the writer's CPU time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import itemgetter

from vitalstream.records import METRICS, Sample

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Column order of every COPY into vitals / the staging table.
VITALS_COLUMNS: tuple[str, ...] = ("device_id", "ts", "seq", *METRICS, "received_at")
# "int8" for ts and received_at: see the module docstring (PostgreSQL binary timestamptz).
VITALS_TYPES: tuple[str, ...] = ("text", "int8", "int8", *(["float8"] * len(METRICS)), "int8")
PG_EPOCH_MS = 946_684_800_000  # 2000-01-01T00:00:00Z in Unix milliseconds

VitalsRow = tuple  # (device_id, ts, seq, hr, spo2, rr, temp, sbp, dbp, activity, received_at)


def ms_to_dt(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def dt_to_ms(dt: datetime) -> int:
    return (dt - EPOCH) // timedelta(milliseconds=1)


def pg_micros(ms: int) -> int:
    """Epoch milliseconds as PostgreSQL's binary timestamptz (µs since 2000-01-01 UTC)."""
    return (ms - PG_EPOCH_MS) * 1000


def pg_micros_to_ms(us: int) -> int:
    return us // 1000 + PG_EPOCH_MS


def sample_rows(samples: Iterable[Sample], received_at_ms: int) -> list[VitalsRow]:
    received = pg_micros(received_at_ms)
    return [
        (s.device_id, (s.ts_ms - PG_EPOCH_MS) * 1000, s.seq, s.hr, s.spo2, s.rr, s.temp, s.sbp, s.dbp, s.activity,
         received)
        for s in samples
    ]


def dedupe_sorted(rows: Sequence[VitalsRow]) -> tuple[list[VitalsRow], list[int]]:
    """Rows unique on (device_id, seq), first occurrence kept, sorted by that key.

    Sorting gives concurrent writers one lock order (no deadlocks between them on the
    unique index) and lets PostgreSQL insert into the btree in key order. Returns the rows
    and, for each input row, the index of its kept row (-1 where it was a duplicate).
    """
    key = itemgetter(0, 2)
    order = sorted(range(len(rows)), key=lambda i: key(rows[i]))
    kept: list[VitalsRow] = []
    where = [-1] * len(rows)
    last: tuple[str, int] | None = None
    for i in order:
        row = rows[i]
        k = (row[0], row[2])
        if k == last:
            continue
        last = k
        where[i] = len(kept)
        kept.append(row)
    return kept, where


def newest_per_device(rows: Iterable[VitalsRow]) -> dict[str, int]:
    """Per device, the newest sample time in `rows` (binary timestamptz µs)."""
    newest: dict[str, int] = {}
    get = newest.get
    for row in rows:
        ts = row[1]
        if ts > get(row[0], -(1 << 62)):
            newest[row[0]] = ts
    return newest


@dataclass(frozen=True, slots=True)
class ScoreRow:
    """One detector score for one device and window (table `scores`)."""

    device_id: str
    window_end_ms: int
    detector: str  # e.g. "lstm", "news2"
    score: float
    threshold: float | None = None
    contributions: Mapping[str, float] = field(default_factory=dict)  # per-vital share of the score
    model_version: str | None = None


def score_columns(scores: Sequence[ScoreRow]) -> tuple[list, ...]:
    """Column arrays for one INSERT ... SELECT FROM unnest(...)."""
    return (
        [s.device_id for s in scores],
        [ms_to_dt(s.window_end_ms) for s in scores],
        [s.detector for s in scores],
        [float(s.score) for s in scores],
        [None if s.threshold is None else float(s.threshold) for s in scores],
        [json.dumps(dict(s.contributions), separators=(",", ":")) for s in scores],
        [s.model_version for s in scores],
    )
