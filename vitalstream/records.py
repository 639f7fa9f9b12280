"""The wire format between the gateway and the worker (Kafka topic `vitals`).

One Kafka record carries one device's accepted samples from one MQTT message, keyed by
`device_id` so a device's samples stay in one partition, in order. Samples travel as
compact arrays: per-record overhead dominates at these rates, and several samples per
record keeps the worker's per-event cost low (see ../shared/CEILINGS.md).

    {"v": 1, "device_id": "dev-0001", "received_at": 1795000000456,
     "samples": [[seq, ts_ms, hr, spo2, rr, temp, sbp, dbp, activity], ...]}
"""

from __future__ import annotations

import json
from dataclasses import dataclass

# INTERFACE §1 metric names, in the column order used everywhere (records, COPY, arrays).
METRICS: tuple[str, ...] = ("hr", "spo2", "rr", "temp", "sbp", "dbp", "activity")
WIRE_VERSION = 1


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
    return json.dumps(doc, separators=(",", ":")).encode()


def decode_batch(value: bytes) -> SampleBatch:
    try:
        doc = json.loads(value)
        if doc.get("v") != WIRE_VERSION:
            raise RecordError(f"unsupported wire version {doc.get('v')!r}")
        device_id = doc["device_id"]
        samples = tuple(Sample(device_id, int(r[0]), int(r[1]), *r[2:9]) for r in doc["samples"])
        return SampleBatch(device_id, int(doc["received_at"]), samples)
    except RecordError:
        raise
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise RecordError(f"undecodable vitals record: {exc}") from exc
