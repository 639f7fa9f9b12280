"""The dead-letter record (Kafka topic `vitals.dlq`): a rejected payload kept as evidence.

One record per MQTT message that had at least one rejection, keyed by the topic's
device_id (when the topic named one) so a device's rejects stay together:

    {"v": 1, "mqtt_topic": "vitals/dev-1", "received_at": 1795000000456,
     "received_at_iso": "2026-11-18T09:46:40.456Z", "reason": "out_of_range",
     "message": "hr 900 outside [20, 300]", "accepted_samples": 3, "total_samples": 4,
     "rejections": [{"index": 2, "reason": "out_of_range", "field": "hr", "message": "..."}],
     "rejections_total": 1, "payload_b64": "<the original bytes, base64>",
     "payload_bytes": 123, "payload_truncated": false}

Bounded: at most the first 100 rejections and the first 64 KiB of the payload are kept
(the totals say how many there were), so a record always fits in a Kafka message.

`reason`/`message` repeat the first rejection for consumers that only want one.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .validate import ValidationResult

DLQ_VERSION = 1
# A record must stay far below Kafka's 1 MB default message size, or the producer refuses it
# for good and, since acknowledgements go out in order, the gateway stalls on it. Payloads
# over the 64 KiB limit are kept in part; a batch of junk keeps its first rejections.
MAX_PAYLOAD_KEPT = 64 * 1024
MAX_REJECTIONS_KEPT = 100


def encode_dlq(mqtt_topic: str, payload: bytes, result: ValidationResult, received_at_ms: int) -> bytes:
    first = result.rejections[0]
    when = datetime.fromtimestamp(received_at_ms / 1000, UTC)
    doc = {
        "v": DLQ_VERSION,
        "mqtt_topic": mqtt_topic,
        "received_at": received_at_ms,
        "received_at_iso": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "reason": str(first.reason),
        "message": first.message,
        "accepted_samples": result.accepted,
        "total_samples": result.total,
        "rejections": [
            {"index": r.index, "reason": str(r.reason), "field": r.field, "message": r.message[:300]}
            for r in result.rejections[:MAX_REJECTIONS_KEPT]
        ],
        "rejections_total": len(result.rejections),
        "payload_b64": base64.b64encode(payload[:MAX_PAYLOAD_KEPT]).decode("ascii"),
        "payload_bytes": len(payload),
        "payload_truncated": len(payload) > MAX_PAYLOAD_KEPT,
    }
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class DeadLetter:
    mqtt_topic: str
    received_at_ms: int
    reason: str
    message: str
    rejections: list[dict[str, Any]]
    payload: bytes


def decode_dlq(value: bytes) -> DeadLetter:
    doc = json.loads(value)
    return DeadLetter(
        mqtt_topic=doc["mqtt_topic"],
        received_at_ms=doc["received_at"],
        reason=doc["reason"],
        message=doc["message"],
        rejections=doc["rejections"],
        payload=base64.b64decode(doc["payload_b64"]),
    )
