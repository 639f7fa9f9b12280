"""Webhook subscriptions (INTERFACE §4/§5): list, create (201 + id), delete.

The secret is shown once, in the POST answer (generated when the client gives none);
listings never include it. URL rules come from alerts.urls, secret rules from
alerts.signing, so the API and the dispatcher refuse the same things.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from alerts import signing, urls

from .. import params as P
from ..auth import current_token, requires
from ..db import audit, fetch_all, fetch_one
from ..errors import bad_param, json_response, not_found
from ..routing import CURSOR, DEVICE_ID, LIMIT, Route, p, page_of
from ..state import POOL, SETTINGS
from .devices import json_body

EVENT_TYPES = ("alert.opened", "alert.escalated", "alert.acknowledged", "alert.resolved")
_COLS = ("id, url, event_types, device_ids, wards, description, enabled, disabled_reason, disabled_at, "
         "failing_since, created_at")


def _str_list(
    body: dict, name: str, *, allowed: tuple[str, ...] | None = None, device: bool = False
) -> list[str] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not value or len(value) > 1000 or not all(isinstance(v, str) for v in value):
        raise bad_param(name, "expected a non-empty list of strings (at most 1000)")
    for v in value:
        if allowed is not None and v not in allowed:
            raise bad_param(name, f"{v!r} is not one of {', '.join(allowed)}")
        if device:
            P.device_id(name, v)
    return sorted(set(value))


@requires("webhooks:manage")
async def list_webhooks(request: web.Request) -> web.Response:
    query = request.query
    P.only_known(query, ("limit", "cursor"))
    api = request.app[SETTINGS].api
    limit = P.page_limit(query, api.page_size_default, api.page_size_max)
    after = P.decode_cursor(query, (int,))
    async with request.app[POOL].connection() as conn:
        rows = await fetch_all(conn, f"SELECT {_COLS} FROM webhook_subscriptions WHERE id > %s ORDER BY id LIMIT %s",
                               (after[0] if after else 0, limit + 1))
    page = rows[:limit]
    nxt = P.encode_cursor([page[-1]["id"]]) if len(rows) > limit else None
    return json_response({"items": page, "next_cursor": nxt})


@requires("webhooks:manage")
async def create_webhook(request: web.Request) -> web.Response:
    body = await json_body(request)
    unknown = set(body) - {"url", "secret", "event_types", "device_ids", "wards", "description"}
    if unknown:
        raise bad_param(sorted(unknown)[0], "unknown field")
    url = body.get("url")
    if not isinstance(url, str) or len(url) > 2000:
        raise bad_param("url", "expected an http(s) URL of at most 2000 characters")
    allow_private = request.app[SETTINGS].alerts.allow_private_urls
    try:
        # check_url may resolve DNS (blocking): off the event loop.
        await asyncio.get_running_loop().run_in_executor(None, lambda: urls.check_url(url, allow_private=allow_private))
    except urls.UrlRefused as exc:
        raise bad_param("url", str(exc)) from None
    secret = body.get("secret")
    if secret is None:
        secret = signing.new_secret()
    elif not isinstance(secret, str):
        raise bad_param("secret", "expected whsec_ + base64")
    else:
        try:
            signing.secret_key(secret)
        except signing.SecretError as exc:
            raise bad_param("secret", str(exc)) from None
    event_types = _str_list(body, "event_types", allowed=EVENT_TYPES) or list(EVENT_TYPES)
    device_ids = _str_list(body, "device_ids", device=True)
    wards = _str_list(body, "wards")
    description = body.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 500):
        raise bad_param("description", "expected a string of at most 500 characters")
    async with request.app[POOL].connection() as conn, conn.transaction():
        row = await fetch_one(
            conn,
            "INSERT INTO webhook_subscriptions (url, secret, event_types, device_ids, wards, description) "
            f"VALUES (%s, %s, %s, %s, %s, %s) RETURNING {_COLS}",
            (url, secret, event_types, device_ids, wards, description),
        )
        assert row is not None
        await audit(conn, current_token(request).actor, "webhook.create", f"webhook:{row['id']}", {"url": url})
    row["secret"] = secret  # shown once
    return json_response(row, status=201)


@requires("webhooks:manage")
async def delete_webhook(request: web.Request) -> web.Response:
    sub_id = P.path_int("id", request.match_info["id"])
    async with request.app[POOL].connection() as conn, conn.transaction():
        row = await fetch_one(conn, "DELETE FROM webhook_subscriptions WHERE id = %s RETURNING id", (sub_id,))
        if row is None:
            raise not_found(f"webhook subscription {sub_id}")
        await audit(conn, current_token(request).actor, "webhook.delete", f"webhook:{sub_id}", {})
    return web.Response(status=204)


_SUB: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"}, "url": {"type": "string", "format": "uri"},
        "event_types": {"type": "array", "items": {"type": "string", "enum": list(EVENT_TYPES)}},
        "device_ids": {"type": ["array", "null"], "items": DEVICE_ID},
        "wards": {"type": ["array", "null"], "items": {"type": "string"}},
        "description": {"type": ["string", "null"]}, "enabled": {"type": "boolean"},
    },
}
ROUTES = [
    Route("GET", "/api/v1/webhooks", list_webhooks, "List webhook subscriptions (secrets omitted)", "webhooks",
          (LIMIT, CURSOR), response=page_of(_SUB)),
    Route("POST", "/api/v1/webhooks", create_webhook, "Subscribe a URL to alert events", "webhooks",
          body={"type": "object", "required": ["url"], "properties": {
              "url": {"type": "string", "pattern": "^https?://"},
              "secret": {"type": "string", "pattern": "^whsec_", "description": "generated when omitted"},
              "event_types": {"type": "array", "items": {"type": "string", "enum": list(EVENT_TYPES)}},
              "device_ids": {"type": "array", "items": DEVICE_ID},
              "wards": {"type": "array", "items": {"type": "string"}},
              "description": {"type": "string"}}},
          response={**_SUB, "properties": {**_SUB["properties"], "secret": {"type": "string"}}}, status=201),
    Route("DELETE", "/api/v1/webhooks/{id}", delete_webhook, "Delete a subscription", "webhooks",
          (p("id", {"type": "integer", "minimum": 1}),), response={"type": "null"}, status=204),
]
