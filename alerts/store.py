"""Writing the policy's decisions to PostgreSQL, inside the caller's transaction.

For every action: the `alerts` row (insert on open, update otherwise), a line of
`alert_events` history (not for plain repeats: a condition reported every second would
otherwise write a history row per second), and, for the four webhook event types, the outbox rows
(`webhook_events` + one `webhook_deliveries` row per matching subscription). Because all
of it shares the caller's transaction with the policy state, a crash can neither lose a
notification nor send one for a change that did not happen.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from .model import AlertState, PolicyAction, PolicyConfig
from .policy import DeviceState, next_due_ms
from .signing import event_body, rfc3339

NOTIFY_CHANNEL = "vitalstream_webhooks"  # dispatchers LISTEN; NOTIFY is sent at commit

ALERT_COLUMNS = (
    "id, device_id, kind, severity, status, opened_at, acknowledged_at, acknowledged_by, resolved_at, "
    "resolved_by, summary, evidence, vitals, updated_at, last_candidate_at, clear_since, candidate_count, "
    "escalation_level, escalated_at, next_escalation_at"
)


def dt(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def ms_of(value: datetime | None) -> int | None:
    return None if value is None else int(round(value.timestamp() * 1000))


def alert_json(row: dict[str, Any]) -> dict[str, Any]:
    """An `alerts` row as the outside world sees it (INTERFACE §4; webhooks and the API)."""
    return {
        "id": row["id"],
        "device_id": row["device_id"],
        "kind": row["kind"],
        "severity": row["severity"],
        "status": row["status"],
        "opened_at": rfc3339(ms_of(row["opened_at"])),
        "acknowledged_at": rfc3339(ms_of(row["acknowledged_at"])),
        "acknowledged_by": row["acknowledged_by"],
        "resolved_at": rfc3339(ms_of(row["resolved_at"])),
        "resolved_by": row["resolved_by"],
        "summary": row["summary"],
        "evidence": row["evidence"],
        "vitals": list(row["vitals"] or []),
        "escalation_level": row["escalation_level"],
        "updated_at": rfc3339(ms_of(row["updated_at"])),
    }


async def load_states(conn: psycopg.AsyncConnection, device_ids: Iterable[str]
                      ) -> tuple[dict[str, DeviceState], dict[tuple[str, str], int | None]]:
    """Every policy state of these devices, locked until the transaction ends."""
    states: dict[str, DeviceState] = {}
    ids: dict[tuple[str, str], int | None] = {}
    async with conn.cursor() as cur:
        await cur.execute(
            "SELECT device_id, kind, state, alert_id FROM alert_policy_state WHERE device_id = ANY(%s) "
            "ORDER BY device_id, kind FOR UPDATE",
            (sorted(set(device_ids)),),
        )
        async for device_id, kind, state, alert_id in cur:
            states.setdefault(device_id, {})[kind] = AlertState.from_dict(state)
            ids[(device_id, kind)] = alert_id
    return states, ids


def state_rows(device_id: str, states: DeviceState, ids: dict[tuple[str, str], int | None],
               config: PolicyConfig | None, kinds: Iterable[str] | None = None, *,
               due_now_ms: int | None = None, offset_ms: int | None = None) -> list[tuple]:
    """Rows for `upsert_states`. `next_due_ms` is stored on the wall clock: the state's next
    timer (device time) plus the device's clock offset (`offset_ms`, wall - device; None keeps
    the stored one, and counts as 0 for the due time). Without a config the next timer is set
    to `due_now_ms` (wall), so the engine's next tick recomputes it with the real configuration."""
    rows = []
    for kind in sorted(kinds if kinds is not None else states):
        st = states[kind]
        if config is None:
            due = due_now_ms
        else:
            device_due = next_due_ms(st, config)
            due = None if device_due is None else device_due + (offset_ms or 0)
        rows.append((device_id, kind, Jsonb(st.to_dict()), ids.get((device_id, kind)), due, offset_ms))
    return rows


