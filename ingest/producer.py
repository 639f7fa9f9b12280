"""The gateway's Kafka producer: acks=all, idempotent where the broker supports it.

Idempotence needs the InitProducerId API; Apache Kafka has it, the embedded tansu
broker answers it with an error (tansu 0.6, memory storage). Then the gateway falls back
to acks=all without idempotence: a retry may duplicate a record, which the
(device_id, seq) key makes harmless downstream.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterator
from contextlib import contextmanager

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError
from aiokafka.partitioner import murmur2

log = logging.getLogger(__name__)


@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


class CachedKeyPartitioner:
    """Kafka's default key partitioning (murmur2, as the Java client), with the hash cached
    per key: there are few devices and many messages, and the pure-Python murmur2 costs
    about 10 µs a call, a tenth of the gateway's whole per-message budget."""

    MAX_KEYS = 200_000  # a bound on memory; the cache restarts when a fleet exceeds it

    def __init__(self) -> None:
        self._hashes: dict[bytes, int] = {}

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:  # dead letters from a malformed topic: spread them, like the default
            return random.choice(available or all_partitions)
        h = self._hashes.get(key)
        if h is None:
            if len(self._hashes) >= self.MAX_KEYS:
                self._hashes.clear()
            h = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return all_partitions[h % len(all_partitions)]


def _producer(bootstrap: str, *, idempotent: bool, linger_ms: int, request_timeout_ms: int,
              client_id: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        partitioner=CachedKeyPartitioner(),
        enable_idempotence=idempotent,
        linger_ms=linger_ms,
        max_batch_size=256 * 1024,  # big batches: per-request overhead dominates at these rates
        # A batch that cannot be delivered fails after this long and the forwarder retries
        # it; short enough that a Kafka outage shows up in the metrics within seconds.
        request_timeout_ms=request_timeout_ms,
    )


async def start_producer(bootstrap: str, *, linger_ms: int, request_timeout_ms: int,
                         client_id: str) -> AIOKafkaProducer:
    """Start a producer, waiting as long as it takes for Kafka to become reachable
    (the caller cancels to give up)."""
    idempotent = True
    delay = 0.5
    while True:
        producer = _producer(bootstrap, idempotent=idempotent, linger_ms=linger_ms,
                             request_timeout_ms=request_timeout_ms, client_id=client_id)
        try:
            # aiokafka logs a refused InitProducerId at ERROR; here it is an expected probe.
            with _quiet("aiokafka.producer.sender"):
                await producer.start()
            log.info("Kafka producer started on %s (acks=all, idempotence %s)", bootstrap,
                     "on" if idempotent else "off: unsupported by this broker")
            return producer
        except KafkaConnectionError as exc:
            await producer.stop()
            log.warning("Kafka at %s unreachable (%s); retrying", bootstrap, exc)
        except KafkaError as exc:
            await producer.stop()
            if not idempotent:
                raise
            log.info("Kafka broker refused idempotent producer (%r); using acks=all without it", exc)
            idempotent = False
            continue
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)
