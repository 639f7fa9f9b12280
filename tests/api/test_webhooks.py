"""Webhook subscriptions: POST → 201 with id (secret shown once), GET lists, DELETE removes."""

from __future__ import annotations

import pytest

from .conftest import auth

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


async def test_subscription_lifecycle(client, conn, role_tokens):
    h = auth(role_tokens["integrator"])
    resp = await client.post("/api/v1/webhooks", headers=h, json={
        "url": "https://example.org/hook", "secret": SECRET, "event_types": ["alert.opened"], "wards": ["4B"]})
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    assert isinstance(created["id"], int) and created["secret"] == SECRET
    listing = await (await client.get("/api/v1/webhooks", headers=h)).json()
    assert [s["id"] for s in listing["items"]] == [created["id"]]
    assert "secret" not in listing["items"][0]
    cur = await conn.execute("SELECT url, event_types, wards FROM webhook_subscriptions")
    assert await cur.fetchall() == [("https://example.org/hook", ["alert.opened"], ["4B"])]
    generated = await (await client.post("/api/v1/webhooks", headers=h, json={"url": "http://127.0.0.1:9/x"})).json()
    assert generated["secret"].startswith("whsec_") and len(generated["event_types"]) == 4
    assert (await client.delete(f"/api/v1/webhooks/{created['id']}", headers=h)).status == 204
    assert (await client.delete(f"/api/v1/webhooks/{created['id']}", headers=h)).status == 404


@pytest.mark.parametrize("body,param", [
    ({"url": "ftp://example.org/x"}, "url"), ({"url": "https://u:p@example.org/x"}, "url"), ({}, "url"),
    ({"url": "https://example.org/x", "secret": "nope"}, "secret"),
    ({"url": "https://example.org/x", "event_types": ["alert.exploded"]}, "event_types"),
    ({"url": "https://example.org/x", "device_ids": ["bad id"]}, "device_ids"),
    ({"url": "https://example.org/x", "colour": "red"}, "colour"),
])
async def test_bad_subscriptions(client, role_tokens, body, param):
    resp = await client.post("/api/v1/webhooks", json=body, headers=auth(role_tokens["admin"]))
    assert resp.status == 400 and (await resp.json())["error"]["param"] == param
