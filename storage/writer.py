"""VitalsWriter: the worker's async, idempotent bulk writer into `vitals` (and `scores`).

    async with VitalsWriter(dsn, settings.storage) as w:
        stored = await w.write(samples, received_at_ms)   # returns once committed

`write()` returns only after the rows are committed, so the worker can commit its Kafka
offsets then. Rows from concurrent `write()` calls are coalesced into batches of
`writer_batch_rows`, or whatever arrived within `writer_flush_ms`; `writer_connections`
lanes (connections) write sealed batches in parallel, so the server's index maintenance
uses more than one core. Memory is bounded: `write()` waits while
`writer_max_pending_rows` rows are unwritten. Transient errors are retried (storage.lane);
after the retry budget, and for permanent errors, every caller whose rows were in the
batch gets the exception: no batch is dropped silently.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from vitalstream.config.storage import StorageSettings
from vitalstream.records import Sample, SampleBatch

from . import sink
from .errors import WriteError
from .lane import Lane
from .rows import ScoreRow, VitalsRow, dedupe_sorted, newest_per_device, sample_rows

log = logging.getLogger(__name__)

# After a duplicate, the next batches of a replay are likely duplicates too: use the
# staging path for this many batches before trying the fast path again.
SAFE_BATCHES_AFTER_DUPLICATE = 20


@dataclass
class WriterStats:
    rows_offered: int = 0
    rows_inserted: int = 0
    batches: int = 0
    fast_batches: int = 0
    safe_batches: int = 0
    retries: int = 0
    reconnects: int = 0


@dataclass(eq=False)  # identity-hashed: batches live in a set while in flight
class _Batch:
    rows: list[VitalsRow] = field(default_factory=list)
    # per row: True newly inserted, False already stored, None rejected permanently
    done: asyncio.Future[list[bool | None]] | None = None
    error: Exception | None = None  # why rows were rejected


class VitalsWriter:
    def __init__(self, dsn: str, settings: StorageSettings, *, application_name: str = "vitalstream-writer"):
        self._settings = settings
        self._lanes = [
            Lane(dsn, application_name, settings.writer_retry_timeout_s, self._count_retry)
            for _ in range(max(1, settings.writer_connections))
        ]
        self._open = _Batch()
        self._queue: asyncio.Queue[_Batch | None] = asyncio.Queue()
        self._inflight: set[_Batch] = set()
        self._pending_rows = 0
        self._first_pending_at: float | None = None
        self._wake = asyncio.Event()
        self._space = asyncio.Condition()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._stopped = False  # the sealer has sealed its last batch
        self._safe_left = 0
        # devices.last_seen_at as this writer last committed it: a batch only updates the
        # devices whose newest sample is newer (GREATEST keeps it right across writers)
        self._last_seen: dict[str, int] = {}
        self.stats = WriterStats()

    async def __aenter__(self) -> VitalsWriter:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        if self._tasks:
            raise RuntimeError("VitalsWriter already started")
        # fail fast on a wrong DSN or a missing schema
        await asyncio.gather(*(lane.run(lambda conn: asyncio.sleep(0)) for lane in self._lanes))
        self._tasks = [asyncio.create_task(self._sealer(), name="vitals-writer-sealer")]
        self._tasks += [
            asyncio.create_task(self._lane_loop(lane), name=f"vitals-writer-{i}") for i, lane in enumerate(self._lanes)
        ]

    async def close(self) -> None:
        """Write everything pending, then close. Waits for the final batches."""
        if not self._tasks:
            return
        self._closing = True
        self._wake.set()
        try:
            await asyncio.gather(*self._tasks)
        finally:
            self._tasks = []
            for lane in self._lanes:
                await lane.close()

    async def write(self, samples: Sequence[Sample], received_at_ms: int | None = None) -> int:
        """Store `samples` idempotently; returns how many were new, once committed.

        Raises WriteError (with `.failed`) if the database rejected some of them for good,
        StorageUnavailable if it stayed unreachable past the retry budget."""
        if not self._tasks or self._closing:
            raise RuntimeError("VitalsWriter is not running (use `async with`)")
        received = received_at_ms if received_at_ms is not None else int(time.time() * 1000)
        return await self._offer(samples, sample_rows(samples, received), seal=False)

    async def write_batches(self, batches: Sequence[SampleBatch]) -> int:
        """write() for several Kafka records at once, each with its own receive time. The
        caller has batched already (the worker's stream.take), so the rows are sealed into a
        database batch at once instead of waiting out the flush interval."""
        if not self._tasks or self._closing:
            raise RuntimeError("VitalsWriter is not running (use `async with`)")
        samples = [s for b in batches for s in b.samples]
        rows = [row for b in batches for row in sample_rows(b.samples, b.received_at_ms)]
        return await self._offer(samples, rows, seal=True)

    async def _offer(self, samples: Sequence[Sample], rows: list[VitalsRow], *, seal: bool) -> int:
        self.stats.rows_offered += len(rows)
        waits = await self._enqueue(rows)
        if seal and self._open.rows:
            self._seal()
        stored = 0
        failed: list[Sample] = []
        error: Exception | None = None
        offset = 0
        for batch, start, count in waits:
            assert batch.done is not None
            flags = await asyncio.shield(batch.done)
            for k, flag in enumerate(flags[start : start + count]):
                if flag is None:
                    failed.append(samples[offset + k])
                    error = batch.error
                else:
                    stored += flag
            offset += count
        if failed:
            raise WriteError(
                f"{len(failed)} of {len(samples)} samples could not be stored (the rest were): {error}", failed
            )
        return stored

    async def flush(self) -> None:
        """Write what is pending now, without waiting for the flush interval."""
        if self._open.rows:
            self._seal()
        for done in [b.done for b in self._inflight if b.done is not None]:
            await asyncio.shield(done)

    async def write_scores(self, scores: Sequence[ScoreRow]) -> int:
        """Store detector scores (idempotent on device, window end, detector); returns rows new."""
        if not scores:
            return 0
        return await self._lanes[0].run(lambda conn: sink.insert_scores(conn, scores))

    # -- batching --------------------------------------------------------------------

    async def _enqueue(self, rows: list[VitalsRow]) -> list[tuple[_Batch, int, int]]:
        waits: list[tuple[_Batch, int, int]] = []  # (batch, first index, count)
        limit = self._settings.writer_batch_rows
        cap = self._settings.writer_max_pending_rows
        i = 0
        while i < len(rows):
            async with self._space:
                await self._space.wait_for(lambda: self._pending_rows < cap)
            if self._stopped:  # close() finished sealing while this call waited for room
                raise RuntimeError("VitalsWriter closed while write() was waiting")
            take = min(limit - len(self._open.rows), len(rows) - i, cap - self._pending_rows)
            batch = self._open
            if batch.done is None:
                batch.done = asyncio.get_running_loop().create_future()
            waits.append((batch, len(batch.rows), take))
            batch.rows.extend(rows[i : i + take])
            self._pending_rows += take
            if self._first_pending_at is None:
                self._first_pending_at = time.monotonic()
            i += take
            if len(batch.rows) >= limit:
                self._seal()
        self._wake.set()
        return waits

    def _seal(self) -> None:
        batch, self._open = self._open, _Batch()
        self._first_pending_at = None
        self._inflight.add(batch)
        self._queue.put_nowait(batch)

    async def _sealer(self) -> None:
        """Seals the open batch when its flush interval is up (size seals happen in write)."""
        flush_s = self._settings.writer_flush_ms / 1000
        while True:
            if self._open.rows and self._first_pending_at is not None:
                if self._closing or time.monotonic() >= self._first_pending_at + flush_s:
                    self._seal()
            if self._closing and not self._open.rows:
                self._stopped = True
                for _ in self._lanes:
                    self._queue.put_nowait(None)  # one stop marker per lane, after all batches
                return
            self._wake.clear()
            timeout = None if self._first_pending_at is None else max(
                0.0, self._first_pending_at + flush_s - time.monotonic()
            )
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass

    async def _lane_loop(self, lane: Lane) -> None:
        while (batch := await self._queue.get()) is not None:
            await self._commit(lane, batch)

    async def _commit(self, lane: Lane, batch: _Batch) -> None:
        assert batch.done is not None
        try:
            flags, batch.error = await self._write_rows(lane, batch.rows)
        except Exception as exc:  # handed to every waiting caller, never swallowed
            batch.done.set_exception(exc)
            log.error("vitals batch of %d rows not stored: %s", len(batch.rows), exc)
        else:
            batch.done.set_result(flags)
        finally:
            self._inflight.discard(batch)
            async with self._space:
                self._pending_rows -= len(batch.rows)
                self._space.notify_all()

    # -- storing -----------------------------------------------------------------------

    async def _write_rows(self, lane: Lane, rows: list[VitalsRow]) -> tuple[list[bool | None], Exception | None]:
        kept, where = dedupe_sorted(rows)
        flags, error = await self._store_isolating(lane, kept)
        if error is not None:
            log.error("%d vitals rows rejected by the database: %s", flags.count(None), error)
        self.stats.batches += 1
        self.stats.rows_inserted += sum(1 for f in flags if f)
        return [False if w < 0 else flags[w] for w in where], error

    async def _store_isolating(
        self, lane: Lane, rows: list[VitalsRow]
    ) -> tuple[list[bool | None], Exception | None]:
        """Store rows; on a permanent error, bisect so only the offending rows fail."""
        try:
            return list(await self._store(lane, rows)), None
        except WriteError as exc:
            if len(rows) == 1:
                return [None], exc
        mid = len(rows) // 2
        left, left_err = await self._store_isolating(lane, rows[:mid])
        right, right_err = await self._store_isolating(lane, rows[mid:])
        return left + right, left_err or right_err

    async def _store(self, lane: Lane, rows: list[VitalsRow]) -> list[bool]:
        known = self._last_seen
        seen = {d: t for d, t in newest_per_device(rows).items() if t > known.get(d, -(1 << 62))}

        async def attempt(conn) -> list[bool]:  # noqa: ANN001
            if self._safe_left <= 0 and await sink.insert_fast(conn, rows, seen):
                self.stats.fast_batches += 1
                return [True] * len(rows)
            if self._safe_left <= 0:
                self._safe_left = SAFE_BATCHES_AFTER_DUPLICATE
            self._safe_left -= 1
            inserted = await sink.insert_safe(conn, rows, seen)
            self.stats.safe_batches += 1
            return [(r[0], r[2]) in inserted for r in rows]

        flags = await lane.run(attempt)
        for device, ts in seen.items():  # only once committed; lanes may commit out of order
            if ts > known.get(device, -(1 << 62)):
                known[device] = ts
        return flags

    def _count_retry(self, reconnected: bool) -> None:
        if reconnected:
            self.stats.reconnects += 1
        else:
            self.stats.retries += 1
