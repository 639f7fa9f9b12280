"""Database settings."""

from __future__ import annotations

from dataclasses import dataclass

from .env import Env


@dataclass(frozen=True)
class StorageSettings:
    writer_batch_rows: int  # rows per COPY; ~5,000 is where COPY's per-batch cost stops mattering
    writer_flush_ms: int  # a partial batch waits at most this long before it is written
    writer_max_pending_rows: int  # write() waits (backpressure) while this many rows are unwritten
    writer_retry_timeout_s: float  # transient errors are retried this long, then surfaced
    writer_connections: int  # batches written in parallel, one connection each
    raw_retention_days: int
    aggregate_retention_days: int
    compress_after_days: int
    timescaledb: str  # auto: use the extension where installable; on: require it; off: plain PostgreSQL
    chunk_interval_hours: int  # TimescaleDB chunk interval of `vitals` (see docs/storage.md)

    @classmethod
    def from_env(cls, env: Env) -> StorageSettings:
        batch_rows = env.int("WRITER_BATCH_ROWS", 5000, lo=1, hi=100_000)
        return cls(
            writer_batch_rows=batch_rows,
            writer_flush_ms=env.int("WRITER_FLUSH_MS", 200, lo=1, hi=60_000),
            writer_max_pending_rows=env.int("WRITER_MAX_PENDING_ROWS", max(4 * batch_rows, 20_000), lo=1),
            writer_retry_timeout_s=env.float("WRITER_RETRY_TIMEOUT_S", 120.0, lo=0.0, hi=86_400),
            # 2: index maintenance is server CPU; a second backend uses a second core
            writer_connections=env.int("WRITER_CONNECTIONS", 2, lo=1, hi=16),
            raw_retention_days=env.int("RAW_RETENTION_DAYS", 30, lo=1),
            aggregate_retention_days=env.int("AGGREGATE_RETENTION_DAYS", 365, lo=1),
            compress_after_days=env.int("COMPRESS_AFTER_DAYS", 2, lo=1),
            timescaledb=env.choice("TIMESCALEDB", "auto", ("auto", "on", "off")),
            chunk_interval_hours=env.int("CHUNK_INTERVAL_HOURS", 24, lo=1, hi=24 * 31),
        )
