"""Alerts: list (filtered, cursor-paged), one alert with its history, acknowledge, resolve.

State changes go through alerts.actions (policy state, alert row, history, webhook outbox
and audit row in one transaction); this module only validates, authorises and shapes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from aiohttp import web

from .. import params as P
from ..auth import current_token, requires
from ..db import fetch_all, fetch_one
from ..errors import bad_param, conflict, json_response, not_found
from ..routing import CURSOR, DEVICE_ID, LIMIT, Route, p, page_of, q
from ..state import POOL, SETTINGS

ALERT_COLS = (
    "al.id, al.device_id, al.kind, al.severity, al.status, al.opened_at, al.acknowledged_at, al.acknowledged_by, "
    "al.resolved_at, al.resolved_by, al.summary, al.evidence, al.vitals, al.escalation_level, al.updated_at, "
    "a.patient_id, a.ward, a.bed"
)
ALERT_FROM = (
    "alerts al LEFT JOIN device_assignments a ON a.device_id = al.device_id AND a.unassigned_at IS NULL"
)


def _status_list(query: Any) -> list[str] | None:
    raw = query.get("status")
    if not raw:
        return None
    values = raw.split(",")
    for v in values:
        if v not in P.ALERT_STATUSES:
            raise bad_param("status", f"expected one or more (comma-separated) of {', '.join(P.ALERT_STATUSES)}")
    return values


async def query_alerts(
    conn: psycopg.AsyncConnection, *, statuses: list[str] | None = None, device_id: str | None = None,
    patient_id: int | None = None, ward: str | None = None, severity: str | None = None,
    after: tuple[datetime, int] | None = None, limit: int = 100,
) -> list[dict[str, Any]]:
    """Newest first; `after` is the (opened_at, id) of the previous page's last row.

    Only the filters given become SQL conditions, so each filter combination gets a plan
    that can use its index (no `x IS NULL OR ...` that a generic prepared plan cannot)."""
    where: list[str] = []
    args: list[Any] = []
    for cond, value in (("al.status = ANY(%s)", statuses), ("al.device_id = %s", device_id),
                        ("a.patient_id = %s", patient_id), ("a.ward = %s", ward), ("al.severity = %s", severity)):
        if value is not None:
            where.append(cond)
            args.append(value)
    if after is not None:
        where.append("(al.opened_at, al.id) < (%s, %s)")
        args += list(after)
    sql = f"SELECT {ALERT_COLS} FROM {ALERT_FROM}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return await fetch_all(conn, sql + " ORDER BY al.opened_at DESC, al.id DESC LIMIT %s", [*args, limit])


@requires("alerts:read")
async def list_alerts(request: web.Request) -> web.Response:
    query = request.query
    P.only_known(query, ("status", "device_id", "patient_id", "ward", "severity", "limit", "cursor"))
    api = request.app[SETTINGS].api
    limit = P.page_limit(query, api.page_size_default, api.page_size_max)
    after = P.decode_cursor(query, (datetime, int))
    async with request.app[POOL].connection() as conn:
        rows = await query_alerts(
            conn, statuses=_status_list(query), device_id=P.opt_device_id(query, "device_id"),
            patient_id=P.opt_int(query, "patient_id", lo=1, hi=2**62), ward=query.get("ward") or None,
            severity=P.opt_choice(query, "severity", P.SEVERITIES), after=tuple(after) if after else None,
            limit=limit + 1,
        )
    page = rows[:limit]
    nxt = P.encode_cursor([page[-1]["opened_at"], page[-1]["id"]]) if len(rows) > limit else None
    return json_response({"items": page, "next_cursor": nxt})


async def _alert(conn: psycopg.AsyncConnection, alert_id: int) -> dict[str, Any]:
    row = await fetch_one(conn, f"SELECT {ALERT_COLS} FROM {ALERT_FROM} WHERE al.id = %s", (alert_id,))
    if row is None:
        raise not_found(f"alert {alert_id}")
    return row


@requires("alerts:read")
async def get_alert(request: web.Request) -> web.Response:
    alert_id = P.path_int("id", request.match_info["id"])
    async with request.app[POOL].connection() as conn:
        row = await _alert(conn, alert_id)
        row["events"] = await fetch_all(
            conn,
            "SELECT id, at, recorded_at, action, reason, actor, severity, summary, evidence FROM alert_events "
            "WHERE alert_id = %s ORDER BY id",
            (alert_id,),
        )
    return json_response(row)


async def _transition(request: web.Request, verb: str) -> web.Response:
    from alerts import actions  # lazy: keeps route import cheap

    alert_id = P.path_int("id", request.match_info["id"])
    P.only_known(request.query, ())
    if request.can_read_body:
        await request.read()  # an optional note body is accepted and ignored
    actor = current_token(request).actor  # the audit row (written by alerts.actions) names the token
    change = actions.acknowledge if verb == "ack" else actions.resolve
    async with request.app[POOL].connection() as conn:
        try:
            await change(conn, alert_id, actor)
        except actions.AlertNotFound:
            raise not_found(f"alert {alert_id}") from None
        except actions.AlertConflict as exc:  # e.g. acknowledging a resolved alert
            raise conflict(str(exc)) from None
        return json_response(await _alert(conn, alert_id))


@requires("alerts:act")
async def ack_alert(request: web.Request) -> web.Response:
    return await _transition(request, "ack")


@requires("alerts:act")
async def resolve_alert(request: web.Request) -> web.Response:
    return await _transition(request, "resolve")


ALERT = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"}, "device_id": DEVICE_ID, "kind": {"type": "string"},
        "severity": {"type": "string", "enum": list(P.SEVERITIES)},
        "status": {"type": "string", "enum": list(P.ALERT_STATUSES)},
        "opened_at": {"type": "string", "format": "date-time"},
        "acknowledged_at": {"type": ["string", "null"]}, "acknowledged_by": {"type": ["string", "null"]},
        "resolved_at": {"type": ["string", "null"]}, "resolved_by": {"type": ["string", "null"]},
        "summary": {"type": "string"}, "evidence": {"type": "object"},
        "patient_id": {"type": ["integer", "null"]}, "ward": {"type": ["string", "null"]},
    },
}
_AID = p("id", {"type": "integer", "minimum": 1})
ROUTES = [
    Route("GET", "/api/v1/alerts", list_alerts, "List alerts, newest first", "alerts",
          (q("status", "string", "open|acknowledged|resolved, comma-separated"), q("device_id", DEVICE_ID),
           q("patient_id", "integer"), q("ward", "string"),
           q("severity", {"type": "string", "enum": list(P.SEVERITIES)}),
           LIMIT, CURSOR), response=page_of(ALERT)),
    Route("GET", "/api/v1/alerts/{id}", get_alert, "One alert with its history (evidence per event)", "alerts",
          (_AID,), response=ALERT),
    Route("POST", "/api/v1/alerts/{id}/ack", ack_alert, "Acknowledge an alert (audited)", "alerts", (_AID,),
          response=ALERT),
    Route("POST", "/api/v1/alerts/{id}/resolve", resolve_alert, "Resolve an alert (audited)", "alerts", (_AID,),
          response=ALERT),
]
