"""The API's connection pool and small query helpers shared by route modules."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool


def make_pool(dsn: str, max_size: int) -> AsyncConnectionPool:
    # autocommit: reads need no transaction; writers open one explicitly (conn.transaction()).
    # Default (tuple) rows: storage.queries and alerts read positionally; ours ask for dict_row.
    return AsyncConnectionPool(
        dsn,
        min_size=1,
        max_size=max_size,
        kwargs={"autocommit": True},
        timeout=10.0,
        open=False,
        name="vitalstream-api",
    )


async def fetch_all(conn: psycopg.AsyncConnection, sql: str, args: Any = None) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, args)
        return await cur.fetchall()


async def fetch_one(conn: psycopg.AsyncConnection, sql: str, args: Any = None) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, args)
        return await cur.fetchone()


async def audit(conn: psycopg.AsyncConnection, actor: str, action: str, target: str, detail: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO audit_log (actor, action, target, detail) VALUES (%s, %s, %s, %s)",
        (actor, action, target, psycopg.types.json.Jsonb(detail)),
    )
