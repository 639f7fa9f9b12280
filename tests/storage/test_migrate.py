"""Migrations: complete, idempotent, safe when several processes run them at once."""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import replace

import psycopg
import pytest
from psycopg import errors as pgerr

from storage import cli
from storage.flavor import FlavorError
from storage.migrate import apply_migrations
from storage.sqlfiles import discover
from vitalstream.config import Settings
from vitalstream.config.storage import StorageSettings

from .conftest import NO_TIMESCALE


def _plain(st: StorageSettings) -> StorageSettings:
    return replace(st, timescaledb="off")


async def _versions(url: str) -> list[str]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT version FROM schema_migrations ORDER BY version")
        return [r[0] for r in await cur.fetchall()]


async def test_migrate_applies_everything_once(fresh_db: str, storage_settings: StorageSettings) -> None:
    every = [m.version for m in discover()]
    first = await apply_migrations(fresh_db, settings=_plain(storage_settings))
    assert first == every
    assert await apply_migrations(fresh_db, settings=_plain(storage_settings)) == []
    assert await _versions(fresh_db) == every
    async with await psycopg.AsyncConnection.connect(fresh_db, autocommit=True) as conn:
        row = "('d1', now(), 7)"
        await conn.execute(f"INSERT INTO vitals (device_id, ts, seq) VALUES {row}")
        with pytest.raises(pgerr.UniqueViolation):  # INTERFACE §3: unique on (device_id, seq)
            await conn.execute("INSERT INTO vitals (device_id, ts, seq) VALUES ('d1', now() - interval '1 h', 7)")
        for table in ("devices", "patients", "device_assignments", "scores", "api_tokens", "audit_log"):
            await conn.execute(f"SELECT 1 FROM {table} LIMIT 1")
        flavor = await (await conn.execute("SELECT value FROM vitalstream_meta WHERE key = 'flavor'")).fetchone()
        assert flavor == ("plain",)


async def test_concurrent_migrate_runs_apply_each_version_once(fresh_db: str, storage_settings: StorageSettings) -> None:
    # "auto" as in production: picks TimescaleDB where the server has it.
    st = replace(storage_settings, timescaledb="auto")
    results = await asyncio.gather(*(apply_migrations(fresh_db, settings=st) for _ in range(4)))
    every = [m.version for m in discover()]
    applied = [v for r in results for v in r]
    assert sorted(applied) == every  # each version applied by exactly one runner
    assert sum(1 for r in results if r) == 1  # the lock serialised them: one did all the work
    assert await _versions(fresh_db) == every


async def test_one_active_assignment_per_device(fresh_db: str, storage_settings: StorageSettings) -> None:
    await apply_migrations(fresh_db, settings=_plain(storage_settings))
    async with await psycopg.AsyncConnection.connect(fresh_db, autocommit=True) as conn:
        await conn.execute("INSERT INTO devices (device_id) VALUES ('w1')")
        await conn.execute("INSERT INTO patients (id, external_id) VALUES (1, 'MRN1'), (2, 'MRN2')")
        await conn.execute("INSERT INTO device_assignments (device_id, patient_id, ward) VALUES ('w1', 1, 'A')")
        with pytest.raises(pgerr.UniqueViolation):
            await conn.execute("INSERT INTO device_assignments (device_id, patient_id) VALUES ('w1', 2)")
        await conn.execute("UPDATE device_assignments SET unassigned_at = now() WHERE device_id = 'w1'")
        await conn.execute("INSERT INTO device_assignments (device_id, patient_id) VALUES ('w1', 2)")


async def test_flavour_is_fixed_at_first_migrate(fresh_db: str, storage_settings: StorageSettings) -> None:
    await apply_migrations(fresh_db, settings=_plain(storage_settings))
    with pytest.raises(FlavorError, match="created as plain"):
        await apply_migrations(fresh_db, settings=replace(storage_settings, timescaledb="on"))


async def test_timescaledb_on_without_extension_is_refused(
    fresh_db: str, storage_settings: StorageSettings, has_timescale: bool
) -> None:
    if has_timescale:
        pytest.skip("the server has timescaledb; this checks the refusal where it has not")
    with pytest.raises(FlavorError, match="no timescaledb"):
        await apply_migrations(fresh_db, settings=replace(storage_settings, timescaledb="on"))


async def test_timescaledb_objects_and_policies(
    fresh_db: str, storage_settings: StorageSettings, has_timescale: bool
) -> None:
    if not has_timescale:
        pytest.skip(NO_TIMESCALE)
    st = replace(storage_settings, timescaledb="on", raw_retention_days=20, compress_after_days=3)
    await apply_migrations(fresh_db, settings=st)
    await apply_migrations(fresh_db, settings=st)  # policies re-applied without error
    async with await psycopg.AsyncConnection.connect(fresh_db, autocommit=True) as conn:
        cur = await conn.execute("SELECT hypertable_name FROM timescaledb_information.hypertables ORDER BY 1")
        assert {r[0] for r in await cur.fetchall()} >= {"vitals", "scores"}
        cur = await conn.execute("SELECT view_name FROM timescaledb_information.continuous_aggregates ORDER BY 1")
        assert [r[0] for r in await cur.fetchall()] == ["vitals_1h", "vitals_1m"]
        cur = await conn.execute(
            "SELECT proc_name, hypertable_name, config FROM timescaledb_information.jobs"
            " WHERE proc_name IN ('policy_retention', 'policy_compression', 'policy_refresh_continuous_aggregate')"
        )
        jobs = await cur.fetchall()
        retention = {j[1]: j[2]["drop_after"] for j in jobs if j[0] == "policy_retention"}
        assert retention["vitals"] in ("20 days", "20 days 00:00:00")
        assert len([j for j in jobs if j[0] == "policy_compression"]) == 1
        assert len([j for j in jobs if j[0] == "policy_refresh_continuous_aggregate"]) == 2
        assert len(retention) == 4  # vitals, scores and both aggregates, one policy each


def test_cli_migrate(fresh_db: str, settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    st = replace(settings, storage=_plain(settings.storage))
    assert cli.run(argparse.Namespace(database_url=fresh_db), st) == 0
    assert "applied" in capsys.readouterr().out
    assert cli.run(argparse.Namespace(database_url=fresh_db), st) == 0
    assert "up to date" in capsys.readouterr().out
    none = replace(st, core=replace(st.core, database_url=None))
    assert cli.run(argparse.Namespace(database_url=None), none) == 2
    assert "VITALSTREAM_DATABASE_URL" in capsys.readouterr().err
