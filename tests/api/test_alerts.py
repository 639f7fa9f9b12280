"""Alerts over HTTP: filters, cursor pages, acknowledge/resolve through alerts.actions, audit."""

from __future__ import annotations

from datetime import timedelta

from .conftest import T0, auth, open_alert, seed_patient


async def test_list_filters_and_pages(client, conn, role_tokens):
    ids = []
    for i in range(9):
        ids.append(await open_alert(conn, f"dev-{i % 3}", kind=f"kind.{i}", ts=T0 + timedelta(minutes=i)))
    h = auth(role_tokens["clinician"])
    got, cursor = [], None
    while True:
        page = await (await client.get("/api/v1/alerts?limit=4" + (f"&cursor={cursor}" if cursor else ""),
                                       headers=h)).json()
        got += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [a["id"] for a in got] == ids[::-1]  # newest first, each exactly once
    page = await (await client.get("/api/v1/alerts?device_id=dev-1&status=open", headers=h)).json()
    assert {a["device_id"] for a in page["items"]} == {"dev-1"} and len(page["items"]) == 3
    page = await (await client.get("/api/v1/alerts?status=resolved", headers=h)).json()
    assert page["items"] == []
    for query, param in (("status=closed", "status"), ("device_id=a%20b", "device_id"), ("severity=x", "severity"),
                         ("limit=1000", "limit"), ("patient_id=x", "patient_id")):
        resp = await client.get(f"/api/v1/alerts?{query}", headers=h)
        assert resp.status == 400 and (await resp.json())["error"]["param"] == param


async def test_filter_by_patient(client, conn, role_tokens):
    pid = await seed_patient(conn, "Ada", device_id="dev-p")
    mine = await open_alert(conn, "dev-p")
    await open_alert(conn, "dev-other")
    page = await (await client.get(f"/api/v1/alerts?patient_id={pid}", headers=auth(role_tokens["admin"]))).json()
    assert [a["id"] for a in page["items"]] == [mine] and page["items"][0]["patient_id"] == pid


async def test_ack_then_resolve_changes_the_database_and_audits(client, conn, role_tokens):
    alert_id = await open_alert(conn, "dev-1")
    h = auth(role_tokens["clinician"])
    resp = await client.post(f"/api/v1/alerts/{alert_id}/ack", headers=h)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["status"] == "acknowledged"
    cur = await conn.execute("SELECT status, acknowledged_by FROM alerts WHERE id = %s", (alert_id,))
    status, by = await cur.fetchone()
    assert status == "acknowledged" and by.endswith(":test-clinician")
    resp = await client.post(f"/api/v1/alerts/{alert_id}/resolve", headers=h)
    assert resp.status == 200 and (await resp.json())["status"] == "resolved"
    # acknowledging a resolved alert is a conflict; resolving again is an idempotent 200
    assert (await client.post(f"/api/v1/alerts/{alert_id}/ack", headers=h)).status == 409
    assert (await client.post(f"/api/v1/alerts/{alert_id}/resolve", headers=h)).status == 200
    cur = await conn.execute("SELECT action, actor FROM audit_log WHERE target = %s ORDER BY id",
                             (f"alert:{alert_id}",))
    rows = await cur.fetchall()
    assert [a for a, _ in rows] == ["alert.ack", "alert.resolve"]
    assert all(actor.endswith(":test-clinician") for _, actor in rows)
    detail = await (await client.get(f"/api/v1/alerts/{alert_id}", headers=h)).json()
    assert [e["action"] for e in detail["events"]][:1] == ["open"]
    assert detail["events"][-1]["action"] == "resolve" and detail["events"][0]["evidence"]


async def test_ack_unknown_alert_and_bad_id(client, role_tokens):
    h = auth(role_tokens["clinician"])
    assert (await client.post("/api/v1/alerts/999999/ack", headers=h)).status == 404
    resp = await client.post("/api/v1/alerts/abc/ack", headers=h)
    assert resp.status == 400 and (await resp.json())["error"]["param"] == "id"
