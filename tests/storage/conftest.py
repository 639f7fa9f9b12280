"""Storage fixtures: a migrated database per flavour (plain always; TimescaleDB where the
server offers the extension, skipped with a visible reason where it does not).

VITALSTREAM_TEST_TIMESCALE_URL: run the TimescaleDB variant against that database instead
(a scratch database on a TimescaleDB server; its `public` schema is wiped before each test).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import os

import psycopg
import pytest

from storage.migrate import apply_migrations
from vitalstream.config import Settings
from vitalstream.config.storage import StorageSettings

NO_TIMESCALE = "timescaledb extension not in pg_available_extensions on the test server: TimescaleDB variant not run"


@dataclass(frozen=True)
class StorageDb:
    url: str
    flavor: str  # "plain" | "timescale"
    settings: StorageSettings


def timescale_available(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')").fetchone()
    return bool(row and row[0])


EXTERNAL_TIMESCALE = os.environ.get("VITALSTREAM_TEST_TIMESCALE_URL")


@pytest.fixture(scope="session")
def has_timescale(pg_url: str) -> bool:
    return bool(EXTERNAL_TIMESCALE) or timescale_available(pg_url)


async def _wipe(url: str) -> None:
    """Drop what earlier tests left in `public`, keeping the extension's own objects."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for view in ("vitals_1m", "vitals_1h"):
            await conn.execute(f"DROP MATERIALIZED VIEW IF EXISTS {view} CASCADE")
            await conn.execute(f"DROP VIEW IF EXISTS {view} CASCADE")
        cur = await conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
            " AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')"
        )
        for (table,) in await cur.fetchall():
            await conn.execute(f'DROP TABLE IF EXISTS public."{table}" CASCADE')


@pytest.fixture
def storage_settings(settings: Settings) -> StorageSettings:
    # Small batches and a short flush so tests exercise batching; short retry budget so a
    # broken test fails in seconds rather than minutes.
    return replace(settings.storage, writer_batch_rows=500, writer_flush_ms=20, writer_retry_timeout_s=30.0)


@pytest.fixture(params=["plain", "timescale"])
async def storage_db(request: pytest.FixtureRequest, fresh_db: str, has_timescale: bool,
                     storage_settings: StorageSettings) -> StorageDb:
    flavor = request.param
    if flavor == "timescale" and not has_timescale:
        pytest.skip(NO_TIMESCALE)
    st = replace(storage_settings, timescaledb="on" if flavor == "timescale" else "off")
    url = fresh_db
    if flavor == "timescale" and EXTERNAL_TIMESCALE:
        url = EXTERNAL_TIMESCALE
        await _wipe(url)
    await apply_migrations(url, settings=st)
    return StorageDb(url, flavor, st)
