"""Notice records the consumer skipped, and read them straight from Kafka.

`vitals` offsets are contiguous (no transactions, no compaction), so within one consumer
generation a partition's records reach the storage agent as n, n+1, n+2, ... or, after a
seek back, from a lower offset again. A forward jump means records were fetched and then
dropped: faust discards what it fetched while its flow is stopped and seeks back to the
committed offsets, and that seek does not always go back far enough (seen under load:
3-30 records of each partition gone right after a restart, the rest intact). Seeking
faust's consumer back is not enough either: a batch it is still delivering moves its
read position past the re-read records, which it then drops as already seen. So the
storage agent reads the missing range itself with a plain consumer (`GapReader`) and
stores it before acknowledging the batch that revealed the gap. Those samples are stored,
not scored (to the detectors they are late).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

READ_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Gap:
    partition: int
    first_missing: int
    next_seen: int  # the offset that revealed the gap; [first_missing, next_seen) is missing


class Continuity:
    def __init__(self) -> None:
        self._generation: int | None = None
        self._expected: dict[int, int] = {}

    def observe(self, generation: int, partition: int, offset: int) -> Gap | None:
        """Record one delivered offset; a Gap when records before it never arrived."""
        if generation != self._generation:  # a rebalance: positions come from the commits now
            self._generation = generation
            self._expected.clear()
        expected = self._expected.get(partition)
        self._expected[partition] = offset + 1  # in order, or a re-read from lower: fine
        if expected is not None and offset > expected:
            return Gap(partition, expected, offset)
        return None


class GapReader:
    """Reads an offset range of one partition, without a consumer group (commits nothing)."""

    def __init__(self, bootstrap: str):
        self._bootstrap = bootstrap
        self._consumer: Any = None

    async def read(self, topic: str, gap: Gap) -> list[bytes]:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        if self._consumer is None:
            self._consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False)
            await self._consumer.start()
        consumer = self._consumer
        tp = TopicPartition(topic, gap.partition)
        consumer.assign([tp])
        consumer.seek(tp, gap.first_missing)
        values: list[bytes] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READ_TIMEOUT_S
        while await consumer.position(tp) < gap.next_seen and loop.time() < deadline:
            for record in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                if gap.first_missing <= record.offset < gap.next_seen:
                    values.append(record.value)
        return values

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
