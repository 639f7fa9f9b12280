"""Validated messages → Kafka records, and MQTT acknowledgements once Kafka has them.

For every MQTT message the forwarder produces up to two records: the accepted samples
to `vitals` (key = device_id, value = records.encode_batch) and, when anything was
rejected, one dead-letter record to `vitals.dlq`. The message is acknowledged only when
every one of its records is acknowledged by Kafka (acks=all). Acknowledgements leave in
the order the messages arrived, as MQTT requires of PUBACKs.

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
from dataclasses import dataclass
from functools import partial

from aiokafka import AIOKafkaProducer

from vitalstream.records import encode_batch

from .dlq import encode_dlq
from .metrics import GatewayMetrics
from .mqtt_source import Message, MqttSource
from .validate import Limits, validate

log = logging.getLogger(__name__)
RETRY_MIN_S, RETRY_MAX_S = 0.2, 5.0


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
    attempts: int = 0


class Forwarder:
    def __init__(self, producer: AIOKafkaProducer, source: MqttSource, metrics: GatewayMetrics, limits: Limits,
                 *, vitals_topic: str, dlq_topic: str):
        self._producer = producer
        self._source = source
        self._metrics = metrics
        self._limits = limits
        self._vitals_topic = vitals_topic
        self._dlq_topic = dlq_topic
        self._pending: deque[_Pending] = deque()
        self._drained = asyncio.Event()
        self._drained.set()
        self._retries: set[asyncio.Task[None]] = set()
        self._last_error_log = 0.0

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    async def handle(self, message: Message) -> None:
        m = self._metrics
        m.messages_received += 1
        now_ms = time.time_ns() // 1_000_000
        result = validate(message.topic, message.payload, now_ms=now_ms, limits=self._limits)
        key = result.device_id.encode() if result.device_id else None
        records: list[_Record] = []
        if result.batch is not None:
            m.samples_accepted += result.accepted
            records.append(_Record(self._vitals_topic, "vitals", key, encode_batch(result.batch)))
        if result.rejections:
            for r in result.rejections:
                m.samples_rejected[r.reason.value] += 1
            dlq = encode_dlq(message.topic, message.payload, result, now_ms)
            records.append(_Record(self._dlq_topic, "dlq", key, dlq))
        entry = _Pending(message, len(records))
        self._pending.append(entry)
        self._drained.clear()
        m.in_flight = self._source.held
        for record in records:
            await self._send(entry, record)
        if not records:  # cannot happen (validate always accepts or rejects); never wedge the queue
            self._flush()

    async def drain(self, timeout_s: float) -> bool:
        """Wait until every taken message is acknowledged; False on timeout."""
        try:
            await asyncio.wait_for(self._drained.wait(), timeout_s)
            return True
        except TimeoutError:
            return False

    async def close(self) -> None:
        for task in list(self._retries):
            task.cancel()
        await asyncio.gather(*self._retries, return_exceptions=True)

    # --- delivery ----------------------------------------------------------------------

    async def _send(self, entry: _Pending, record: _Record) -> None:
        try:
            future = await self._producer.send(record.topic, record.value, key=record.key)
        except Exception as exc:  # noqa: BLE001 - any failure to enqueue is retried
            self._failed(entry, record, exc)
            return
        future.add_done_callback(partial(self._delivered, entry, record))

    def _delivered(self, entry: _Pending, record: _Record, future: asyncio.Future[object]) -> None:
        if future.cancelled():
            return  # producer stopped: the message stays unacknowledged and is redelivered
        exc = future.exception()
        if exc is not None:
            self._failed(entry, record, exc)
            return
        self._metrics.records_produced[record.kind] += 1
        entry.remaining -= 1
        if entry.remaining == 0:
            self._flush()

    def _failed(self, entry: _Pending, record: _Record, exc: BaseException) -> None:
        self._metrics.kafka_errors += 1
        now = time.monotonic()
        if now - self._last_error_log > 10:
            self._last_error_log = now
            log.warning("Kafka produce to %s failed (%r); retrying, %d messages unacknowledged",
                        record.topic, exc, len(self._pending))
        task = asyncio.get_running_loop().create_task(self._retry(entry, record))
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    async def _retry(self, entry: _Pending, record: _Record) -> None:
        record.attempts += 1
        await asyncio.sleep(min(RETRY_MAX_S, RETRY_MIN_S * 2 ** min(record.attempts, 8)))
        await self._send(entry, record)

    def _flush(self) -> None:
        pending, m = self._pending, self._metrics
        while pending and pending[0].remaining == 0:
            if self._source.complete(pending.popleft().message):
                m.messages_acked += 1
        m.in_flight = self._source.held
        if not pending:
            self._drained.set()
