"""stream.continuity: which delivered offsets mean records were skipped."""

from __future__ import annotations

from stream.continuity import Continuity, Gap


def feed(c: Continuity, offsets, partition: int = 0, generation: int = 1) -> list[Gap]:
    return [g for o in offsets if (g := c.observe(generation, partition, o)) is not None]


def test_in_order_and_rereads_are_not_gaps() -> None:
    c = Continuity()
    assert feed(c, range(10, 20)) == []
    assert feed(c, range(5, 25)) == []  # a seek back to the committed offset: duplicates, fine
    assert feed(c, [7], partition=3) == []  # first record of another partition: anything goes


def test_a_jump_is_reported_once_with_the_missing_range() -> None:
    c = Continuity()
    feed(c, range(0, 391))
    assert feed(c, [395, 396, 397]) == [Gap(0, 391, 395)]  # [391, 395) never arrived
    assert feed(c, range(391, 400)) == []  # faust re-reading them later is harmless
    assert feed(c, [400, 402]) == [Gap(0, 401, 402)]


def test_a_rebalance_starts_afresh() -> None:
    c = Continuity()
    feed(c, range(0, 100), generation=1)
    assert feed(c, [250, 251], generation=2) == []  # the new generation starts where the commit was


async def test_gap_reader_reads_exactly_the_missing_range_from_kafka(settings, topic_prefix) -> None:
    """Against the real broker: the records of [first_missing, next_seen) of one partition."""
    from aiokafka import AIOKafkaProducer

    from stream.continuity import GapReader

    topic = f"{topic_prefix}vitals"
    producer = AIOKafkaProducer(bootstrap_servers=settings.core.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(50):
            await producer.send_and_wait(topic, f"r{i}".encode(), partition=2)
            await producer.send_and_wait(topic, f"other{i}".encode(), partition=3)
    finally:
        await producer.stop()
    reader = GapReader(settings.core.kafka_bootstrap)
    try:
        assert await reader.read(topic, Gap(2, 10, 20)) == [f"r{i}".encode() for i in range(10, 20)]
        assert await reader.read(topic, Gap(3, 0, 3)) == [b"other0", b"other1", b"other2"]  # reused, reassigned
    finally:
        await reader.close()