async def load_offsets(conn: psycopg.AsyncConnection, device_ids: Iterable[str]) -> dict[str, int]:
    """Each device's clock offset (wall - device ms) as last measured; absent: not measured."""
    cur = await conn.execute(
        "SELECT device_id, max(clock_offset_ms) FROM alert_policy_state WHERE device_id = ANY(%s) "
        "AND clock_offset_ms IS NOT NULL GROUP BY device_id", (sorted(set(device_ids)),))
    return {d: int(o) for d, o in await cur.fetchall()}


async def upsert_states(conn: psycopg.AsyncConnection, rows: list[tuple]) -> None:
    """Write policy state rows (one pipelined executemany for any number of devices)."""
    if not rows:
        return
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO alert_policy_state (device_id, kind, state, alert_id, next_due_ms, clock_offset_ms) "
            "VALUES (%s,%s,%s,%s,%s,%s) ON CONFLICT (device_id, kind) DO UPDATE SET state = EXCLUDED.state, "
            "alert_id = EXCLUDED.alert_id, next_due_ms = EXCLUDED.next_due_ms, "
            "clock_offset_ms = COALESCE(EXCLUDED.clock_offset_ms, alert_policy_state.clock_offset_ms), "
            "updated_at = now()",
            rows,
        )


async def save_states(conn: psycopg.AsyncConnection, device_id: str, states: DeviceState,
                      ids: dict[tuple[str, str], int | None], config: PolicyConfig | None,
                      kinds: Iterable[str] | None = None, *, due_now_ms: int | None = None,
                      offset_ms: int | None = None) -> None:
    """Upsert one device's policy state rows (see state_rows)."""
    await upsert_states(conn, state_rows(device_id, states, ids, config, kinds, due_now_ms=due_now_ms,
                                         offset_ms=offset_ms))


def _values(st: AlertState, action: PolicyAction) -> dict[str, Any]:
    return {
        "device_id": st.device_id, "kind": st.kind, "severity": st.severity, "status": st.status,
        "opened_at": dt(st.opened_at_ms), "acknowledged_at": dt(st.acknowledged_at_ms),
        "acknowledged_by": st.acknowledged_by, "resolved_at": dt(st.resolved_at_ms), "resolved_by": st.resolved_by,
        "summary": st.summary, "evidence": Jsonb(st.evidence), "vitals": list(st.vitals),
        "updated_at": dt(st.updated_at_ms), "last_candidate_at": dt(st.last_candidate_ms),
        "clear_since": dt(st.clear_since_ms), "candidate_count": st.candidate_count,
        "escalation_level": st.escalation_level,
        "escalated_at": dt(action.ts_ms) if action.action == "escalate" else None,
        "next_escalation_at": dt(st.next_escalation_ms),
    }


_INSERT = (
    "INSERT INTO alerts (device_id, kind, severity, status, opened_at, acknowledged_at, acknowledged_by, "
    "resolved_at, resolved_by, summary, evidence, vitals, updated_at, last_candidate_at, clear_since, "
    "candidate_count, escalation_level, escalated_at, next_escalation_at) VALUES (%(device_id)s, %(kind)s, "
    "%(severity)s, %(status)s, %(opened_at)s, %(acknowledged_at)s, %(acknowledged_by)s, %(resolved_at)s, "
    "%(resolved_by)s, %(summary)s, %(evidence)s, %(vitals)s, %(updated_at)s, %(last_candidate_at)s, "
    "%(clear_since)s, %(candidate_count)s, %(escalation_level)s, %(escalated_at)s, %(next_escalation_at)s) "
    f"RETURNING {ALERT_COLUMNS}"
)
_UPDATE = (
    "UPDATE alerts SET severity = %(severity)s, status = %(status)s, acknowledged_at = %(acknowledged_at)s, "
    "acknowledged_by = %(acknowledged_by)s, resolved_at = %(resolved_at)s, resolved_by = %(resolved_by)s, "
    "summary = %(summary)s, evidence = %(evidence)s, vitals = %(vitals)s, updated_at = %(updated_at)s, "
    "last_candidate_at = %(last_candidate_at)s, clear_since = %(clear_since)s, "
    "candidate_count = %(candidate_count)s, escalation_level = %(escalation_level)s, "
    "escalated_at = COALESCE(%(escalated_at)s, escalated_at), next_escalation_at = %(next_escalation_at)s "
    f"WHERE id = %(id)s RETURNING {ALERT_COLUMNS}"
)


