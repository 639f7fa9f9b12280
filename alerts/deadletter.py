"""Poisoned alert candidates: which errors isolate one candidate, and where it goes.

The engine applies a batch of candidates in one transaction. When that fails with an
error that one candidate's data can cause (a data exception, a constraint violation, a
value Python cannot convert), the engine redoes the batch one candidate per savepoint and
moves the failing ones here, so the rest of the ward still gets its alerts. Anything else
is not the candidate's fault and is left to the caller:

    psycopg.OperationalError   the database is away: retry the whole batch, lose nothing
    psycopg.DataError          \\
    psycopg.IntegrityError      | poison: isolate the candidate, dead-letter it, move on
    ValueError, TypeError,      |
    OverflowError, LookupError /
    anything else              a bug or a broken deployment (e.g. a missing table): raise,
                               so the process stops visibly instead of dead-lettering all
"""

from __future__ import annotations

import psycopg
from aiokafka.structs import ConsumerRecord

from detectors.candidate import AlertCandidate

MAX_ERROR_CHARS = 2000


def is_poison(exc: BaseException) -> bool:
    """Could this error come from one candidate's content rather than from the system?"""
    if isinstance(exc, psycopg.OperationalError):
        return False
    if isinstance(exc, (psycopg.DataError, psycopg.IntegrityError)):
        return True
    if isinstance(exc, psycopg.Error):
        return False  # ProgrammingError, InternalError, ...: the code or the schema
    return isinstance(exc, (ValueError, TypeError, OverflowError, LookupError))


def _clean(text: object, limit: int = MAX_ERROR_CHARS) -> str | None:
    # A NUL in a text column is itself a data error: the reason for a dead letter must not be one.
    return None if text is None else str(text).replace("\x00", "\\x00")[:limit]


def describe(exc: BaseException) -> str:
    return _clean(f"{type(exc).__name__}: {exc}") or type(exc).__name__


async def dead_letter(conn: psycopg.AsyncConnection, group: str, record: ConsumerRecord, reason: str,
                      exc: BaseException, candidate: AlertCandidate | None = None) -> None:
    """Keep the record with why it was set aside (inside the caller's transaction)."""
    await conn.execute(
        "INSERT INTO alert_dead_letters (consumer_group, topic, partition, \"offset\", device_id, kind, reason, "
        "error, sqlstate, value) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (group, record.topic, record.partition, record.offset,
         _clean(candidate.device_id if candidate else None, 200), _clean(candidate.kind if candidate else None, 200),
         reason, describe(exc), getattr(exc, "sqlstate", None),
         bytes(record.value) if record.value is not None else None),
    )
