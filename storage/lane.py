"""One writer connection with its retry policy.

A lane runs one attempt at a time on its own connection. Transient errors (see
storage.errors.is_transient) reconnect and retry with exponential backoff, up to the
retry budget; then StorageUnavailable. Anything else is permanent: WriteError at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import psycopg

from . import sink
from .errors import StorageError, StorageUnavailable, WriteError, is_transient, needs_new_connection

log = logging.getLogger(__name__)
T = TypeVar("T")


class Lane:
    def __init__(self, dsn: str, application_name: str, retry_timeout_s: float, on_retry: Callable[[bool], None]):
        self._dsn = dsn
        self._app = application_name
        self._retry_timeout_s = retry_timeout_s
        self._on_retry = on_retry  # stats hook: on_retry(reconnected)
        self._conn: psycopg.AsyncConnection | None = None
        self._lock = asyncio.Lock()

    async def connection(self) -> psycopg.AsyncConnection:
        if needs_new_connection(self._conn):
            if self._conn is not None:
                await self._conn.close()
                self._conn = None
                self._on_retry(True)
            conn = await psycopg.AsyncConnection.connect(
                self._dsn,
                autocommit=True,
                application_name=self._app,
                connect_timeout=10,
                # notice a dead server or network within ~25 s instead of the OS default (hours)
                keepalives=1,
                keepalives_idle=10,
                keepalives_interval=5,
                keepalives_count=3,
            )
            try:
                await sink.prepare(conn)
            except BaseException:
                await conn.close()
                raise
            self._conn = conn
        assert self._conn is not None
        return self._conn

    async def run(self, attempt: Callable[[psycopg.AsyncConnection], Awaitable[T]]) -> T:
        """attempt(conn), retried on transient errors; an idempotent attempt is assumed."""
        deadline = time.monotonic() + self._retry_timeout_s
        delay = 0.05
        async with self._lock:
            while True:
                try:
                    return await attempt(await self.connection())
                except StorageError:
                    raise
                except Exception as exc:
                    if not is_transient(exc):
                        raise WriteError(f"permanent database error: {type(exc).__name__}: {exc}") from exc
                    if time.monotonic() + delay > deadline:
                        raise StorageUnavailable(
                            f"database unavailable for {self._retry_timeout_s:.0f} s: {exc}"
                        ) from exc
                    log.warning("transient database error, retrying in %.2f s: %s", delay, exc)
                    self._on_retry(False)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
