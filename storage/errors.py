"""Storage exceptions, shaped around what the caller does next.

    StorageError
    ├── WriteError            permanent: retrying the same rows will fail again (bad row, schema
    │                         missing, permission). The worker should not commit the offsets;
    │                         `failed` names the rows that could not be stored.
    └── StorageUnavailable    transient errors (connection lost, server restarting, serialization
                              failure) kept happening for longer than writer_retry_timeout_s.
                              Retrying later is right; nothing was dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import errors as pgerr


class StorageError(Exception):
    """Root of the storage exceptions."""


class WriteError(StorageError):
    def __init__(self, message: str, failed: Sequence[Any] = ()):
        super().__init__(message)
        self.failed = list(failed)


class StorageUnavailable(StorageError):
    """The database stayed unreachable/unusable past the retry budget."""


def is_transient(exc: BaseException) -> bool:
    """True where the same statement may succeed on a retry (possibly on a new connection)."""
    if isinstance(exc, (OSError, TimeoutError)):
        return True
    if isinstance(exc, psycopg.OperationalError):
        # connection class 08, admin shutdown 57P01, cannot connect now 57P03, too many
        # connections 53300, disk full 53100, statement timeout 57014, lock not available
        return True
    # 40001 serialization failure, 40P01 deadlock; 25006: a failover left us on a standby
    return isinstance(exc, (pgerr.TransactionRollback, pgerr.ReadOnlySqlTransaction))


def needs_new_connection(conn: psycopg.AsyncConnection | None) -> bool:
    return conn is None or conn.closed or conn.broken
