"""API tokens: issued once, stored as a SHA-256 hash, revocable, optionally expiring.

A token is 32 random bytes (256 bits) in base64url behind a `vst_` prefix; with that much
entropy a plain SHA-256 is enough (no salt or slow hash needed: nothing to brute-force).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.rows import class_row, tuple_row

ROLES: tuple[str, ...] = ("admin", "clinician", "integrator", "device-admin")
PREFIX = "vst_"


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    role: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def usable(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    @property
    def actor(self) -> str:
        # What the audit log records: stable id plus the human name.
        return f"token:{self.id}:{self.name}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


_COLUMNS = "id, name, role, created_at, expires_at, revoked_at"


async def create_token(
    conn: psycopg.AsyncConnection, *, role: str, name: str, expires_in: timedelta | None = None
) -> tuple[str, TokenInfo]:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    token = new_token()
    expires_at = datetime.now(UTC) + expires_in if expires_in else None
    async with conn.cursor(row_factory=class_row(TokenInfo)) as cur:
        await cur.execute(
            f"INSERT INTO api_tokens (name, role, token_hash, expires_at) VALUES (%s, %s, %s, %s) RETURNING {_COLUMNS}",
            (name, role, hash_token(token), expires_at),
        )
        info = await cur.fetchone()
        await conn.execute(
            "INSERT INTO audit_log (actor, action, target, detail) VALUES ('cli', 'token.create', %s, %s)",
            (f"token:{info.id}", psycopg.types.json.Jsonb({"role": role, "name": name})),
        )
    assert info is not None
    return token, info


async def lookup(conn: psycopg.AsyncConnection, token: str) -> TokenInfo | None:
    async with conn.cursor(row_factory=class_row(TokenInfo)) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM api_tokens WHERE token_hash = %s", (hash_token(token),))
        return await cur.fetchone()


async def revoke(conn: psycopg.AsyncConnection, *, token_id: int | None = None, token: str | None = None) -> bool:
    if (token_id is None) == (token is None):
        raise ValueError("give exactly one of token_id or token")
    where, arg = ("id = %s", token_id) if token_id is not None else ("token_hash = %s", hash_token(token or ""))
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(
            f"UPDATE api_tokens SET revoked_at = now() WHERE {where} AND revoked_at IS NULL RETURNING id", (arg,)
        )
        row = await cur.fetchone()
    if row:
        await conn.execute(
            "INSERT INTO audit_log (actor, action, target) VALUES ('cli', 'token.revoke', %s)", (f"token:{row[0]}",)
        )
    return row is not None


async def list_tokens(conn: psycopg.AsyncConnection) -> list[TokenInfo]:
    async with conn.cursor(row_factory=class_row(TokenInfo)) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM api_tokens ORDER BY id")
        return await cur.fetchall()
