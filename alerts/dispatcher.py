"""The webhook dispatcher: delivers the outbox (`webhook_deliveries`) at least once.

Claiming: a short transaction picks due deliveries with `FOR UPDATE SKIP LOCKED`, marks
them `delivering` and leases them (next_attempt_at = now + lease). Several dispatchers
therefore never hold the same delivery at once; a dispatcher that dies mid-attempt
leaves its lease to expire, after which another one retries (the same webhook-id; the
lost attempt is recorded as interrupted). Results are written in batches by one writer
task: the attempt row, the delivery's next state, the subscription's failure streak.
A subscription is disabled on 410 or when it has been failing for
`webhook_disable_after_s`; its deliveries are then held, to be re-sent by
`vitalstream webhooks redeliver`. LISTEN/NOTIFY wakes an idle dispatcher at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
import psycopg

from vitalstream.config import Settings

from .dbconn import RETRY_S, Reconnecting
from .delivery import AttemptResult, Claimed, attempt, next_delay_s
from .metrics import AlertMetrics
from .store import NOTIFY_CHANNEL
from .urls import PublicOnlyResolver

log = logging.getLogger(__name__)


@dataclass
class DispatcherStats:
    claimed: int = 0
    delivered: int = 0
    failed_attempts: int = 0
    gave_up: int = 0
    disabled: int = 0
    interrupted: int = 0


_PICK = """
SELECT d.id, d.status, d.attempts, d.leased_by FROM webhook_deliveries d
JOIN webhook_subscriptions s ON s.id = d.subscription_id AND s.enabled
WHERE d.status IN ('pending', 'delivering') AND d.next_attempt_at <= now()
ORDER BY d.next_attempt_at, d.id LIMIT %s
FOR UPDATE OF d SKIP LOCKED
"""
_LEASE = """
UPDATE webhook_deliveries d SET status = 'delivering', attempts = d.attempts + 1,
    next_attempt_at = now() + %s, leased_by = %s
