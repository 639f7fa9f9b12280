"""The live alert engine: alert candidates from Kafka -> alerts + webhook outbox in PostgreSQL.

One consumer group (`settings.alerts.engine_group`) reads `alert.candidates` (keyed by
device, so a device's candidates stay in order on one partition). Per batch, in ONE
transaction: lock the batch's partitions' offset rows and the devices' policy state,
run the pure policy (alerts.policy), write alert rows, history and outbox, and store the
next offsets. The Kafka offsets are committed after the database commit (at most once a
second: they only trail the database's, which are authoritative); on partition
assignment the engine seeks to the offsets stored in the database, so a crash between the
two commits neither loses nor repeats a candidate's effects. A tick (every
`engine_tick_s`) runs due timers (auto-resolve, escalation, re-open after cooldown).

Time: the policy's clock is the candidates' `ts_ms` (the device's clock), as in offline
evaluation. The tick has only the wall clock, so per device the engine keeps the offset
wall - ts_ms measured at its latest candidate (clock skew plus pipeline delay) and runs
that device's timers at wall_now - offset. A device whose clock lags (or whose candidates
arrive late, e.g. after a backlog) therefore never has a timer fire before its own data up
to that moment could have arrived (a premature auto-resolve would hide a condition that
came back), and one whose clock runs ahead does not get its escalations late.

The API's acknowledge/resolve and the alert queries live in alerts.actions and
alerts.queries; they are re-exported here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass, field

import psycopg
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from detectors.candidate import AlertCandidate
from vitalstream.config import Settings
from vitalstream.topics import topic_name

from .actions import AlertConflict, AlertNotFound, acknowledge, resolve
from .dbconn import RETRY_S
from .deadletter import dead_letter, describe, is_poison
from .metrics import AlertMetrics
from .model import PolicyAction, PolicyConfig, policy_config
from .policy import device_due, device_feed
from .queries import get_alert, list_alerts
from .store import load_offsets, load_states, state_rows, upsert_states, write_actions

__all__ = ["AlertConflict", "AlertEngine", "AlertNotFound", "acknowledge", "get_alert", "list_alerts", "resolve",
           "run_engine"]

log = logging.getLogger(__name__)
TICK_BATCH = 500  # policy states handled per tick transaction
TICK_RETRY_MS = 60_000  # a device whose timers failed (alerts.deadletter.is_poison) is retried this much later
# The broker may hold a fetch this long when the topic is idle: it bounds the added latency
# of a lone alert candidate (aiokafka's default, 500 ms, dominated candidate→webhook time).
FETCH_MAX_WAIT_MS = 50
KAFKA_COMMIT_EVERY_S = 1.0


def wall_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class EngineStats:
    candidates: int = 0
    bad_records: int = 0  # undecodable, dead-lettered
    dead_lettered: int = 0  # decoded but failed to apply (alerts.deadletter), dead-lettered
    skipped_replayed: int = 0
    batches: int = 0
    actions: Counter = field(default_factory=Counter)


class _SeekToStored(ConsumerRebalanceListener):
    """On assignment, continue from the offsets stored with the alerts (not Kafka's)."""

    def __init__(self, engine: AlertEngine):
        self.engine = engine

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        pass  # every processed batch is already committed in the database

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.engine._seek_stored(assigned)


class AlertEngine:
    def __init__(self, settings: Settings, *, config: PolicyConfig | None = None, group: str | None = None,
                 metrics: AlertMetrics | None = None):
        assert settings.core.database_url and settings.core.kafka_bootstrap
        self.settings = settings
        self.config = config or policy_config(settings.alerts)
        self.group = group or settings.alerts.engine_group
        self.topic = topic_name(settings, "alert.candidates")
        self.stats = EngineStats()
        self.metrics = metrics or AlertMetrics()
        self._conn: psycopg.AsyncConnection | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()  # one transaction at a time on the one connection

    async def __aenter__(self) -> AlertEngine:
        self._conn = await psycopg.AsyncConnection.connect(self.settings.core.database_url, autocommit=True)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.core.kafka_bootstrap, group_id=self.group,
            enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=1000,
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        )
        await self._consumer.start()
        self._consumer.subscribe([self.topic], listener=_SeekToStored(self))
        self.metrics.engine_last_commit = time.monotonic()  # the age counts from the start
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._conn is not None:
            await self._conn.close()

    async def _seek_stored(self, assigned: set[TopicPartition]) -> None:
        assert self._conn is not None and self._consumer is not None
        async with self._lock:
            cur = await self._conn.execute(
                "SELECT topic, partition, next_offset FROM alert_engine_offsets WHERE consumer_group = %s",
                (self.group,))
            stored = {TopicPartition(t, p): o for t, p, o in await cur.fetchall()}
        for tp in assigned:
            if tp in stored:
                self._consumer.seek(tp, stored[tp])

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; tick timers every engine_tick_s meanwhile."""
        assert self._consumer is not None
        tick_every = self.settings.alerts.engine_tick_s
        next_tick = time.monotonic()
        # Kafka commits trail the database (which holds the authoritative offsets): at most
        # one per KAFKA_COMMIT_EVERY_S, so a busy engine does not wait on the broker per batch.
        pending: dict[TopicPartition, int] = {}
        last_commit = time.monotonic()
        while not stop.is_set():
            try:
                wait_ms = int(max(0.0, min(0.5, next_tick - time.monotonic())) * 1000)
                batch = await self._consumer.getmany(timeout_ms=wait_ms, max_records=1000)
                if batch:
                    await self.process(batch)
                    pending.update({tp: recs[-1].offset + 1 for tp, recs in batch.items()})
                    self._note_lag(batch)
                if pending and time.monotonic() - last_commit >= KAFKA_COMMIT_EVERY_S:
                    await self._commit(pending)
                    last_commit = time.monotonic()
                if time.monotonic() >= next_tick:
                    await self.tick(wall_ms())
                    self.metrics.engine_last_commit = time.monotonic()  # an idle tick counts: the engine is alive
                    next_tick = time.monotonic() + tick_every
            except psycopg.OperationalError as exc:
                self.metrics.engine_errors["database"] += 1
                log.warning("alert engine: database error, retrying: %s", exc)
                await self._recover(stop)
        if pending:
            await self._commit(pending)

    async def _commit(self, pending: dict[TopicPartition, int]) -> None:
        assert self._consumer is not None
        assigned = self._consumer.assignment()
        offsets = {tp: off for tp, off in pending.items() if tp in assigned}
        pending.clear()
        try:
            if offsets:
                await self._consumer.commit(offsets)
        except KafkaError as exc:  # e.g. a rebalance meanwhile: the database offsets still hold
            self.metrics.engine_errors["kafka_commit"] += 1
            log.info("alert engine: Kafka offset commit skipped: %s", exc)

    def _note_lag(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """Records behind each partition's end, from the high watermark the fetch brought back."""
        assert self._consumer is not None
        lag = self.metrics.engine_lag
        for tp, records in batch.items():
            end = self._consumer.highwater(tp)
            if end is not None:
                lag[tp.partition] = max(0, end - (records[-1].offset + 1))
        assigned = {tp.partition for tp in self._consumer.assignment()}
        for partition in set(lag) - assigned:
            del lag[partition]

    async def _recover(self, stop: asyncio.Event) -> None:
        """Reconnect, then rewind every assigned partition to the offsets stored with the
        alerts: the batch that failed is fetched again, nothing is skipped."""
        assert self._consumer is not None
        while not stop.is_set():
            await asyncio.sleep(RETRY_S)
            try:
                if self._conn is None or self._conn.closed or self._conn.broken:
                    if self._conn is not None:
                        await self._conn.close()
                    self._conn = await psycopg.AsyncConnection.connect(self.settings.core.database_url,
                                                                       autocommit=True)
                await self._rewind(set(self._consumer.assignment()))
                return
            except psycopg.OperationalError as exc:
                log.warning("alert engine: database still unavailable: %s", exc)

    async def _rewind(self, assigned: set[TopicPartition]) -> None:
        """Every partition back to its stored offset, else Kafka's commit, else the start
        (seek_to_committed alone would leave a never-committed partition past the lost batch)."""
        assert self._consumer is not None
        await self._seek_stored(assigned)
        async with self._lock:
            cur = await self._conn.execute(  # type: ignore[union-attr]
                "SELECT topic, partition FROM alert_engine_offsets WHERE consumer_group = %s", (self.group,))
            stored = {TopicPartition(t, p) for t, p in await cur.fetchall()}
        for tp in assigned - stored:
            committed = await self._consumer.committed(tp)
            if committed is not None and committed >= 0:
                self._consumer.seek(tp, committed)
            else:
                await self._consumer.seek_to_beginning(tp)

    async def process(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> list[PolicyAction]:
        """One transaction for a batch of records from several partitions. When it fails on
        one candidate's data (alerts.deadletter.is_poison), the batch is redone with each
        candidate in its own savepoint and the failing ones are dead-lettered, so one poisoned
        candidate cannot stop every alert (it would fail the same way on every retry)."""
        try:
            return await self._process(batch, isolate=False)
        except Exception as exc:
            if not is_poison(exc):
                raise
            log.warning("alert engine: batch failed (%s); applying its candidates one by one", describe(exc))
            return await self._process(batch, isolate=True)

    async def _process(self, batch: dict[TopicPartition, list[ConsumerRecord]], isolate: bool) -> list[PolicyAction]:
        assert self._conn is not None
        undecodable = dead = 0
        async with self._lock, self._conn.transaction():
            fresh: list[ConsumerRecord] = []
            for tp, records in sorted(batch.items(), key=lambda kv: kv[0].partition):
                start = await self._lock_offset(tp)
                kept = [r for r in records if r.offset >= start]
                self.stats.skipped_replayed += len(records) - len(kept)
                fresh += kept
                if kept:
                    await self._conn.execute(
                        "UPDATE alert_engine_offsets SET next_offset = %s, updated_at = now() "
                        "WHERE consumer_group = %s AND topic = %s AND partition = %s",
                        (kept[-1].offset + 1, self.group, tp.topic, tp.partition))
            decoded: list[tuple[ConsumerRecord, AlertCandidate]] = []
            for record in fresh:
                try:
                    decoded.append((record, AlertCandidate.from_json(record.value)))
                except (ValueError, TypeError, KeyError) as exc:
                    undecodable += 1  # a foreign producer or a bug upstream: set aside, loudly
                    log.warning("undecodable alert candidate at %s/%d@%d: %s", record.topic, record.partition,
                                record.offset, exc)
                    await dead_letter(self._conn, self.group, record, "undecodable", exc)
            if not isolate:
                candidates = [c for _, c in decoded]
                actions = await self._apply(candidates)
            else:
                candidates, actions = [], []
                for record, c in decoded:
                    try:
                        async with self._conn.transaction():  # a savepoint: undoes this candidate only
                            actions += await self._apply([c])
                        candidates.append(c)
                    except Exception as exc:
                        if not is_poison(exc):
                            raise
                        dead += 1
                        log.error("alert engine: candidate device=%r kind=%r at %s/%d@%d could not be applied, "
                                  "dead-lettered: %s", c.device_id, c.kind, record.topic, record.partition,
                                  record.offset, describe(exc))
                        await dead_letter(self._conn, self.group, record, "apply_failed", exc, c)
        # Counted once committed (a rolled-back attempt counts nothing).
        self.stats.bad_records += undecodable
        self.stats.dead_lettered += dead
        self.metrics.engine_errors["undecodable"] += undecodable
        self.metrics.engine_errors["dead_lettered"] += dead
        self.stats.batches += 1
        self.stats.candidates += len(candidates)
        self.stats.actions.update(a.action for a in actions)
        self.metrics.engine_last_commit = time.monotonic()
        self.metrics.candidates.update(c.kind for c in candidates)
        self.metrics.actions.update(a.action for a in actions)
        return actions

    async def _lock_offset(self, tp: TopicPartition) -> int:
        assert self._conn is not None
        await self._conn.execute(
            "INSERT INTO alert_engine_offsets (consumer_group, topic, partition, next_offset) "
            "VALUES (%s, %s, %s, 0) ON CONFLICT DO NOTHING", (self.group, tp.topic, tp.partition))
        cur = await self._conn.execute(
            "SELECT next_offset FROM alert_engine_offsets WHERE consumer_group = %s AND topic = %s "
            "AND partition = %s FOR UPDATE", (self.group, tp.topic, tp.partition))
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def _apply(self, candidates: list[AlertCandidate]) -> list[PolicyAction]:
        assert self._conn is not None
        if not candidates:
            return []
        states, ids = await load_states(self._conn, {c.device_id for c in candidates})
        actions: list[PolicyAction] = []
        touched: dict[str, set[str]] = {}
        latest: dict[str, int] = {}
        for c in candidates:
            device = states.setdefault(c.device_id, {})
            actions += device_feed(device, c, self.config)
            touched.setdefault(c.device_id, set()).update(device)  # timers may touch every kind
            latest[c.device_id] = max(latest.get(c.device_id, c.ts_ms), c.ts_ms)
        await write_actions(self._conn, actions, ids)
        # The device's clock as seen now (skew + pipeline delay): its timers run on it (see tick).
        wall = wall_ms()
        rows = [row for device_id, kinds in sorted(touched.items())
                for row in state_rows(device_id, states[device_id], ids, self.config, kinds,
                                      offset_ms=wall - latest[device_id])]
        await upsert_states(self._conn, rows)
        return actions

    async def tick(self, now_ms: int) -> list[PolicyAction]:
        """Run every due timer (auto-resolve, escalation, re-open) at wall-clock `now_ms`; each
        device's timers run at its own clock, now_ms - its offset. Returns the actions."""
        assert self._conn is not None
        out: list[PolicyAction] = []
        while True:
            try:
                n, actions = await self._tick_batch(now_ms, isolate=False)
            except Exception as exc:
                if not is_poison(exc):
                    raise
                log.warning("alert engine: timer batch failed (%s); running devices one by one", describe(exc))
                n, actions = await self._tick_batch(now_ms, isolate=True)
            self.stats.actions.update(a.action for a in actions)
            self.metrics.actions.update(a.action for a in actions)
            out += actions
            if n < TICK_BATCH:
                return out

    async def _tick_batch(self, now_ms: int, isolate: bool) -> tuple[int, list[PolicyAction]]:
        """One transaction of due devices; with `isolate`, one savepoint per device, and a
        device whose timers fail is put off by TICK_RETRY_MS (so it cannot block the others)."""
        assert self._conn is not None
        async with self._lock, self._conn.transaction():
            cur = await self._conn.execute(
                "SELECT device_id FROM alert_policy_state WHERE next_due_ms <= %s ORDER BY next_due_ms "
                "LIMIT %s FOR UPDATE SKIP LOCKED", (now_ms, TICK_BATCH))
            rows = await cur.fetchall()
            devices = sorted({r[0] for r in rows})
            if not isolate:
                return len(rows), await self._due(devices, now_ms)
            actions: list[PolicyAction] = []
            for device_id in devices:
                try:
                    async with self._conn.transaction():
                        actions += await self._due([device_id], now_ms)
                except Exception as exc:
                    if not is_poison(exc):
                        raise
                    self.metrics.engine_errors["timer_failed"] += 1
                    log.error("alert engine: timers of device %r failed, retried in %d s: %s", device_id,
                              TICK_RETRY_MS // 1000, describe(exc))
                    await self._conn.execute(
                        "UPDATE alert_policy_state SET next_due_ms = %s WHERE device_id = %s AND next_due_ms <= %s",
                        (now_ms + TICK_RETRY_MS, device_id, now_ms))
            return len(rows), actions

    async def _due(self, devices: list[str], now_ms: int) -> list[PolicyAction]:
        assert self._conn is not None
        if not devices:
            return []
        states, ids = await load_states(self._conn, devices)
        offsets = await load_offsets(self._conn, devices)
        actions: list[PolicyAction] = []
        for device_id in sorted(states):
            # Timers are in the device's time: run them at the device's "now" (see the module doc).
            actions += device_due(states[device_id], now_ms - offsets.get(device_id, 0), self.config)
        await write_actions(self._conn, actions, ids)
        await upsert_states(self._conn, [row for device_id in sorted(states)
                                         for row in state_rows(device_id, states[device_id], ids, self.config,
                                                               offset_ms=offsets.get(device_id))])
        return actions


async def run_engine(settings: Settings, stop: asyncio.Event, *, metrics: AlertMetrics | None = None) -> EngineStats:
    async with AlertEngine(settings, metrics=metrics) as engine:
        log.info("alert engine consuming %s as group %s", engine.topic, engine.group)
        await engine.run(stop)
        return engine.stats
