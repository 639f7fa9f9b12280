"""Clinician API settings."""

from __future__ import annotations

from dataclasses import dataclass

from .env import Env


@dataclass(frozen=True)
class ApiSettings:
    host: str
    port: int
    page_size_default: int  # rows per page when `limit` is not given
    page_size_max: int  # largest `limit` a client may ask for
    raw_max_range_s: int  # widest from..to window for raw (unbucketed) vitals
    max_buckets: int  # most buckets one aggregate query may return
    live_poll_s: float  # how often the live feed polls the database for new vitals/alert events
    pool_max: int  # database connections held by one API process

    @classmethod
    def from_env(cls, env: Env) -> ApiSettings:
        return cls(
            host=env.str("API_HOST", "127.0.0.1") or "127.0.0.1",
            port=env.int("API_PORT", 8080, lo=1, hi=65535),
            page_size_default=env.int("API_PAGE_SIZE", 100, lo=1, hi=10_000),
            page_size_max=env.int("API_PAGE_SIZE_MAX", 1000, lo=1, hi=100_000),
            # One day of 1 Hz samples is 86,400 rows per device: larger windows must be bucketed.
            raw_max_range_s=env.int("API_RAW_MAX_RANGE_S", 24 * 3600, lo=60),
            max_buckets=env.int("API_MAX_BUCKETS", 10_000, lo=10, hi=1_000_000),
            live_poll_s=env.float("API_LIVE_POLL_S", 1.0, lo=0.05, hi=60),
            pool_max=env.int("API_POOL_MAX", 10, lo=1, hi=200),
        )