FROM webhook_events e, webhook_subscriptions s
WHERE d.id = ANY(%s) AND e.id = d.event_id AND s.id = d.subscription_id
RETURNING d.id, d.webhook_id, d.attempts, e.body, s.id, s.url, s.secret
"""
_INTERRUPTED = """
INSERT INTO webhook_attempts (delivery_id, attempt, started_at, latency_ms, status_code, error, dispatcher)
VALUES (%s, %s, now(), 0, NULL, %s, %s)
"""


class Dispatcher:
    def __init__(self, settings: Settings, *, name: str | None = None, metrics: AlertMetrics | None = None):
        assert settings.core.database_url
        self.settings = settings
        self.cfg = settings.alerts
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease = timedelta(seconds=max(self.cfg.webhook_lease_s, self.cfg.webhook_timeout_s + 5))
        self.stats = DispatcherStats()
        self.metrics = metrics or AlertMetrics()
        self._results: asyncio.Queue[AttemptResult] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(self.cfg.webhook_concurrency)
        self._tasks: set[asyncio.Task] = set()

    async def claim(self, conn: psycopg.AsyncConnection, limit: int) -> list[Claimed]:
        async with conn.transaction():
            rows = await (await conn.execute(_PICK, (limit,))).fetchall()
            if not rows:
                return []
            for delivery_id, status, attempts, leased_by in rows:
                if status == "delivering":  # its dispatcher's lease ran out: that attempt was cut short
                    self.stats.interrupted += 1
                    await conn.execute(_INTERRUPTED, (delivery_id, attempts,
                                                      f"interrupted: lease of {leased_by} expired", self.name))
            cur = await conn.execute(_LEASE, (self.lease, self.name, [r[0] for r in rows]))
            claimed = [Claimed(*row) for row in await cur.fetchall()]
        self.stats.claimed += len(claimed)
        self.metrics.interrupted += sum(1 for r in rows if r[1] == "delivering")
        return claimed

    async def run(self, stop: asyncio.Event) -> DispatcherStats:
        dsn = self.settings.core.database_url
        resolver = None if self.cfg.allow_private_urls else PublicOnlyResolver()
        connector = aiohttp.TCPConnector(limit=self.cfg.webhook_concurrency, resolver=resolver)
        claim_db, write_db = Reconnecting(dsn), Reconnecting(dsn)
        async with aiohttp.ClientSession(connector=connector) as session:
            listener = asyncio.create_task(self._listen(dsn))
            writer = asyncio.create_task(self._writer(write_db))
            try:
                await self._claim_loop(claim_db, session, stop)
                if self._tasks:  # let attempts in flight finish and be recorded
                    await asyncio.wait(self._tasks, timeout=self.cfg.webhook_timeout_s + 5)
                try:
                    await asyncio.wait_for(self._results.join(), timeout=10)
                except TimeoutError:
                    log.warning("stopping with attempts unrecorded: their leases expire and they are retried")
            finally:
                listener.cancel()
                writer.cancel()
                for task in self._tasks:
                    task.cancel()
                await asyncio.gather(listener, writer, *self._tasks, return_exceptions=True)
                await claim_db.close()
                await write_db.close()
        return self.stats

    async def _claim_loop(self, db: Reconnecting, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        stopping = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                free = self.cfg.webhook_concurrency - len(self._tasks)
                if self._tasks and free < min(self.cfg.webhook_batch, max(1, self.cfg.webhook_concurrency // 2)):
                    free = 0  # busy: wait until half the slots are free, then claim them in one transaction
                try:
                    claimed = await self.claim(await db.get(), min(self.cfg.webhook_batch, free)) if free > 0 else []
                except psycopg.OperationalError as exc:
                    self.metrics.dispatcher_errors["claim"] += 1
                    log.warning("claiming webhook deliveries failed, retrying: %s", exc)
                    await asyncio.wait({stopping}, timeout=RETRY_S)
                    continue
                for item in claimed:
                    task = asyncio.create_task(self._send(session, item))
                    self._tasks.add(task)
                    task.add_done_callback(self._done)
                self.metrics.in_flight = len(self._tasks)
                if claimed and len(claimed) == min(self.cfg.webhook_batch, free):
                    continue  # likely more due: claim again at once
                self._wake.clear()
                waker = asyncio.create_task(self._wake.wait())
                await asyncio.wait({waker, stopping}, timeout=self.cfg.webhook_poll_s,
                                   return_when=asyncio.FIRST_COMPLETED)
                waker.cancel()
        finally:
            stopping.cancel()

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        self.metrics.in_flight = len(self._tasks)
        self._wake.set()  # a slot is free

    async def _send(self, session: aiohttp.ClientSession, item: Claimed) -> None:
        result = await attempt(session, item, self.cfg.webhook_timeout_s, allow_private=self.cfg.allow_private_urls)
        self.metrics.attempts[result.outcome] += 1
        self.metrics.latency.observe(result.latency_ms / 1000)
        await self._results.put(result)

    async def _listen(self, dsn: str) -> None:
        """Wake the claim loop on NOTIFY; without it (database away) polling still works."""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    async for _ in conn.notifies():
                        self._wake.set()
            except psycopg.OperationalError as exc:
                log.warning("LISTEN connection lost, polling meanwhile: %s", exc)
            await asyncio.sleep(RETRY_S)

    async def _writer(self, db: Reconnecting) -> None:
        while True:
            batch = [await self._results.get()]
            while not self._results.empty() and len(batch) < 500:
                batch.append(self._results.get_nowait())
            try:
                for tries in range(1, 31):
                    try:
                        await self.record(await db.get(), batch)
                        break
                    except psycopg.OperationalError as exc:
                        self.metrics.dispatcher_errors["record"] += 1
                        # keep the results while the database is away; if it stays away the
                        # leases expire and the deliveries are retried: at least once still holds
                        log.warning("recording %d webhook attempts failed (try %d): %s", len(batch), tries, exc)
                        await asyncio.sleep(RETRY_S)
            except psycopg.Error:
                log.exception("recording %d webhook attempts failed", len(batch))
            finally:
                for _ in batch:
                    self._results.task_done()

    async def record(self, conn: psycopg.AsyncConnection, results: list[AttemptResult]) -> None:
        """Store attempts and their consequences in one transaction."""
        tally: Counter[str] = Counter()  # counted once committed: a batch retried is not counted twice
        async with conn.transaction(), conn.cursor() as cur:
            # one statement for the whole batch (executemany would run one per row)
            await cur.execute(
                "INSERT INTO webhook_attempts (delivery_id, attempt, started_at, latency_ms, status_code, error, "
                "dispatcher) SELECT *, %s FROM unnest(%s::bigint[], %s::int[], %s::timestamptz[], "
                "%s::float8[], %s::int[], %s::text[])",
                (self.name, [r.claimed.delivery_id for r in results], [r.claimed.attempt for r in results],
                 [r.started_at for r in results], [r.latency_ms for r in results],
                 [r.status_code for r in results], [r.error for r in results]))
            ok = [r for r in results if r.ok]
            if ok:
                # delivered wins over any state: another dispatcher may hold a newer lease
                await cur.execute(
                    "UPDATE webhook_deliveries SET status = 'delivered', delivered_at = now(), last_status = u.code, "
                    "last_error = NULL FROM (SELECT unnest(%s::bigint[]) AS id, unnest(%s::int[]) AS code) u "
                    "WHERE webhook_deliveries.id = u.id AND status <> 'delivered'",
                    ([r.claimed.delivery_id for r in ok], [r.status_code for r in ok]))
                tally["delivered"] += max(cur.rowcount, 0)
                await cur.execute(
                    "UPDATE webhook_subscriptions SET failing_since = NULL, updated_at = now() "
                    "WHERE id = ANY(%s) AND failing_since IS NOT NULL",
                    (sorted({r.claimed.subscription_id for r in ok}),))
            for r in results:
                if not r.ok:
                    await self._record_failure(cur, r, tally)
        self.stats.delivered += len(ok)
        self.stats.failed_attempts += len(results) - len(ok)
        self.stats.gave_up += tally["gave_up"]
        self.stats.disabled += tally["disabled"]
        self.metrics.delivered += tally["delivered"]
        self.metrics.gave_up += tally["gave_up"]
        self.metrics.disabled += tally["disabled"]

    async def _record_failure(self, cur: psycopg.AsyncCursor, r: AttemptResult, tally: Counter[str]) -> None:
        sub = r.claimed.subscription_id
        if r.gone:
            await self._disable(cur, sub, "receiver answered 410 Gone", tally)
        else:
            await cur.execute(
                "UPDATE webhook_subscriptions SET failing_since = COALESCE(failing_since, now()), updated_at = now() "
                "WHERE id = %s RETURNING enabled, now() - failing_since > %s", (sub,
                timedelta(seconds=self.cfg.webhook_disable_after_s)))
            row = await cur.fetchone()
            if row and row[0] and row[1]:
                await self._disable(cur, sub, f"failing for over {self.cfg.webhook_disable_after_s:g} s", tally)
        give_up = r.claimed.attempt >= self.cfg.webhook_max_attempts
        delay = timedelta(seconds=next_delay_s(r, self.cfg.webhook_backoff_base_s, self.cfg.webhook_backoff_max_s))
        # Only the holder of the current lease moves the delivery on; a disabled subscription holds it.
        await cur.execute(
            "UPDATE webhook_deliveries d SET last_status = %s, last_error = %s, "
            "status = CASE WHEN NOT s.enabled THEN 'held' WHEN %s THEN 'failed' ELSE 'pending' END, "
            "next_attempt_at = now() + %s FROM webhook_subscriptions s "
            "WHERE d.id = %s AND s.id = d.subscription_id AND d.status = 'delivering' AND d.attempts = %s "
            "RETURNING d.status",
            (r.status_code, r.error, give_up, delay, r.claimed.delivery_id, r.claimed.attempt))
        row = await cur.fetchone()
        if row and row[0] == "failed":
            tally["gave_up"] += 1

    async def _disable(self, cur: psycopg.AsyncCursor, sub: int, reason: str, tally: Counter[str]) -> None:
        await cur.execute(
            "UPDATE webhook_subscriptions SET enabled = false, disabled_reason = %s, disabled_at = now(), "
            "updated_at = now() WHERE id = %s AND enabled", (reason, sub))
        if cur.rowcount:
            tally["disabled"] += 1
            log.warning("webhook subscription %d disabled: %s", sub, reason)
        await cur.execute(
            "UPDATE webhook_deliveries SET status = 'held' WHERE subscription_id = %s AND status = 'pending'", (sub,))


async def run_dispatcher(settings: Settings, stop: asyncio.Event, *,
                         metrics: AlertMetrics | None = None) -> DispatcherStats:
    dispatcher = Dispatcher(settings, metrics=metrics)
    log.info("webhook dispatcher %s started", dispatcher.name)
    return await dispatcher.run(stop)
