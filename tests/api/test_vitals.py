"""Devices and vitals over HTTP: raw pages vs bucketed aggregates, cursors, range limits, 400s."""

from __future__ import annotations

from datetime import timedelta
from statistics import mean

import pytest

from .conftest import T0, auth, seed_vitals


def iso(t):
    return t.isoformat().replace("+00:00", "Z")


async def test_bucketed_aggregates_match_the_raw_rows(client, conn, role_tokens):
    rows = await seed_vitals(conn, "dev-1", T0, 600)  # 10 minutes at 1 Hz
    h = auth(role_tokens["clinician"])
    frm, to = iso(T0), iso(T0 + timedelta(minutes=10))
    resp = await client.get(f"/api/v1/devices/dev-1/vitals?from={frm}&to={to}&bucket=1m", headers=h)
    assert resp.status == 200, await resp.text()
    buckets = (await resp.json())["items"]
    assert len(buckets) == 10
    # Collect every raw row through the cursor pages and aggregate them per minute ourselves.
    raw, cursor, pages = [], None, 0
    while True:
        url = f"/api/v1/devices/dev-1/vitals?from={frm}&to={to}&limit=200" + (f"&cursor={cursor}" if cursor else "")
        page = await (await client.get(url, headers=h)).json()
        raw += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == 3 and len(raw) == 600
    assert [r["seq"] for r in raw] == list(range(600))  # no row lost or repeated across pages
    for i, b in enumerate(buckets):
        minute = [r["hr"] for r in rows[i * 60:(i + 1) * 60]]
        assert b["n"] == 60 and b["hr"]["count"] == 60
        assert b["hr"]["avg"] == pytest.approx(mean(minute))
        assert (b["hr"]["min"], b["hr"]["max"]) == (min(minute), max(minute))
    resp = await client.get(f"/api/v1/devices/dev-1/vitals?from={frm}&to={to}&bucket=5m", headers=h)
    five = (await resp.json())["items"]
    assert [b["n"] for b in five] == [300, 300]


async def test_vitals_reads_are_audited_with_the_token(client, conn, role_tokens):
    await seed_vitals(conn, "dev-1", T0, 10)
    h = auth(role_tokens["integrator"])
    resp = await client.get(f"/api/v1/devices/dev-1/vitals?from={iso(T0)}&to={iso(T0 + timedelta(minutes=1))}",
                            headers=h)
    assert resp.status == 200
    cur = await conn.execute("SELECT actor, action, target, detail FROM audit_log WHERE action = 'vitals.read'")
    ((actor, _action, target, detail),) = await cur.fetchall()
    assert actor.endswith(":test-integrator") and target == "device:dev-1" and detail["rows"] == 10


@pytest.mark.parametrize("query,param", [
    ("from=bogus", "from"), ("to=2026-01-01", "to"), ("bucket=7m", "bucket"), ("limit=0", "limit"),
    ("limit=100000", "limit"), ("cursor=abc", "cursor"), ("frm=2026-01-01T00:00:00Z", "frm"),
    ("from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z", "from"),
    ("from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z", "from"),  # raw range too wide
    ("from=2020-01-01T00:00:00Z&to=2026-03-01T00:00:00Z&bucket=1m", "from"),  # too many buckets
    ("bucket=1m&limit=5", "limit"),
])
async def test_bad_vitals_parameters_get_400_naming_them(client, role_tokens, query, param):
    resp = await client.get(f"/api/v1/devices/dev-1/vitals?{query}", headers=auth(role_tokens["admin"]))
    assert resp.status == 400
    body = await resp.json()
    assert body["error"]["param"] == param and param in body["error"]["message"]


async def test_bad_device_id_in_path(client, role_tokens):
    resp = await client.get("/api/v1/devices/bad%20id/vitals", headers=auth(role_tokens["admin"]))
    assert resp.status == 400 and (await resp.json())["error"]["param"] == "id"


async def test_device_list_pages_and_latest_sample(client, conn, role_tokens):
    for i in range(7):
        await seed_vitals(conn, f"dev-{i}", T0, 3, seq0=0)
    h = auth(role_tokens["device-admin"])
    seen, cursor = [], None
    while True:
        page = await (await client.get("/api/v1/devices?limit=3" + (f"&cursor={cursor}" if cursor else ""),
                                       headers=h)).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [d["device_id"] for d in seen] == [f"dev-{i}" for i in range(7)]
    assert all(d["latest"]["seq"] == 2 for d in seen)
    resp = await client.get("/api/v1/devices/dev-3", headers=h)
    assert (await resp.json())["latest"]["seq"] == 2
    assert (await client.get("/api/v1/devices/nope", headers=h)).status == 404


async def test_provision_device(client, role_tokens, conn):
    h = auth(role_tokens["device-admin"])
    resp = await client.post("/api/v1/devices", json={"device_id": "new-1", "label": "bed 4 watch"}, headers=h)
    assert resp.status == 201
    assert (await client.post("/api/v1/devices", json={"device_id": "new-1"}, headers=h)).status == 409
    resp = await client.post("/api/v1/devices", json={"device_id": "bad id"}, headers=h)
    assert resp.status == 400 and (await resp.json())["error"]["param"] == "device_id"
    resp = await client.post("/api/v1/devices", data=b"not json", headers=h)
    assert resp.status == 400 and (await resp.json())["error"]["param"] == "body"
