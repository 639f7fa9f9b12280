"""Apply the schema migrations in `storage/migrations/` (see storage.sqlfiles for naming).

Safe to run from several processes at once: everything happens under a PostgreSQL
advisory lock, so the second runner waits, then finds nothing left to do. Idempotent:
`schema_migrations` records each version applied (with the flavour it was applied for),
in the same transaction as the migration itself wherever the migration is transactional.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

import psycopg

from vitalstream.config.env import Env
from vitalstream.config.storage import StorageSettings

from . import flavor as flavors
from .sqlfiles import Migration, discover, split_statements
from .timescale import apply_policies

log = logging.getLogger(__name__)

# Arbitrary but fixed: the advisory-lock key every vitalstream migrate run takes.
LOCK_KEY = 0x76_73_6D_69_67_72_61  # "vsmigra"
LOCK_WAIT_S = 600.0

_BOOTSTRAP = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text PRIMARY KEY,
    flavor     text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS vitalstream_meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);
"""


class MigrationError(RuntimeError):
    """A migration failed; the message names the file. Earlier migrations stay applied."""


async def _lock(conn: psycopg.AsyncConnection, wait_s: float) -> None:
    # Poll with try-lock rather than block forever, so a stuck peer yields a clear error.
    deadline = time.monotonic() + wait_s
    while True:
        row = await (await conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,))).fetchone()
        if row and row[0]:
            return
        if time.monotonic() > deadline:
            raise MigrationError(f"another migrate run has held the migration lock for over {wait_s:.0f} s")
        await asyncio.sleep(0.2)


async def _apply_one(conn: psycopg.AsyncConnection, migration: Migration, flavor: str) -> None:
    files = migration.files_for(flavor)
    for sql in files:
        try:
            if sql.transactional:
                async with conn.transaction():
                    await conn.execute(sql.text.encode())
            else:
                for statement in split_statements(sql.text):
                    await conn.execute(statement.encode())
        except psycopg.Error as exc:
            raise MigrationError(f"migration {sql.name} failed: {exc}") from exc
    await conn.execute(
        "INSERT INTO schema_migrations (version, flavor) VALUES (%s, %s) ON CONFLICT (version) DO NOTHING",
        (migration.version, flavor),
    )


async def _apply_all(conn: psycopg.AsyncConnection, settings: StorageSettings) -> list[str]:
    await conn.execute(_BOOTSTRAP.encode())
    flavor = await flavors.choose_flavor(conn, settings)
    cur = await conn.execute("SELECT version FROM schema_migrations")
    done = {row[0] for row in await cur.fetchall()}
    ran: list[str] = []
    for migration in discover():
        if migration.version in done:
            continue
        if all(f.transactional for f in migration.files_for(flavor)):
            # the files and the bookkeeping row in one transaction: all or nothing
            async with conn.transaction():
                await _apply_one(conn, migration, flavor)
        else:
            await _apply_one(conn, migration, flavor)
        log.info("applied migration %s (%s)", migration.version, flavor)
        ran.append(migration.version)
    if flavor == flavors.TIMESCALE:
        try:
            await apply_policies(conn, settings)
        except psycopg.Error as exc:
            raise MigrationError(f"applying TimescaleDB policies failed: {exc}") from exc
    return ran


async def apply_migrations(dsn: str, *, settings: StorageSettings | None = None) -> list[str]:
    """Bring the database at `dsn` up to date; returns the versions applied by this call."""
    if settings is None:
        settings = StorageSettings.from_env(Env(os.environ))
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await _lock(conn, LOCK_WAIT_S)
        try:
            return await _apply_all(conn, settings)
        finally:
            if not conn.closed:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))


def migrate_sync(dsn: str, *, settings: StorageSettings | None = None) -> list[str]:
    """Blocking wrapper for the CLI and scripts."""
    return asyncio.run(apply_migrations(dsn, settings=settings))