async def write_actions(conn: psycopg.AsyncConnection, actions: Iterable[PolicyAction],
                        ids: dict[tuple[str, str], int | None]) -> list[dict[str, Any]]:
    """Apply the actions to `alerts` (+ history + outbox); `ids` maps (device, kind) to the
    current alert row and is updated on open. Returns the alert rows written."""
    actions = [a for a in actions if a.action != "suppress" and a.alert is not None]  # held back: no row
    last = {(a.device_id, a.kind): i for i, a in enumerate(actions)}
    written: list[dict[str, Any]] = []
    deferred: list[dict[str, Any]] = []
    async with conn.cursor(row_factory=dict_row) as cur:
        for i, action in enumerate(actions):
            st = action.alert
            assert st is not None
            key = (action.device_id, action.kind)
            repeat = action.action == "update" and action.reason == "candidate"
            if repeat:
                # No history, no event: written at the end in one pipelined executemany, and only
                # the batch's last snapshot of each alert (it supersedes the earlier ones).
                if i == last[key]:
                    deferred.append({**_values(st, action), "id": ids.get(key)})
                continue
            values = _values(st, action)
            if action.action == "open":
                await cur.execute(_INSERT, values)
            else:
                await cur.execute(_UPDATE, {**values, "id": ids.get(key)})
            row = await cur.fetchone()
            if row is None:
                raise LookupError(f"alert for {key} missing (policy state and alerts table disagree)")
            ids[key] = row["id"]
            written.append(row)
            await cur.execute(
                "INSERT INTO alert_events (alert_id, at, action, reason, actor, severity, summary, evidence) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (row["id"], dt(action.ts_ms), action.action, action.reason, action.actor, action.severity,
                 action.summary, Jsonb(action.evidence)),
            )
            if action.event_type is not None:
                await enqueue_event(conn, action.event_type, action.ts_ms, row)
        if deferred:
            await cur.executemany(_UPDATE.partition(" RETURNING")[0], deferred)
    return written


async def enqueue_event(conn: psycopg.AsyncConnection, event_type: str, ts_ms: int, row: dict[str, Any]) -> int:
    """Write one webhook event and its deliveries to every matching subscription (outbox)."""
    body = event_body(event_type, ts_ms, alert_json(row))
    async with conn.cursor() as cur:
        await cur.execute(
            "INSERT INTO webhook_events (type, alert_id, device_id, ward, body) VALUES (%s, %s, %s, "
            "(SELECT COALESCE(a.ward, p.ward) FROM device_assignments a JOIN patients p ON p.id = a.patient_id "
            " WHERE a.device_id = %s AND a.unassigned_at IS NULL LIMIT 1), %s) RETURNING id",
            (event_type, row["id"], row["device_id"], row["device_id"], body),
        )
        event_id = (await cur.fetchone())[0]  # type: ignore[index]
        # A disabled subscription still gets its events, held: `webhooks redeliver` sends them later.
        await cur.execute(
            "INSERT INTO webhook_deliveries (event_id, subscription_id, status) "
            "SELECT e.id, s.id, CASE WHEN s.enabled THEN 'pending' ELSE 'held' END "
            "FROM webhook_events e JOIN webhook_subscriptions s ON e.type = ANY(s.event_types) "
            "AND (s.device_ids IS NULL OR e.device_id = ANY(s.device_ids)) "
            "AND (s.wards IS NULL OR e.ward = ANY(s.wards)) WHERE e.id = %s",
            (event_id,),
        )
        if cur.rowcount:
            await cur.execute(f"NOTIFY {NOTIFY_CHANNEL}")
    return event_id
