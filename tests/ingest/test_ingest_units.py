"""Small pure pieces of the gateway: partitioner, DLQ record, metrics text, settings."""

from __future__ import annotations

import base64
import json

import pytest
from aiokafka.partitioner import DefaultPartitioner

from ingest.dlq import decode_dlq, encode_dlq
from ingest.metrics import GatewayMetrics
from ingest.producer import CachedKeyPartitioner
from ingest.validate import Limits, validate
from vitalstream.config import ConfigError, load_settings


def test_cached_partitioner_matches_kafka_default() -> None:
    ours, default = CachedKeyPartitioner(), DefaultPartitioner()
    for n in (1, 3, 8, 24):
        parts = list(range(n))
        for i in range(500):
            key = f"dev-{i:04d}".encode()
            assert ours(key, parts, parts) == default(key, parts, parts)
            assert ours(key, parts, parts) == default(key, parts, parts)  # cached path
    assert ours(None, [0, 1], [1]) == 1


def test_dlq_record_round_trip() -> None:
    raw = b'{"device_id": "d1", "samples": [{"seq": 1, "ts": 1000, "hr": 999}, {"seq": 2, "ts": 1000, "hr": 60}]}'
    result = validate("vitals/d1", raw, now_ms=2000, limits=Limits(max_past_ms=10**6, max_future_ms=10**6))
    value = encode_dlq("vitals/d1", raw, result, 1_795_000_000_456)
    doc = json.loads(value)
    assert doc["received_at_iso"] == "2026-11-18T11:06:40.456Z"
    assert doc["reason"] == "out_of_range" and doc["accepted_samples"] == 1 and doc["total_samples"] == 2
    assert base64.b64decode(doc["payload_b64"]) == raw
    dead = decode_dlq(value)
    assert dead.payload == raw and dead.rejections[0]["index"] == 0 and dead.mqtt_topic == "vitals/d1"


def test_metrics_text_format() -> None:
    m = GatewayMetrics(messages_received=5, samples_accepted=7, in_flight=2, kafka_errors=1, mqtt_reconnects=3)
    m.samples_rejected["out_of_range"] += 2
    m.records_produced["vitals"] += 4
    text = m.render()
    assert "# TYPE vitalstream_gateway_messages_received_total counter" in text
    assert 'vitalstream_gateway_samples_rejected_total{reason="out_of_range"} 2' in text
    assert 'vitalstream_gateway_records_produced_total{topic="vitals"} 4' in text
    assert "vitalstream_gateway_in_flight 2" in text and "vitalstream_gateway_mqtt_reconnects_total 3" in text
    assert text.endswith("\n")


def test_ingest_settings_refuse_bad_values() -> None:
    s = load_settings({"VITALSTREAM_GATEWAY_MAX_IN_FLIGHT": "500", "VITALSTREAM_GATEWAY_SHARE_GROUP": "g1"})
    assert s.ingest.max_in_flight == 500 and s.ingest.share_group == "g1"
    for name, value in [("GATEWAY_MAX_IN_FLIGHT", "0"), ("GATEWAY_MAX_IN_FLIGHT", "70000"),
                        ("GATEWAY_SHARE_GROUP", "a/b"), ("GATEWAY_CLIENT_ID", "x" * 65)]:
        with pytest.raises(ConfigError, match=f"VITALSTREAM_{name}"):
            load_settings({f"VITALSTREAM_{name}": value})


def test_dlq_record_stays_small_for_a_batch_of_junk_and_an_oversized_payload() -> None:
    import json as _json

    from ingest.dlq import decode_dlq, encode_dlq
    from ingest.validate import Limits, validate

    junk = _json.dumps({"device_id": "d", "samples": [1] * 30_000}, separators=(",", ":")).encode()  # < 64 KiB
    now = 1_795_000_000_000
    result = validate("vitals/d", junk, now_ms=now, limits=Limits(max_past_ms=86_400_000, max_future_ms=300_000))
    record = encode_dlq("vitals/d", junk, result, now)
    assert len(result.rejections) == 30_000
    assert len(record) < 200_000  # far below Kafka's 1 MB default
    doc = _json.loads(record)
    assert doc["rejections_total"] == len(result.rejections) and len(doc["rejections"]) == 100
    assert decode_dlq(record).payload == junk

    huge = b"x" * (5 * 1024 * 1024)
    result = validate("vitals/d", huge, now_ms=now, limits=Limits(max_past_ms=86_400_000, max_future_ms=300_000))
    record = encode_dlq("vitals/d", huge, result, now)
    assert len(record) < 200_000 and _json.loads(record)["payload_truncated"] is True
