"""API fixtures: a real aiohttp test server over a freshly migrated database, one token
per role, and helpers that seed devices, patients, vitals and alerts with plain SQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from psycopg.types.json import Jsonb

from api import tokens
from api.app import build_app
from vitalstream.config import Settings

ROLES = tokens.ROLES
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def api_settings(settings: Settings, database_url: str) -> Settings:
    core = replace(settings.core, database_url=database_url)
    api = replace(settings.api, live_poll_s=0.2, page_size_default=50, page_size_max=200, max_buckets=2000)
    return replace(settings, core=core, api=api)


@pytest.fixture
async def client(api_settings: Settings) -> AsyncIterator[TestClient]:
    app = build_app(api_settings)
    async with TestClient(TestServer(app)) as c:
        yield c


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[psycopg.AsyncConnection]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as c:
        yield c


@pytest.fixture
async def role_tokens(conn: psycopg.AsyncConnection) -> dict[str, str]:
    out = {}
    for role in ROLES:
        token, _ = await tokens.create_token(conn, role=role, name=f"test-{role}")
        out[role] = token
    return out


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def seed_device(conn: psycopg.AsyncConnection, device_id: str) -> None:
    await conn.execute("INSERT INTO devices (device_id) VALUES (%s) ON CONFLICT DO NOTHING", (device_id,))


async def seed_patient(conn: psycopg.AsyncConnection, name: str, ward: str = "A", bed: str = "1",
                       device_id: str | None = None) -> int:
    cur = await conn.execute("INSERT INTO patients (name, ward, bed) VALUES (%s, %s, %s) RETURNING id",
                             (name, ward, bed))
    (pid,) = await cur.fetchone()
    if device_id:
        await seed_device(conn, device_id)
        await conn.execute(
            "INSERT INTO device_assignments (device_id, patient_id, ward, bed, assigned_at) "
            "VALUES (%s, %s, %s, %s, %s)",
            (device_id, pid, ward, bed, T0 - timedelta(days=30)))
    return pid


async def seed_vitals(conn: psycopg.AsyncConnection, device_id: str, start: datetime, n: int, step_s: float = 1.0,
                      seq0: int = 0, **fixed: float | None) -> list[dict[str, Any]]:
    """n samples every step_s seconds; hr rises 60.. so aggregates are checkable."""
    await seed_device(conn, device_id)
    rows = []
    for i in range(n):
        row = {"device_id": device_id, "ts": start + timedelta(seconds=i * step_s), "seq": seq0 + i,
               "hr": 60.0 + (i % 40), "spo2": 97.0, "rr": 14.0, "temp": 36.8, "sbp": 120.0, "dbp": 80.0,
               "activity": 0.1}
        row.update(fixed)
        rows.append(row)
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO vitals (device_id, ts, seq, hr, spo2, rr, temp, sbp, dbp, activity) VALUES "
            "(%(device_id)s, %(ts)s, %(seq)s, %(hr)s, %(spo2)s, %(rr)s, %(temp)s, %(sbp)s, %(dbp)s, %(activity)s)",
            rows)
    if rows:  # as storage.sink does, in the real pipeline in the same transaction
        await touch_device(conn, device_id, rows[-1]["ts"])
    return rows


async def touch_device(conn: psycopg.AsyncConnection, device_id: str, ts: datetime) -> None:
    await conn.execute("UPDATE devices SET last_seen_at = GREATEST(last_seen_at, %s) WHERE device_id = %s",
                       (ts, device_id))


async def seed_alert(conn: psycopg.AsyncConnection, device_id: str, *, kind: str = "spo2.low", severity: str = "high",
                     status: str = "open", opened_at: datetime = T0, summary: str = "SpO2 88 % for 3 min") -> int:
    ack = opened_at + timedelta(minutes=1) if status == "acknowledged" else None
    res = opened_at + timedelta(minutes=2) if status == "resolved" else None
    cur = await conn.execute(
        "INSERT INTO alerts (device_id, kind, severity, status, opened_at, acknowledged_at, resolved_at, summary, "
        "evidence, vitals, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (device_id, kind, severity, status, opened_at, ack, res, summary, Jsonb({"spo2": 88, "news2": 7}),
         ["spo2"], opened_at))
    (alert_id,) = await cur.fetchone()
    await conn.execute(
        "INSERT INTO alert_events (alert_id, at, action, severity, summary, evidence) "
        "VALUES (%s, %s, 'open', %s, %s, %s)",
        (alert_id, opened_at, severity, summary, Jsonb({"spo2": 88})))
    return alert_id


async def open_alert(conn: psycopg.AsyncConnection, device_id: str, *, kind: str = "spo2.low",
                     severity: str = "high", ts: datetime = T0, summary: str = "SpO2 88 % for 3 min") -> int:
    """Open an alert the way the live engine does (policy state + alert row + history)."""
    from alerts.model import PolicyConfig
    from alerts.policy import device_feed
    from alerts.store import load_states, save_states, write_actions
    from detectors.candidate import AlertCandidate

    await seed_device(conn, device_id)
    candidate = AlertCandidate(device_id, kind, severity, int(ts.timestamp() * 1000), True, summary,
                               {"spo2": 88, "news2": 7}, ("spo2",), "rules")
    config = PolicyConfig()
    async with conn.transaction():
        states, ids = await load_states(conn, [device_id])
        device = states.setdefault(device_id, {})
        actions = device_feed(device, candidate, config)
        await write_actions(conn, actions, ids)
        await save_states(conn, device_id, device, ids, config, [kind])
    cur = await conn.execute("SELECT id FROM alerts WHERE device_id = %s AND kind = %s AND status <> 'resolved'",
                             (device_id, kind))
    (alert_id,) = await cur.fetchone()
    return alert_id
