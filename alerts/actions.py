"""What a clinician does to an alert (the API calls these): acknowledge, resolve.

Each runs in one transaction: the policy state (so escalation stops and the engine
agrees), the `alerts` row, its history, the outgoing webhook event and an `audit_log`
line. Semantics (HTTP in brackets):
- acknowledge an open alert: acknowledged, `alert.acknowledged` sent [200];
  again on an acknowledged one: unchanged, nothing sent [200];
  on a resolved one: AlertConflict [409].
- resolve an open or acknowledged alert: resolved, `alert.resolved` sent [200];
  again on a resolved one: unchanged, nothing sent [200].
- an unknown id: AlertNotFound [404].
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from .policy import InvalidTransition, device_acknowledge, device_resolve
from .store import ALERT_COLUMNS, alert_json, load_offsets, load_states, save_states, write_actions


class AlertNotFound(LookupError):
    """No alert with that id [404]."""


class AlertConflict(RuntimeError):
    """The alert's status does not allow this [409]."""


async def _change(conn: psycopg.AsyncConnection, alert_id: int, actor: str, what: str,
                  now_ms: int | None) -> dict[str, Any]:
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    async with conn.transaction():
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(f"SELECT {ALERT_COLUMNS} FROM alerts WHERE id = %s", (alert_id,))
            row = await cur.fetchone()
        if row is None:
            raise AlertNotFound(f"no alert {alert_id}")
        device_id, kind = row["device_id"], row["kind"]
        states, ids = await load_states(conn, [device_id])
        device = states.get(device_id, {})
        current = ids.get((device_id, kind)) == alert_id and kind in device
        if not current or row["status"] == "resolved":
            # an older alert of this (device, kind), or one already resolved
            if what == "resolve" and row["status"] == "resolved":
                return alert_json(row)
            if row["status"] == "resolved":
                raise AlertConflict(f"alert {alert_id} is resolved")
            raise AlertConflict(f"alert {alert_id} is not managed by the alert policy")
        # The policy runs on the device's clock (alerts.engine): the click, on that clock, is
        # now minus the device's offset, so acknowledged_at/resolved_at never precede opened_at
        # and the re-open cooldown is measured on the same clock as the candidates.
        policy_now = now_ms - (await load_offsets(conn, [device_id])).get(device_id, 0)
        try:
            if what == "acknowledge":
                actions = device_acknowledge(device, kind, policy_now, actor)
            else:
                actions = device_resolve(device, kind, policy_now, actor)
        except InvalidTransition as exc:
            raise AlertConflict(str(exc)) from None
        if not actions:
            return alert_json(row)  # idempotent repeat
        written = await write_actions(conn, actions, ids)
        # No PolicyConfig here: the next engine tick recomputes this state's timers.
        await save_states(conn, device_id, device, ids, None, [kind], due_now_ms=now_ms)
        await conn.execute(
            "INSERT INTO audit_log (actor, action, target, detail) VALUES (%s, %s, %s, %s)",
            (actor, f"alert.{'ack' if what == 'acknowledge' else 'resolve'}", f"alert:{alert_id}",
             Jsonb({"device_id": device_id, "kind": kind, "previous_status": row["status"]})),
        )
        return alert_json(written[-1])


async def acknowledge(conn: psycopg.AsyncConnection, alert_id: int, actor: str, *,
                      now_ms: int | None = None) -> dict[str, Any]:
    """Acknowledge alert `alert_id` as `actor`; returns the alert (INTERFACE §4 JSON)."""
    return await _change(conn, alert_id, actor, "acknowledge", now_ms)


async def resolve(conn: psycopg.AsyncConnection, alert_id: int, actor: str, *,
                  now_ms: int | None = None) -> dict[str, Any]:
    """Resolve alert `alert_id` as `actor`; returns the alert (INTERFACE §4 JSON)."""
    return await _change(conn, alert_id, actor, "resolve", now_ms)
