"""The live WebSocket: authenticates like the rest, streams new vitals and alert events."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import aiohttp

from .conftest import auth, open_alert, seed_patient, seed_vitals, touch_device


async def next_of(ws, kind: str, timeout: float = 10.0) -> dict:
    async def loop():
        while True:
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            doc = json.loads(msg.data)
            if doc["type"] == kind:
                return doc

    return await asyncio.wait_for(loop(), timeout)


async def test_live_feed_streams_vitals_and_alert_events(client, conn, role_tokens):
    pid = await seed_patient(conn, "Ada", device_id="live-1")
    async with client.ws_connect("/api/v1/live") as ws:
        await ws.send_json({"type": "auth", "token": role_tokens["clinician"]})
        assert (await next_of(ws, "ready"))["role"] == "clinician"
        await ws.send_json({"type": "subscribe", "patients": [pid]})
        await next_of(ws, "subscribed")
        await asyncio.sleep(0.5)  # let the hub take its baseline
        now = datetime.now(UTC)
        await seed_vitals(conn, "live-1", now, 1, seq0=100, spo2=89.0)
        await seed_vitals(conn, "not-mine", now, 1, seq0=100)
        msg = await next_of(ws, "vitals")
        assert msg["device_id"] == "live-1" and msg["patient_id"] == pid and msg["sample"]["spo2"] == 89.0
        assert msg["news2"]["total"] >= 3
        # A sample that reached the database late (received by the gateway a minute ago, as
        # after a worker backlog) is still news: the feed keys on what is stored, not when received.
        await conn.execute("INSERT INTO vitals (device_id, ts, seq, hr, received_at) VALUES "
                           "('live-1', %s, 101, 77, now() - interval '1 minute')", (now + timedelta(seconds=1),))
        await touch_device(conn, "live-1", now + timedelta(seconds=1))
        msg = await next_of(ws, "vitals")
        assert msg["sample"]["seq"] == 101 and msg["sample"]["hr"] == 77
        alert_id = await open_alert(conn, "live-1", ts=now)
        msg = await next_of(ws, "alert")
        assert msg["alert"]["id"] == alert_id and msg["action"] == "open" and msg["alert"]["status"] == "open"


async def test_live_feed_refuses_bad_tokens(client, role_tokens):
    resp = await client.get("/api/v1/live?access_token=vst_nope", headers={"Upgrade": "websocket",
                                                                          "Connection": "Upgrade"})
    assert resp.status == 401
    async with client.ws_connect("/api/v1/live") as ws:
        await ws.send_json({"type": "auth", "token": "vst_nope"})
        msg = await ws.receive()
        assert json.loads(msg.data)["error"]["code"] == "unauthorized"
        msg = await ws.receive()
        assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4401
    async with client.ws_connect("/api/v1/live") as ws:
        await ws.send_json({"type": "auth", "token": role_tokens["device-admin"]})
        await ws.receive()
        msg = await ws.receive()
        assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4403
    # the header form works too (non-browser clients), and integrators get vitals but no alerts
    async with client.ws_connect("/api/v1/live", headers=auth(role_tokens["integrator"])) as ws:
        assert (await next_of(ws, "ready"))["role"] == "integrator"


async def _alert_messages(ws, n: int, timeout: float = 30.0, quiet_s: float = 1.0) -> list[dict]:
    """The next `n` alert messages, then whatever else arrives within `quiet_s` (should be none)."""
    out: list[dict] = []

    async def until_n():
        while len(out) < n:
            out.append(await next_of(ws, "alert", timeout))

    await asyncio.wait_for(until_n(), timeout)
    try:
        while True:
            out.append(await next_of(ws, "alert", quiet_s))
    except TimeoutError:
        pass
    return out


async def _burst(conn, alert_id: int, n: int, tag: str) -> None:
    """n alert events for one alert, committed at once (so one tick sees all of them)."""
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO alert_events (alert_id, at, action, severity, summary) "
            "SELECT %s, now(), 'update', 'high', %s || g FROM generate_series(0, %s - 1) g",
            (alert_id, tag, n))


async def _subscribed_all(client, role_tokens):
    ws = await client.ws_connect("/api/v1/live")
    await ws.send_json({"type": "auth", "token": role_tokens["clinician"]})
    await next_of(ws, "ready")
    await ws.send_json({"type": "subscribe", "all": True})
    await next_of(ws, "subscribed")
    await asyncio.sleep(0.5)  # let the hub take its baseline
    return ws


async def test_live_feed_sends_every_event_of_a_large_burst_once_in_order(client, conn, role_tokens):
    """More than one page (2,000) of alert events between two ticks: none skipped, none twice."""
    alert_id = await open_alert(conn, "burst-1")
    ws = await _subscribed_all(client, role_tokens)
    try:
        await _burst(conn, alert_id, 4500, "a")
        got = await _alert_messages(ws, 4500)
        assert [m["alert"]["summary"] for m in got] == [f"a{i}" for i in range(4500)]
        ids = [m["event_id"] for m in got]
        assert ids == sorted(set(ids))
        await _burst(conn, alert_id, 10, "b")  # and the feed goes on after it
        assert [m["alert"]["summary"] for m in await _alert_messages(ws, 10)] == [f"b{i}" for i in range(10)]
    finally:
        await ws.close()


async def test_live_feed_catches_up_over_several_ticks(client, conn, role_tokens, monkeypatch):
    """Past the per-tick page budget the hub continues after the last event it read."""
    from api import live

    monkeypatch.setattr(live, "EVENT_PAGE", 40)
    monkeypatch.setattr(live, "EVENT_PAGES_PER_TICK", 2)
    alert_id = await open_alert(conn, "burst-2")
    ws = await _subscribed_all(client, role_tokens)
    try:
        await _burst(conn, alert_id, 1000, "c")
        got = await _alert_messages(ws, 1000)
        assert [m["alert"]["summary"] for m in got] == [f"c{i}" for i in range(1000)]
    finally:
        await ws.close()


async def test_live_feed_sends_an_event_that_commits_after_a_later_one(client, conn, role_tokens, database_url):
    """Ids are taken at insert, rows appear at commit: a lower id committed late is still sent, once."""
    import psycopg

    alert_id = await open_alert(conn, "late-1")
    ws = await _subscribed_all(client, role_tokens)
    try:
        async with await psycopg.AsyncConnection.connect(database_url) as slow:
            await slow.execute("INSERT INTO alert_events (alert_id, at, action, severity, summary) "
                               "VALUES (%s, now(), 'update', 'high', 'first id, late commit')", (alert_id,))
            await _burst(conn, alert_id, 3, "d")  # higher ids, committed first
            assert [m["alert"]["summary"] for m in await _alert_messages(ws, 3)] == ["d0", "d1", "d2"]
            await slow.commit()
        got = await _alert_messages(ws, 1)
        assert [m["alert"]["summary"] for m in got] == ["first id, late commit"]
    finally:
        await ws.close()
