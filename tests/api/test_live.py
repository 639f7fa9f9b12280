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
