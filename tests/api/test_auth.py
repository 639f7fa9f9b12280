"""Tokens and roles against every route: 401 without a usable token, 403 for a role
without the permission, through for a role with it (checked on the live server)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from api import tokens
from api.app import all_routes
from api.auth import PUBLIC, ROLE_PERMISSIONS

from .conftest import auth

PROTECTED = [r for r in all_routes() if r.permission != PUBLIC]


def concrete(path: str) -> str:
    return path.replace("{device_id}", "dev-1").replace("{id}", "dev-1" if "/devices/{id}" in path else "1")


async def call(client, route, headers=None):
    kwargs = {"json": {}} if route.method in ("POST", "PUT") else {}
    return await client.request(route.method, concrete(route.path), headers=headers or {}, **kwargs)


@pytest.mark.parametrize("route", PROTECTED, ids=lambda r: f"{r.method} {r.path}")
async def test_every_protected_route_refuses_missing_and_invalid_tokens(client, route):
    resp = await call(client, route)
    assert resp.status == 401, await resp.text()
    body = await resp.json()
    assert body["error"]["code"] == "unauthorized"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    resp = await call(client, route, auth("vst_not-a-real-token"))
    assert resp.status == 401
    resp = await call(client, route, {"Authorization": "Basic dXNlcjpwYXNz"})
    assert resp.status == 401


async def test_role_matrix(client, role_tokens):
    seen_forbidden = seen_allowed = 0
    for route in PROTECTED:
        for role, token in role_tokens.items():
            resp = await call(client, route, auth(token))
            text = await resp.text()
            if route.permission in ROLE_PERMISSIONS[role]:
                assert resp.status not in (401, 403), (role, route.method, route.path, resp.status, text)
                seen_allowed += 1
            else:
                assert resp.status == 403, (role, route.method, route.path, resp.status, text)
                assert route.permission in (await resp.json())["error"]["message"]
                seen_forbidden += 1
    assert seen_forbidden > 20 and seen_allowed > 20


@pytest.mark.parametrize("role,path,status", [
    ("clinician", "/api/v1/alerts", 200), ("clinician", "/api/v1/webhooks", 403),
    ("integrator", "/fhir/Observation?device=dev-1", 200), ("integrator", "/api/v1/alerts", 403),
    ("device-admin", "/api/v1/devices", 200), ("device-admin", "/api/v1/patients", 403),
    ("admin", "/api/v1/webhooks", 200), ("clinician", "/api/v1/ward", 200),
])
async def test_roles_spot_checks(client, role_tokens, role, path, status):
    resp = await client.get(path, headers=auth(role_tokens[role]))
    assert resp.status == status, await resp.text()


async def test_revoked_and_expired_tokens_are_refused(client, conn):
    token, info = await tokens.create_token(conn, role="admin", name="soon-revoked")
    assert (await client.get("/api/v1/devices", headers=auth(token))).status == 200
    assert await tokens.revoke(conn, token_id=info.id)
    resp = await client.get("/api/v1/devices", headers=auth(token))
    assert resp.status == 401 and "revoked" in (await resp.json())["error"]["message"]
    old, _ = await tokens.create_token(conn, role="admin", name="expired", expires_in=timedelta(seconds=1))
    await conn.execute("UPDATE api_tokens SET expires_at = now() - interval '1 minute' WHERE name = 'expired'")
    resp = await client.get("/api/v1/devices", headers=auth(old))
    assert resp.status == 401 and "expired" in (await resp.json())["error"]["message"]


async def test_tokens_are_stored_hashed(conn, role_tokens):
    cur = await conn.execute("SELECT token_hash FROM api_tokens")
    hashes = {r[0] for r in await cur.fetchall()}
    for token in role_tokens.values():
        assert token not in hashes and tokens.hash_token(token) in hashes


async def test_public_routes_need_no_token(client):
    for path in ("/healthz", "/metrics", "/api/v1/openapi.json", "/", "/static/app.js"):
        resp = await client.get(path)
        assert resp.status == 200, path
    assert (await (await client.get("/healthz")).json())["status"] == "ok"
    assert (await client.get("/static/..%2Fapp.py")).status == 404
