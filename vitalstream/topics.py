"""Kafka topic names and their explicit creation.

Every topic is created at start-up with its partition count and retention: Apache
Kafka's auto-creation would give one partition, and faust misses a topic that appears
after it subscribed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from .config import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    base: str
    partitions_factor: float  # share of settings.core.topic_partitions
    retention_ms: int | None  # None: settings.core.topic_retention_ms


# vitals: device samples (keyed by device_id); vitals.dlq: rejected payloads with reasons;
# scores: detector scores; alert.candidates: what the alert engine consumes.
TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec("vitals", 1.0, None),
    TopicSpec("vitals.dlq", 0.25, 30 * 24 * 3600 * 1000),  # kept longer: evidence for device support
    TopicSpec("scores", 1.0, None),
    TopicSpec("alert.candidates", 1.0, None),
)


def topic_name(settings: Settings, base: str) -> str:
    return f"{settings.core.topic_prefix}{base}"


def _new_topics(settings: Settings) -> list[NewTopic]:
    out = []
    for spec in TOPICS:
        partitions = max(1, round(settings.core.topic_partitions * spec.partitions_factor))
        retention = spec.retention_ms or settings.core.topic_retention_ms
        out.append(
            NewTopic(
                name=topic_name(settings, spec.base),
                num_partitions=partitions,
                replication_factor=settings.core.topic_replication,
                topic_configs={"retention.ms": str(retention)},
            )
        )
    return out


async def ensure_topics(settings: Settings, *, timeout_s: float = 60.0) -> list[str]:
    """Create every topic that does not exist yet; returns the names created."""
    assert settings.core.kafka_bootstrap, "Kafka bootstrap must be resolved before creating topics"
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.core.kafka_bootstrap)
        try:
            await admin.start()
            break
        except KafkaConnectionError:
            await admin.close()
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)
    try:
        existing = set(await admin.list_topics())
        wanted = [t for t in _new_topics(settings) if t.name not in existing]
        created = []
        for topic in wanted:
            try:
                await admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass  # another process won the race
        if created:
            log.info("created Kafka topics %s", ", ".join(created))
        return created
    finally:
        await admin.close()
