"""Notice records the consumer skipped, so they can be read again.

`vitals` offsets are contiguous (no transactions, no compaction), so within one consumer
generation a partition's records reach the storage agent as n, n+1, n+2, ... or, after a
seek back, from a lower offset again. A forward jump means records were fetched and then
dropped: faust discards what it fetched while its flow is stopped and seeks back to the
committed offsets, and that seek does not always go back far enough (seen under load:
3-4 records of a partition gone, the rest of the stream intact). The storage agent seeks
such a partition back to the first missing offset; everything after it is read again,
which both agents tolerate (idempotent writes, seqs already seen are not re-scored).

A jump that persists after a few seeks back is accepted and reported: a gap that is
really in the log (retention, a foreign transactional producer) must not stall a partition.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

MAX_ATTEMPTS = 3
RETRY_AFTER_S = 10.0  # records already buffered past the gap keep arriving for a moment


@dataclass
class _Healing:
    offset: int  # first missing offset, sought back to
    attempts: int
    since: float


@dataclass(frozen=True)
class Gap:
    partition: int
    first_missing: int
    next_seen: int
    give_up: bool  # sought back MAX_ATTEMPTS times and the records never came


class Continuity:
    def __init__(self, *, clock=time.monotonic):  # noqa: ANN001 - injectable for tests
        self._clock = clock
        self._generation: int | None = None
        self._expected: dict[int, int] = {}
        self._healing: dict[int, _Healing] = {}

    def observe(self, generation: int, partition: int, offset: int) -> Gap | None:
        """Record one delivered offset; a Gap when the caller should seek `partition` back
        to `gap.first_missing` (or, with give_up, log that it never came)."""
        if generation != self._generation:  # a rebalance: positions come from the commits now
            self._generation = generation
            self._expected.clear()
            self._healing.clear()
        expected = self._expected.get(partition)
        if expected is None or offset <= expected:
            # In order, or a re-read after a seek back (ours or faust's).
            self._expected[partition] = offset + 1
            healing = self._healing.get(partition)
            if healing is not None and offset <= healing.offset:
                del self._healing[partition]
            return None
        healing = self._healing.get(partition)
        now = self._clock()
        if healing is not None and healing.offset == expected:
            if now - healing.since < RETRY_AFTER_S:
                return None  # already sought back; these were buffered before the seek
            if healing.attempts >= MAX_ATTEMPTS:
                del self._healing[partition]
                self._expected[partition] = offset + 1
                return Gap(partition, expected, offset, give_up=True)
            healing.attempts += 1
            healing.since = now
            return Gap(partition, expected, offset, give_up=False)
        self._healing[partition] = _Healing(expected, 1, now)
        return Gap(partition, expected, offset, give_up=False)
