"""Validated messages → Kafka records, and MQTT acknowledgements once Kafka has them.

Accepted samples go to `vitals` packed: for `pack_ms` the batches of all messages bound
for one partition (Kafka's default partitioner on device_id) are gathered and sent as one
v2 record (vitalstream.records) to that partition. A worker pays per record, and a 1 Hz
wearable sends one sample per message, so this is what lets one worker keep up with
thousands of devices. pack_ms = 0 sends one v1 record per message, keyed by device_id.
Rejections go to `vitals.dlq`, one record per message. A message is acknowledged only
when every record holding part of it is acknowledged by Kafka (acks=all).
Acknowledgements leave in the order the messages arrived, as MQTT requires of PUBACKs.

A failed produce is retried in the background with backoff until it succeeds; the
message stays unacknowledged meanwhile, and MqttSource stops taking new ones once
max_in_flight are held, so a Kafka outage is absorbed by the broker's queue, not memory.
Duplicates that a retry may create are harmless: storage is idempotent on (device_id, seq).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from functools import partial

from aiokafka import AIOKafkaProducer

from vitalstream.records import encode_batch, encode_batch_part, join_pack

from .dlq import encode_dlq
from .metrics import GatewayMetrics
from .mqtt_source import Message, MqttSource
from .producer import CachedKeyPartitioner
from .validate import Limits, validate

log = logging.getLogger(__name__)
RETRY_MIN_S, RETRY_MAX_S = 0.2, 5.0
PACK_MAX_BYTES = 128 * 1024  # a pack is sent early at this size (Kafka's default max message is 1 MB)
PARTITIONS_REFRESH_S = 30.0  # partitions can be added while gateways run


@dataclass(slots=True, eq=False)
class _Pending:
    message: Message
    remaining: int  # records not yet acknowledged by Kafka


@dataclass(slots=True, eq=False)
class _Record:
    topic: str
    kind: str  # "vitals" or "dlq", the metrics label
    key: bytes | None
    value: bytes
    entries: list[_Pending]  # the messages it holds part of
    partition: int | None = None  # set for packs; None lets the producer's partitioner pick by key
    attempts: int = 0


@dataclass(slots=True, eq=False)
class _Pack:
    parts: list[bytes] = field(default_factory=list)
    entries: list[_Pending] = field(default_factory=list)
    size: int = 0


class Forwarder:
    def __init__(self, producer: AIOKafkaProducer, source: MqttSource, metrics: GatewayMetrics, limits: Limits,
                 *, vitals_topic: str, dlq_topic: str, pack_ms: int = 0):
        self._producer = producer
        self._source = source
        self._metrics = metrics
        self._limits = limits
        self._vitals_topic = vitals_topic
        self._dlq_topic = dlq_topic
        self._pack_s = pack_ms / 1000
        self._packs: dict[int, _Pack] = {}
        self._pack_timer: asyncio.TimerHandle | None = None
        self._partitioner = CachedKeyPartitioner()
        self._partitions: list[int] = []
        self._partitions_at = 0.0
        self._pending: deque[_Pending] = deque()
        self._drained = asyncio.Event()
        self._drained.set()
        self._tasks: set[asyncio.Task[None]] = set()  # retries and pack sends
        self._last_error_log = 0.0

    async def start(self) -> None:
        """Learn the `vitals` partitions (needed to pack by partition)."""
        if self._pack_s > 0:
            self._partitions = sorted(await self._producer.partitions_for(self._vitals_topic))
            self._partitions_at = time.monotonic()

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    async def handle(self, message: Message) -> None:
        m = self._metrics
        m.messages_received += 1
        now_ms = time.time_ns() // 1_000_000
        result = validate(message.topic, message.payload, now_ms=now_ms, limits=self._limits)
        key = result.device_id.encode() if result.device_id else None
        entry = _Pending(message, (result.batch is not None) + bool(result.rejections))
        self._pending.append(entry)
        self._drained.clear()
        m.in_flight = self._source.held
        if result.batch is not None:
            m.samples_accepted += result.accepted
            if self._pack_s > 0:
                self._add_to_pack(entry, key, encode_batch_part(result.batch))
            else:
                await self._send(_Record(self._vitals_topic, "vitals", key, encode_batch(result.batch), [entry]))
        if result.rejections:
            for r in result.rejections:
                m.samples_rejected[r.reason.value] += 1
            dlq = encode_dlq(message.topic, message.payload, result, now_ms)
            await self._send(_Record(self._dlq_topic, "dlq", key, dlq, [entry]))
        if entry.remaining == 0:  # cannot happen (validate always accepts or rejects); never wedge the queue
            self._flush()

    # --- packing -------------------------------------------------------------------------

    def _partition_for(self, key: bytes | None) -> int:
        now = time.monotonic()
        if now - self._partitions_at > PARTITIONS_REFRESH_S:
            self._partitions_at = now
            known = self._producer.client.cluster.partitions_for_topic(self._vitals_topic)
            if known:
                self._partitions = sorted(known)
        return self._partitioner(key, self._partitions, self._partitions)

    def _add_to_pack(self, entry: _Pending, key: bytes | None, part: bytes) -> None:
        partition = self._partition_for(key)
        pack = self._packs.get(partition)
        if pack is None:
            pack = self._packs[partition] = _Pack()
        pack.parts.append(part)
        pack.entries.append(entry)
        pack.size += len(part) + 1
        if pack.size >= PACK_MAX_BYTES:
            self._spawn(self._send(self._seal(partition)))
        elif self._pack_timer is None:
            self._pack_timer = asyncio.get_running_loop().call_later(self._pack_s, self._send_packs)

    def _seal(self, partition: int) -> _Record:
        pack = self._packs.pop(partition)
        self._metrics.messages_per_pack.observe(len(pack.entries))
        return _Record(self._vitals_topic, "vitals", None, join_pack(pack.parts), pack.entries, partition)

    def _send_packs(self) -> None:
        self._pack_timer = None
        if self._packs:
            records = [self._seal(p) for p in list(self._packs)]
            self._spawn(self._send_all(records))

    async def _send_all(self, records: list[_Record]) -> None:
        for record in records:
            await self._send(record)

    def _spawn(self, coro) -> None:  # noqa: ANN001
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout_s: float) -> bool:
        """Send what is being packed, then wait until every taken message is acknowledged;
        False on timeout."""
        if self._pack_timer is not None:
            self._pack_timer.cancel()
        self._send_packs()
        try:
            await asyncio.wait_for(self._drained.wait(), timeout_s)
            return True
        except TimeoutError:
            return False

    async def close(self) -> None:
        if self._pack_timer is not None:
            self._pack_timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- delivery ----------------------------------------------------------------------

    async def _send(self, record: _Record) -> None:
        try:
            future = await self._producer.send(record.topic, record.value, key=record.key,
                                               partition=record.partition)
        except Exception as exc:  # noqa: BLE001 - any failure to enqueue is retried
            self._failed(record, exc)
            return
        future.add_done_callback(partial(self._delivered, record))

    def _delivered(self, record: _Record, future: asyncio.Future[object]) -> None:
        if future.cancelled():
            return  # producer stopped: the message stays unacknowledged and is redelivered
        exc = future.exception()
        if exc is not None:
            self._failed(record, exc)
            return
        self._metrics.records_produced[record.kind] += 1
        done = False
        for entry in record.entries:
            entry.remaining -= 1
            done = done or entry.remaining == 0
        if done:
            self._flush()

    def _failed(self, record: _Record, exc: BaseException) -> None:
        self._metrics.kafka_errors += 1
        now = time.monotonic()
        if now - self._last_error_log > 10:
            self._last_error_log = now
            log.warning("Kafka produce to %s failed (%r); retrying, %d messages unacknowledged",
                        record.topic, exc, len(self._pending))
        self._spawn(self._retry(record))

    async def _retry(self, record: _Record) -> None:
        record.attempts += 1
        await asyncio.sleep(min(RETRY_MAX_S, RETRY_MIN_S * 2 ** min(record.attempts, 8)))
        await self._send(record)

    def _flush(self) -> None:
        pending, m = self._pending, self._metrics
        done = []
        while pending and pending[0].remaining == 0:
            done.append(pending.popleft().message)
        if done:
            m.messages_acked += self._source.complete_many(done)
        m.in_flight = self._source.held
        if not pending:
            self._drained.set()
