"""Which flavour a database is: plain PostgreSQL or TimescaleDB.

The flavour is chosen once, on the first migrate run, and stored in `vitalstream_meta`;
later runs and every query read it back. A database never changes flavour behind its
users' backs: installing TimescaleDB on a server later does not convert an existing plain
database (that is a deliberate data migration, see docs/storage.md).
"""

from __future__ import annotations

import logging
import weakref

import psycopg

from vitalstream.config.storage import StorageSettings

PLAIN = "plain"
TIMESCALE = "timescale"

log = logging.getLogger(__name__)


class FlavorError(RuntimeError):
    """The requested flavour cannot be had on this server or database."""


async def stored_flavor(conn: psycopg.AsyncConnection) -> str | None:
    exists = await (await conn.execute("SELECT to_regclass('vitalstream_meta') IS NOT NULL")).fetchone()
    if not exists or not exists[0]:
        return None
    row = await (await conn.execute("SELECT value FROM vitalstream_meta WHERE key = 'flavor'")).fetchone()
    return row[0] if row else None


async def _timescale_state(conn: psycopg.AsyncConnection) -> tuple[bool, bool]:
    """(available on the server, already installed in this database)."""
    row = await (
        await conn.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'),"
            " EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')"
        )
    ).fetchone()
    assert row is not None
    return bool(row[0]), bool(row[1])


async def choose_flavor(conn: psycopg.AsyncConnection, settings: StorageSettings) -> str:
    """Decide (first run) or read back (later runs) the flavour; installs the extension.

    `conn` must be in autocommit mode and hold the migration lock.
    """
    stored = await stored_flavor(conn)
    if stored is not None:
        if settings.timescaledb == "on" and stored != TIMESCALE:
            raise FlavorError(
                "VITALSTREAM_TIMESCALEDB=on but this database was created as plain PostgreSQL;"
                " migrate into a new database (see docs/storage.md)"
            )
        if stored == TIMESCALE:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        return stored
    flavor = await _pick_new(conn, settings)
    await conn.execute(
        "INSERT INTO vitalstream_meta (key, value) VALUES ('flavor', %s) ON CONFLICT (key) DO NOTHING", (flavor,)
    )
    return flavor


async def _pick_new(conn: psycopg.AsyncConnection, settings: StorageSettings) -> str:
    if settings.timescaledb == "off":
        return PLAIN
    available, installed = await _timescale_state(conn)
    if not available and not installed:
        if settings.timescaledb == "on":
            raise FlavorError("VITALSTREAM_TIMESCALEDB=on but the server has no timescaledb extension")
        log.info("timescaledb is not available on this server: using plain PostgreSQL")
        return PLAIN
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    except psycopg.Error as exc:
        # Typically: installed but not in shared_preload_libraries.
        if settings.timescaledb == "on":
            raise FlavorError(f"cannot create extension timescaledb: {exc}") from exc
        log.warning("timescaledb is available but cannot be created (%s): using plain PostgreSQL", exc)
        return PLAIN
    return TIMESCALE


# Query-side cache: a database's flavour never changes once chosen.
_cache: weakref.WeakKeyDictionary[psycopg.AsyncConnection, str] = weakref.WeakKeyDictionary()


async def flavor_of(conn: psycopg.AsyncConnection) -> str:
    """The stored flavour of the connection's database (PLAIN if never migrated)."""
    cached = _cache.get(conn)
    if cached is None:
        cached = await stored_flavor(conn) or PLAIN
        _cache[conn] = cached
    return cached
