"""Who may do what: roles → permissions, and the middleware that enforces them.

Every handler declares one permission with `@requires(...)`; a handler without a
declaration is refused (deny by default), `@public` opens one explicitly. The token comes
from `Authorization: Bearer …`, or from `?access_token=` on the live WebSocket only
(browsers cannot set headers on a WebSocket).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import web

from . import tokens
from .errors import ApiError, forbidden, unauthorized
from .state import POOL

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PERMISSIONS: dict[str, str] = {
    "patients:read": "read patients, their assignments and the ward overview",
    "patients:write": "create patients and set their threshold overrides",
    "devices:read": "list devices and their latest sample",
    "devices:write": "provision devices and assign/unassign them to patients",
    "vitals:read": "read vitals (raw and bucketed)",
    "alerts:read": "list alerts and their history",
    "alerts:act": "acknowledge and resolve alerts",
    "fhir:read": "export FHIR Observations",
    "webhooks:manage": "list, create and delete webhook subscriptions",
}
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(PERMISSIONS),
    "clinician": frozenset(
        {"patients:read", "devices:read", "vitals:read", "alerts:read", "alerts:act"}
    ),
    "integrator": frozenset({"devices:read", "vitals:read", "fhir:read", "webhooks:manage"}),
    "device-admin": frozenset({"devices:read", "devices:write"}),
}
assert set(ROLE_PERMISSIONS) == set(tokens.ROLES)

PUBLIC = "public"
TOKEN_KEY = web.RequestKey("token", tokens.TokenInfo)  # the authenticated token of this request


def requires(permission: str) -> Callable[[Handler], Handler]:
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")

    def mark(handler: Handler) -> Handler:
        handler.permission = permission  # type: ignore[attr-defined]
        return handler

    return mark


def public(handler: Handler) -> Handler:
    handler.permission = PUBLIC  # type: ignore[attr-defined]
    return handler


def self_authenticating(permission: str) -> Callable[[Handler], Handler]:
    """For the WebSocket: the handler authenticates itself (query token or first message)."""

    def mark(handler: Handler) -> Handler:
        requires(permission)(handler)
        handler.self_auth = True  # type: ignore[attr-defined]
        return handler

    return mark


def permission_of(handler: object) -> str | None:
    return getattr(handler, "permission", None)


def allowed(role: str, permission: str) -> bool:
    return permission in ROLE_PERMISSIONS.get(role, frozenset())


def bearer(request: web.Request, *, allow_query: bool) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if allow_query:
        return request.query.get("access_token") or None
    return None


async def authenticate(request: web.Request, raw_token: str | None) -> tokens.TokenInfo:
    if not raw_token:
        raise unauthorized("missing bearer token")
    if not raw_token.startswith(tokens.PREFIX) or len(raw_token) > 200:
        raise unauthorized("invalid token")  # not one of ours: no database round trip
    async with request.app[POOL].connection() as conn:
        info = await tokens.lookup(conn, raw_token)
    if info is None:
        raise unauthorized("invalid token")
    if info.revoked_at is not None:
        raise unauthorized("token revoked")
    if not info.usable(datetime.now(UTC)):
        raise unauthorized("token expired")
    return info


def check(info: tokens.TokenInfo, permission: str) -> None:
    if not allowed(info.role, permission):
        raise forbidden(permission, info.role)


def current_token(request: web.Request) -> tokens.TokenInfo:
    return request[TOKEN_KEY]


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = request.match_info.route
    target = getattr(route, "handler", None)
    permission = permission_of(target) if target is not None else None
    if request.match_info.http_exception is not None:
        raise request.match_info.http_exception  # 404/405: nothing to protect
    if permission == PUBLIC or getattr(target, "self_auth", False):
        return await handler(request)
    if permission is None:
        raise ApiError(500, "internal", "route without a declared permission")
    info = await authenticate(request, bearer(request, allow_query=False))
    check(info, permission)
    request[TOKEN_KEY] = info
    return await handler(request)
