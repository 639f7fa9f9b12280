"""A database connection that is re-opened after it broke (database restart, network cut).

The engine and the dispatcher are long-running: a PostgreSQL restart must cost them a
few retries, not the process. Callers catch `psycopg.OperationalError`, wait, and call
`get()` again, which reconnects when the old connection is closed or broken.
"""

from __future__ import annotations

import psycopg

RETRY_S = 1.0  # pause after a database error before trying again


class Reconnecting:
    def __init__(self, dsn: str):
        self.dsn = dsn
        self._conn: psycopg.AsyncConnection | None = None

    async def get(self) -> psycopg.AsyncConnection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._conn is not None:
                await self._conn.close()
            self._conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
        return self._conn

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
