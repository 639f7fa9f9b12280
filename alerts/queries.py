"""Reading alerts for the API: a filtered, keyset-paginated list, one alert, its history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from .store import ALERT_COLUMNS, alert_json, dt, ms_of
from .signing import rfc3339

STATUSES = ("open", "acknowledged", "resolved")
MAX_LIMIT = 1000


class QueryError(ValueError):
    """A bad filter; `param` names the parameter (API: 400)."""

    def __init__(self, param: str, message: str):
        super().__init__(f"{param}: {message}")
        self.param = param


def _when(param: str, value: datetime | int | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        if value is not None and value.tzinfo is None:
            raise QueryError(param, "a time needs a timezone")
        return value
    if isinstance(value, int):
        return dt(value)
    raise QueryError(param, "expected epoch milliseconds or a tz-aware datetime")


def _cursor(value: str) -> tuple[datetime, int]:
    try:
        opened, _, ident = value.partition("_")
        return dt(int(opened)), int(ident)  # type: ignore[return-value]
    except ValueError:
        raise QueryError("cursor", "not a cursor returned by this API") from None


async def list_alerts(conn: psycopg.AsyncConnection, *, status: str | list[str] | None = None,
                      device_id: str | None = None, since: datetime | int | None = None,
                      until: datetime | int | None = None, limit: int = 100,
                      cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """Alerts newest first (by opened_at), filtered; returns (alerts, next_cursor or None).

    `status`: one of open/acknowledged/resolved, a comma list, or a list. `since`/`until`
    bound opened_at (inclusive/exclusive).
    """
    where, args = [], []  # type: ignore[var-annotated]
    if status:
        wanted = status.split(",") if isinstance(status, str) else list(status)
        bad = [s for s in wanted if s not in STATUSES]
        if bad:
            raise QueryError("status", f"unknown status {bad[0]!r} (one of {', '.join(STATUSES)})")
        where.append("status = ANY(%s)")
        args.append(wanted)
    if device_id:
        where.append("device_id = %s")
        args.append(device_id)
    if (lo := _when("since", since)) is not None:
        where.append("opened_at >= %s")
        args.append(lo)
    if (hi := _when("until", until)) is not None:
        where.append("opened_at < %s")
        args.append(hi)
    if cursor:
        opened, ident = _cursor(cursor)
        where.append("(opened_at, id) < (%s, %s)")
        args += [opened, ident]
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError("limit", f"must be between 1 and {MAX_LIMIT}")
    sql = f"SELECT {ALERT_COLUMNS} FROM alerts"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY opened_at DESC, id DESC LIMIT %s"
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, [*args, limit + 1])
        rows = await cur.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = f"{ms_of(rows[-1]['opened_at'])}_{rows[-1]['id']}" if more else None
    return [alert_json(r) for r in rows], next_cursor


async def get_alert(conn: psycopg.AsyncConnection, alert_id: int, *, history: bool = False) -> dict[str, Any] | None:
    """One alert (INTERFACE §4 JSON), with its `history` list when asked; None if unknown."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {ALERT_COLUMNS} FROM alerts WHERE id = %s", (alert_id,))
        row = await cur.fetchone()
        if row is None:
            return None
        alert = alert_json(row)
        if history:
            await cur.execute(
                "SELECT at, action, reason, actor, severity, summary, evidence FROM alert_events "
                "WHERE alert_id = %s ORDER BY id", (alert_id,))
            alert["history"] = [{**r, "at": rfc3339(ms_of(r["at"]))} for r in await cur.fetchall()]
        return alert
