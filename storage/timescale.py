"""TimescaleDB policies, re-applied from settings on every migrate run.

Chunk interval, compression, retention and continuous-aggregate refresh are configuration,
not schema: they live here rather than in a migration file so that changing
VITALSTREAM_RAW_RETENTION_DAYS (etc.) and running `vitalstream migrate` again takes effect.
Each policy is removed and re-added in one transaction, so a run never leaves a table
without its policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from vitalstream.config.storage import StorageSettings

# Refreshing the aggregates re-reads at most this far back. Refresh only re-materialises
# invalidated (changed) ranges inside the window, so a wide window is cheap when nothing
# changed, and it lets late data (a worker catching up after an outage; Kafka keeps 7
# days by default) reach the aggregates.
MAX_REFRESH_LOOKBACK = timedelta(days=7)


@dataclass(frozen=True)
class Policies:
    chunk_interval: timedelta
    compress_after: timedelta
    raw_drop_after: timedelta
    aggregate_drop_after: timedelta
    refresh_start_1m: timedelta
    refresh_start_1h: timedelta


def policies_for(settings: StorageSettings) -> Policies:
    raw = timedelta(days=settings.raw_retention_days)
    # The refresh window must end before raw data is dropped, or a refresh would empty
    # aggregate buckets whose raw rows retention already removed.
    lookback = min(MAX_REFRESH_LOOKBACK, raw - timedelta(hours=1))
    return Policies(
        chunk_interval=timedelta(hours=settings.chunk_interval_hours),
        compress_after=timedelta(days=settings.compress_after_days),
        raw_drop_after=raw,
        aggregate_drop_after=timedelta(days=max(settings.aggregate_retention_days, settings.raw_retention_days)),
        refresh_start_1m=max(lookback, timedelta(minutes=10)),
        # at least 3 buckets: TimescaleDB wants a refresh window of two buckets or more
        refresh_start_1h=max(lookback, timedelta(hours=3)),
    )


async def apply_policies(conn: psycopg.AsyncConnection, settings: StorageSettings) -> Policies:
    p = policies_for(settings)
    async with conn.transaction():
        await conn.execute("SELECT set_chunk_time_interval('vitals', %s::interval)", (p.chunk_interval,))

        await conn.execute("SELECT remove_compression_policy('vitals', if_exists => true)")
        await conn.execute("SELECT add_compression_policy('vitals', compress_after => %s::interval)", (p.compress_after,))

        for table, drop_after in (
            ("vitals", p.raw_drop_after),
            ("scores", p.raw_drop_after),
            ("vitals_1m", p.aggregate_drop_after),
            ("vitals_1h", p.aggregate_drop_after),
        ):
            await conn.execute("SELECT remove_retention_policy(%s::regclass, if_exists => true)", (table,))
            await conn.execute(
                "SELECT add_retention_policy(%s::regclass, drop_after => %s::interval)", (table, drop_after)
            )

        for view, start, end, every in (
            ("vitals_1m", p.refresh_start_1m, timedelta(minutes=1), timedelta(minutes=1)),
            ("vitals_1h", p.refresh_start_1h, timedelta(hours=1), timedelta(minutes=30)),
        ):
            await conn.execute("SELECT remove_continuous_aggregate_policy(%s::regclass, if_exists => true)", (view,))
            await conn.execute(
                "SELECT add_continuous_aggregate_policy(%s::regclass, start_offset => %s::interval,"
                " end_offset => %s::interval, schedule_interval => %s::interval)",
                (view, start, end, every),
            )
    return p


async def refresh_aggregates(conn: psycopg.AsyncConnection, until: datetime | None = None) -> None:
    """Materialise both aggregates now, up to `until` (None: all data). Tests and backfills
    use it; production relies on the refresh policies. Needs an autocommit connection."""
    for view in ("vitals_1m", "vitals_1h"):
        await conn.execute(f"CALL refresh_continuous_aggregate('{view}', NULL, %s::timestamptz)", (until,))
