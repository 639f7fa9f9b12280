"""Webhook subscriptions: create, list, delete, re-deliver (the CLI and the API call these).

A subscription (INTERFACE §5): {"url", "secret": "whsec_…", "event_types": [...],
optional "device_ids", "wards", "description"}. Listings never show the secret, only its
last four characters; the secret is returned once, by `add_subscription`.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from .signing import SecretError, new_secret, secret_key
from .store import NOTIFY_CHANNEL
from .urls import UrlRefused, check_url

EVENT_TYPES = ("alert.opened", "alert.escalated", "alert.acknowledged", "alert.resolved")
_COLUMNS = ("id, url, secret, event_types, device_ids, wards, description, enabled, disabled_reason, disabled_at, "
            "failing_since, created_at")


class SubscriptionError(ValueError):
    """A bad subscription field; `param` names it (API: 400)."""

    def __init__(self, param: str, message: str):
        super().__init__(f"{param}: {message}")
        self.param = param


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def subscription_json(row: dict[str, Any], *, show_secret: bool = False) -> dict[str, Any]:
    secret = row["secret"]
    return {
        "id": row["id"], "url": row["url"],
        "secret": secret if show_secret else f"whsec_…{secret[-4:]}",
        "event_types": list(row["event_types"]), "device_ids": row["device_ids"], "wards": row["wards"],
        "description": row["description"], "enabled": row["enabled"], "disabled_reason": row["disabled_reason"],
        "disabled_at": _iso(row["disabled_at"]), "failing_since": _iso(row["failing_since"]),
        "created_at": _iso(row["created_at"]),
    }


def _str_list(param: str, value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise SubscriptionError(param, "expected a list of non-empty strings")
    return list(value) or None


async def add_subscription(conn: psycopg.AsyncConnection, url: str, *, secret: str | None = None,
                           event_types: list[str] | None = None, device_ids: list[str] | None = None,
                           wards: list[str] | None = None, description: str | None = None,
                           allow_private: bool = True) -> dict[str, Any]:
    """Validate and store a subscription; returns it with its secret (generated if not given)."""
    if not isinstance(url, str) or not url:
        raise SubscriptionError("url", "required")
    try:
        await asyncio.to_thread(check_url, url, allow_private=allow_private)  # may resolve DNS
    except UrlRefused as exc:
        raise SubscriptionError("url", str(exc)) from None
    secret = secret or new_secret()
    try:
        secret_key(secret)
    except SecretError as exc:
        raise SubscriptionError("secret", str(exc)) from None
    types = _str_list("event_types", event_types) or list(EVENT_TYPES)
    unknown = [t for t in types if t not in EVENT_TYPES]
    if unknown:
        raise SubscriptionError("event_types", f"unknown event type {unknown[0]!r} (one of {', '.join(EVENT_TYPES)})")
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"INSERT INTO webhook_subscriptions (url, secret, event_types, device_ids, wards, description) "
            f"VALUES (%s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
            (url, secret, types, _str_list("device_ids", device_ids), _str_list("wards", wards), description))
        row = await cur.fetchone()
    assert row is not None
    return subscription_json(row, show_secret=True)


async def list_subscriptions(conn: psycopg.AsyncConnection) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM webhook_subscriptions ORDER BY id")
        rows = await cur.fetchall()
        await cur.execute(
            "SELECT subscription_id, status, count(*) AS n FROM webhook_deliveries GROUP BY 1, 2")
        counts: dict[int, dict[str, int]] = {}
        for r in await cur.fetchall():
            counts.setdefault(r["subscription_id"], {})[r["status"]] = r["n"]
    return [{**subscription_json(r), "deliveries": counts.get(r["id"], {})} for r in rows]


async def get_subscription(conn: psycopg.AsyncConnection, sub_id: int) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM webhook_subscriptions WHERE id = %s", (sub_id,))
        row = await cur.fetchone()
    return subscription_json(row) if row else None


async def delete_subscription(conn: psycopg.AsyncConnection, sub_id: int) -> bool:
    """Delete a subscription and its deliveries; False if there was none."""
    cur = await conn.execute("DELETE FROM webhook_subscriptions WHERE id = %s", (sub_id,))
    return cur.rowcount > 0


async def redeliver(conn: psycopg.AsyncConnection, sub_id: int, *, since: datetime | None = None) -> int:
    """Re-enable a subscription and queue its held and failed deliveries (created since
    `since`, if given) for delivery now, with their original webhook-ids. Returns how many."""
    async with conn.transaction():
        cur = await conn.execute(
            "UPDATE webhook_subscriptions SET enabled = true, disabled_reason = NULL, disabled_at = NULL, "
            "failing_since = NULL, updated_at = now() WHERE id = %s", (sub_id,))
        if cur.rowcount == 0:
            raise SubscriptionError("id", f"no subscription {sub_id}")
        cur = await conn.execute(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now() "
            "WHERE subscription_id = %s AND status IN ('held', 'failed') AND (%s::timestamptz IS NULL OR "
            "created_at >= %s)", (sub_id, since, since))
        count = cur.rowcount
        await conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")
    return count
