"""The gateway against real Mosquitto and Kafka: valid samples reach `vitals`, rejects
reach `vitals.dlq` with their reasons, metrics are served, stop is clean."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from dataclasses import replace

import aiohttp
import pytest
from tests.ingest.ingest_support import Publisher, payload, read_topic, sample, vitals_keys

from ingest.dlq import decode_dlq
from ingest.gateway import run_gateway
from ingest.metrics import GatewayMetrics
from vitalstream.config import Settings
from vitalstream.mqtturl import parse_mqtt_url
from vitalstream.services import free_port


def gateway_settings(settings: Settings, topic_prefix: str, **ingest: object) -> Settings:
    root = f"{topic_prefix.rstrip('.')}/vitals"
    core = replace(settings.core, topic_prefix=topic_prefix, mqtt_topic_root=root)
    ing = replace(settings.ingest, client_id=f"gw-{uuid.uuid4().hex[:8]}", **ingest)
    return replace(settings, core=core, ingest=ing)


async def wait_until(predicate, timeout_s: float = 30) -> None:  # noqa: ANN001
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.05)


async def test_valid_to_vitals_rejects_to_dlq_with_metrics(settings: Settings, topic_prefix: str) -> None:
    port = free_port()
    s = gateway_settings(settings, topic_prefix, metrics_port=port)
    root = s.core.mqtt_topic_root
    metrics = GatewayMetrics()
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_gateway(s, stop=stop, ready=ready, metrics=metrics))
    await asyncio.wait_for(ready.wait(), 30)

    singles = [(f"{root}/dev-{d}", payload(sample(f"dev-{d}", seq))) for d in range(10) for seq in range(50)]
    batch = {"device_id": "dev-b", "samples": [sample("dev-b", 0), sample("dev-b", 1, hr=900), sample("dev-b", 2)]}
    bad = [
        (f"{root}/dev-x", b"not json"),
        (f"{root}/dev-x", payload(sample("dev-y", 1))),  # device mismatch
        (f"{root}/dev-x", payload(sample("dev-x", 1, spo2=130))),
        (f"{root}/dev-x", b""),
    ]
    mqtt = parse_mqtt_url(s.core.mqtt_url or "")
    pub = Publisher(mqtt.port, username=mqtt.username, password=mqtt.password)
    pub.publish_all([*singles, (f"{root}/dev-b", payload(batch)), *bad])
    await asyncio.to_thread(pub.flush)
    pub.close()
    total = len(singles) + 1 + len(bad)
    await wait_until(lambda: metrics.messages_acked == total)

    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
            assert resp.status == 200
            text = await resp.text()
    stop.set()
    await asyncio.wait_for(task, 30)

    keys, count = await vitals_keys(s.core.kafka_bootstrap or "", f"{topic_prefix}vitals")
    expected = {(f"dev-{d}", seq) for d in range(10) for seq in range(50)} | {("dev-b", 0), ("dev-b", 2)}
    assert keys == expected and count == len(expected)

    dead = [decode_dlq(r.value) for r in await read_topic(s.core.kafka_bootstrap or "", f"{topic_prefix}vitals.dlq")]
    reasons = sorted(d.reason for d in dead)
    assert reasons == sorted(["out_of_range", "json_invalid", "device_id_mismatch", "out_of_range", "payload_empty"])
    in_batch = next(d for d in dead if d.mqtt_topic.endswith("/dev-b"))
    assert in_batch.rejections == [{"index": 1, "reason": "out_of_range", "field": "hr",
                                    "message": "hr 900 outside [20, 300]"}]
    assert json.loads(in_batch.payload) == batch  # the original bytes, intact
    assert any(d.payload == b"not json" for d in dead)
    for record in await read_topic(s.core.kafka_bootstrap or "", f"{topic_prefix}vitals.dlq"):
        raw = json.loads(record.value)
        original = base64.b64decode(raw["payload_b64"])
        assert any(original == data for _, data in bad) or json.loads(original) == batch
        assert raw["received_at_iso"].endswith("Z") and record.key == raw["mqtt_topic"].rsplit("/", 1)[1].encode()

    assert f"vitalstream_gateway_messages_received_total {total}" in text
    assert f"vitalstream_gateway_samples_accepted_total {len(expected)}" in text
    assert 'vitalstream_gateway_samples_rejected_total{reason="out_of_range"} 2' in text
    assert 'vitalstream_gateway_records_produced_total{topic="dlq"} 5' in text
    assert "vitalstream_gateway_in_flight 0" in text


async def test_stops_while_kafka_is_unreachable(settings: Settings, topic_prefix: str) -> None:
    """A gateway waiting for a Kafka that is not there still stops on the stop event."""
    s = gateway_settings(settings, topic_prefix)
    s = replace(s, core=replace(s.core, kafka_bootstrap=f"127.0.0.1:{free_port()}"))
    stop = asyncio.Event()
    task = asyncio.create_task(run_gateway(s, stop=stop))
    await asyncio.sleep(1.5)
    assert not task.done()
    stop.set()
    await asyncio.wait_for(task, 15)


@pytest.mark.parametrize("group", [None, "grp"])
def test_subscription_filter(settings: Settings, group: str | None) -> None:
    from ingest.gateway import subscription_filter

    s = replace(settings, ingest=replace(settings.ingest, share_group=group))
    root = s.core.mqtt_topic_root
    assert subscription_filter(s) == (f"$share/grp/{root}/+" if group else f"{root}/+")


async def test_reconnects_after_broker_restart(tmp_path, settings: Settings, topic_prefix: str) -> None:  # noqa: ANN001
    from tests.ingest.ingest_support import start_mosquitto

    broker = start_mosquitto(tmp_path)
    s = gateway_settings(settings, topic_prefix)
    s = replace(s, core=replace(s.core, mqtt_url=broker.url()))
    root = s.core.mqtt_topic_root
    metrics = GatewayMetrics()
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_gateway(s, stop=stop, ready=ready, metrics=metrics))
    try:
        await asyncio.wait_for(ready.wait(), 30)
        for batch in range(2):
            pub = Publisher(broker.port)
            pub.publish_all((f"{root}/r1", payload(sample("r1", batch * 10 + i))) for i in range(10))
            await asyncio.to_thread(pub.flush)
            pub.close()
            await wait_until(lambda b=batch: metrics.messages_acked == 10 * (b + 1))
            if batch == 0:
                await asyncio.to_thread(broker.restart)  # not persistent: the gateway must resubscribe
                await wait_until(lambda: metrics.mqtt_reconnects == 1 and metrics.mqtt_subscribed, 30)
        keys, _ = await vitals_keys(s.core.kafka_bootstrap or "", f"{topic_prefix}vitals")
        assert keys == {("r1", i) for i in range(20)}
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        broker.stop()


@pytest.mark.parametrize("pack_ms", [0, 50])
async def test_packing_keeps_each_device_in_its_partition_in_order(settings: Settings, topic_prefix: str,
                                                                   pack_ms: int) -> None:
    """pack_ms > 0: many messages per record, every device in the partition its key hashes to
    (its state's partition), its seqs in order; pack_ms = 0: one keyed v1 record per message."""
    from vitalstream.records import decode_record

    s = gateway_settings(settings, topic_prefix, pack_ms=pack_ms)
    root = s.core.mqtt_topic_root
    metrics = GatewayMetrics()
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_gateway(s, stop=stop, ready=ready, metrics=metrics))
    await asyncio.wait_for(ready.wait(), 30)
    messages = [(f"{root}/pk-{d}", payload(sample(f"pk-{d}", seq))) for seq in range(40) for d in range(25)]
    mqtt = parse_mqtt_url(s.core.mqtt_url or "")
    pub = Publisher(mqtt.port, username=mqtt.username, password=mqtt.password)
    pub.publish_all(messages)
    await asyncio.to_thread(pub.flush)
    pub.close()
    await wait_until(lambda: metrics.messages_acked == len(messages))
    stop.set()
    await asyncio.wait_for(task, 30)

    bootstrap = s.core.kafka_bootstrap or ""
    keys, count = await vitals_keys(bootstrap, f"{topic_prefix}vitals")  # checks each device's partition
    assert count == len(keys) == len(messages)
    records = await read_topic(bootstrap, f"{topic_prefix}vitals")
    if pack_ms:
        assert len(records) < len(messages) / 4, f"{len(records)} records for {len(messages)} messages"
        assert all(r.key is None for r in records) and metrics.messages_per_pack.count == len(records)
    else:
        assert len(records) == len(messages) and all(r.key is not None for r in records)
    seqs: dict[str, list[int]] = {}
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        for b in decode_record(r.value):
            seqs.setdefault(b.device_id, []).extend(x.seq for x in b.samples)
    assert all(v == list(range(40)) for v in seqs.values()) and len(seqs) == 25
