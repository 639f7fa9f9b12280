"""GET /api/v1/live: the WebSocket live feed (new vitals, downsampled, and alert events).

Browsers cannot set headers on a WebSocket, so the token comes either as
`?access_token=` (checked before the upgrade: 401/403 as usual) or as the first message
`{"type": "auth", "token": "..."}` (refusal: close code 4401/4403). Then the client says
what it wants: `{"type": "subscribe", "devices": [...], "patients": [...], "wards": [...]}`
or `{"type": "subscribe", "all": true}`; each subscribe replaces the previous one.
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import WSMsgType, web

from .. import params as P
from ..auth import allowed, authenticate, bearer, check, self_authenticating
from ..errors import ApiError
from ..live import Client
from ..routing import Route, q
from ..state import HUB

AUTH_TIMEOUT_S = 10.0
MAX_SUBSCRIPTION = 1000


def apply_subscription(client: Client, doc: dict) -> None:
    devices, patients, wards = doc.get("devices", []), doc.get("patients", []), doc.get("wards", [])
    if not all(isinstance(x, list) and len(x) <= MAX_SUBSCRIPTION for x in (devices, patients, wards)):
        raise ValueError(f"devices/patients/wards must be lists of at most {MAX_SUBSCRIPTION}")
    client.devices = {P.device_id("devices", d) for d in devices}
    if not all(isinstance(p, int) and not isinstance(p, bool) for p in patients):
        raise ValueError("patients must be integer ids")
    client.patients = set(patients)
    client.wards = {str(w) for w in wards}
    client.everything = doc.get("all") is True


@self_authenticating("vitals:read")
async def live_feed(request: web.Request) -> web.StreamResponse:
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=64 * 1024)
    token = bearer(request, allow_query=True)
    info = None
    if token or not ws.can_prepare(request).ok:  # before the upgrade: a bad token gets a plain 401/403
        info = await authenticate(request, token)
        check(info, "vitals:read")
    if not ws.can_prepare(request).ok:
        raise ApiError(400, "websocket_required", "this endpoint speaks WebSocket only (GET with Upgrade)")
    await ws.prepare(request)
    if info is None:
        try:
            msg = await asyncio.wait_for(ws.receive(), AUTH_TIMEOUT_S)
            doc = json.loads(msg.data) if msg.type == WSMsgType.TEXT else {}
            info = await authenticate(request, doc.get("token") if isinstance(doc, dict) else None)
            check(info, "vitals:read")
        except (TimeoutError, ValueError, TypeError):
            await ws.close(code=4401, message=b"expected {\"type\": \"auth\", \"token\": ...} first")
            return ws
        except ApiError as exc:
            await ws.send_json(exc.body())
            await ws.close(code=4000 + exc.status, message=exc.message.encode()[:120])
            return ws
    client = Client(ws, alerts_allowed=allowed(info.role, "alerts:read"))
    hub = request.app[HUB]
    hub.add(client)
    await ws.send_json({"type": "ready", "role": info.role})
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                doc = json.loads(msg.data)
                if not isinstance(doc, dict) or doc.get("type") != "subscribe":
                    raise ValueError("expected {\"type\": \"subscribe\", ...}")
                apply_subscription(client, doc)
                await ws.send_json({"type": "subscribed", "devices": sorted(client.devices),
                                    "patients": sorted(client.patients), "wards": sorted(client.wards),
                                    "all": client.everything})
            except (ValueError, ApiError) as exc:
                await ws.send_json({"type": "error", "message": getattr(exc, "message", str(exc))})
    finally:
        hub.remove(client)
    return ws


ROUTES = [
    Route("GET", "/api/v1/live", live_feed, "WebSocket live feed: vitals (latest per device per tick) and alert "
          "events for the subscribed devices/patients/wards", "live",
          (q("access_token", "string", "token (or send {\"type\":\"auth\",\"token\":...} first)"),),
          response={"type": "string", "description": "101 Switching Protocols; JSON text messages"}, status=101),
]
