"""The wire format between the gateway and the worker (Kafka topic `vitals`).

A faust worker pays ~75 µs per Kafka record whatever it holds (../shared/CEILINGS.md:
13.5K events/s for an agent that only counts), and a 1 Hz wearable sends one sample per
MQTT message, so records carry many samples. Two versions, both read by the worker:

v1, one device's samples from one MQTT message, keyed by `device_id`:

    {"v": 1, "device_id": "dev-0001", "received_at": 1795000000456,
     "samples": [[seq, ts_ms, hr, spo2, rr, temp, sbp, dbp, activity], ...]}

v2, a pack: the batches of several MQTT messages (several devices) that the gateway
gathered for a few milliseconds, all bound for ONE partition: the partition Kafka's
default partitioner gives each device_id (murmur2), so a device's samples still stay in
one partition, in order, co-partitioned with its state table. No key.

    {"v": 2, "batches": [["dev-0001", 1795000000456, [[seq, ts_ms, ...], ...]], ...]}
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

# INTERFACE §1 metric names, in the column order used everywhere (records, COPY, arrays).
METRICS: tuple[str, ...] = ("hr", "spo2", "rr", "temp", "sbp", "dbp", "activity")
WIRE_VERSION = 1
PACK_VERSION = 2


@dataclass(frozen=True, slots=True)
class Sample:
    """One accepted sample; metrics are None when the device did not report them."""

    device_id: str
    seq: int
    ts_ms: int
    hr: float | None = None
    spo2: float | None = None
    rr: float | None = None
    temp: float | None = None
    sbp: float | None = None
    dbp: float | None = None
    activity: float | None = None

    def metrics(self) -> tuple[float | None, ...]:
        return (self.hr, self.spo2, self.rr, self.temp, self.sbp, self.dbp, self.activity)


@dataclass(frozen=True, slots=True)
class SampleBatch:
    device_id: str
    received_at_ms: int
    samples: tuple[Sample, ...]


class RecordError(ValueError):
    """A `vitals` record that does not decode: a bug or a foreign producer, never a device."""


def encode_batch(batch: SampleBatch) -> bytes:
    rows = [[s.seq, s.ts_ms, *s.metrics()] for s in batch.samples]
    doc = {"v": WIRE_VERSION, "device_id": batch.device_id, "received_at": batch.received_at_ms, "samples": rows}
    return orjson.dumps(doc)


def encode_batch_part(batch: SampleBatch) -> bytes:
    """One batch as an element of a v2 pack (see join_pack); encoded as each message
    arrives, so the gateway's flush only concatenates bytes."""
    rows = [[s.seq, s.ts_ms, *s.metrics()] for s in batch.samples]
    return orjson.dumps([batch.device_id, batch.received_at_ms, rows])


def join_pack(parts: list[bytes]) -> bytes:
    return b'{"v":2,"batches":[' + b",".join(parts) + b"]}"


def encode_pack(batches: list[SampleBatch]) -> bytes:
    return join_pack([encode_batch_part(b) for b in batches])


def default_partition(device_id: str, n_partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2, as the Java client and aiokafka)
    gives a record keyed by `device_id`: where a device's samples and its state live."""
    from aiokafka.partitioner import murmur2

    return (murmur2(device_id.encode()) & 0x7FFFFFFF) % n_partitions


def pack_by_partition(batches: list[SampleBatch], n_partitions: int) -> dict[int, bytes]:
    """v2 packs as the gateway builds them: one per partition, its devices' batches in order."""
    parts: dict[int, list[bytes]] = {}
    for b in batches:
        parts.setdefault(default_partition(b.device_id, n_partitions), []).append(encode_batch_part(b))
    return {p: join_pack(v) for p, v in parts.items()}


def _samples(device_id: str, rows: list) -> tuple[Sample, ...]:
    return tuple(Sample(device_id, int(r[0]), int(r[1]), *r[2:9]) for r in rows)


def decode_record(value: bytes) -> list[SampleBatch]:
    """The batches in a `vitals` record of either version."""
    try:
        doc = orjson.loads(value)
        version = doc.get("v")
        if version == PACK_VERSION:
            return [SampleBatch(d, int(at), _samples(d, rows)) for d, at, rows in doc["batches"]]
        if version == WIRE_VERSION:
            device_id = doc["device_id"]
            return [SampleBatch(device_id, int(doc["received_at"]), _samples(device_id, doc["samples"]))]
        raise RecordError(f"unsupported wire version {version!r}")
    except RecordError:
        raise
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise RecordError(f"undecodable vitals record: {exc}") from exc
