"""The gateway's MQTT source against the real broker: buffered reads deliver every message
of a burst, and a batch of acknowledgements (one write) acknowledges exactly those
messages, so after a restart the broker redelivers exactly the rest."""

from __future__ import annotations

import asyncio
import uuid

from tests.ingest.ingest_support import Publisher

from ingest.mqtt_source import Inbox, Message, MqttOptions, MqttSource
from vitalstream.config import Settings
from vitalstream.mqtturl import parse_mqtt_url


async def _receive(opts: MqttOptions, want: int, timeout_s: float = 30) -> tuple[MqttSource, list[Message]]:
    loop = asyncio.get_running_loop()
    inbox = Inbox(loop, coalesce_s=0.005)
    subscribed = asyncio.Event()
    source = MqttSource(opts, inbox, loop, lambda state: state == "subscribed" and subscribed.set())
    source.start()
    await asyncio.wait_for(subscribed.wait(), 30)
    got: list[Message] = []
    deadline = loop.time() + timeout_s
    while len(got) < want and loop.time() < deadline:
        try:
            got.extend(await asyncio.wait_for(inbox.take(), max(0.1, deadline - loop.time())))
        except TimeoutError:
            break
    return source, got


async def test_batched_acks_acknowledge_exactly_those_messages(settings: Settings, topic_prefix: str) -> None:
    target = parse_mqtt_url(settings.core.mqtt_url or "")
    topic_root = f"{topic_prefix.rstrip('.')}/src"
    opts = MqttOptions(target=target, client_id=f"src-{uuid.uuid4().hex[:8]}", subscription=f"{topic_root}/+",
                       max_held=2000, session_expiry_s=300)

    # Subscribe first (persistent session), then publish one burst: many packets per read.
    source, _ = await _receive(opts, want=0, timeout_s=0.2)
    pub = Publisher(target.port, username=target.username, password=target.password, window=2000)
    n = 1500
    pub.publish_all([(f"{topic_root}/dev-{i % 7}", f"m{i}".encode()) for i in range(n)])
    await asyncio.to_thread(pub.flush)
    pub.close()

    got: list[Message] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while len(got) < n and loop.time() < deadline:
        got.extend(await source._inbox.take())  # noqa: SLF001 - the source's own inbox
    payloads = [m.payload for m in got]
    assert sorted(payloads) == sorted(f"m{i}".encode() for i in range(n)), "a message lost or doubled"
    assert source.held == n

    # Acknowledge the first 1,000 in batches of uneven size; keep 500 unacknowledged.
    acked, kept = got[:1000], got[1000:]
    for start in range(0, len(acked), 333):
        assert source.complete_many(acked[start:start + 333]) == len(acked[start:start + 333])
    assert source.held == len(kept)
    await asyncio.sleep(0.5)  # the acknowledgements leave on paho's thread
    await asyncio.to_thread(source.stop)

    # Same client id, persistent session: the broker redelivers exactly the unacknowledged.
    again, redelivered = await _receive(opts, want=len(kept), timeout_s=15)
    try:
        await asyncio.sleep(1.0)  # anything acknowledged but redelivered would arrive now
        redelivered.extend(again._inbox._items)  # noqa: SLF001 - late arrivals not yet taken
        assert sorted(m.payload for m in redelivered) == sorted(m.payload for m in kept)
        assert again.complete_many(redelivered) == len(redelivered)
    finally:
        await asyncio.to_thread(again.stop)


async def test_publishes_with_and_without_properties_arrive_the_same(settings: Settings, topic_prefix: str) -> None:
    """Plain QoS 1 PUBLISH packets take the client's direct path, those carrying MQTT 5
    properties (or QoS 0) paho's: both must deliver the same topic, payload and QoS, and the
    direct path must really be taken (it is the gateway's per-message cost)."""
    import paho.mqtt.client as paho
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    target = parse_mqtt_url(settings.core.mqtt_url or "")
    root = f"{topic_prefix.rstrip('.')}/props"
    opts = MqttOptions(target=target, client_id=f"src-{uuid.uuid4().hex[:8]}", subscription=f"{root}/+",
                       max_held=2000, session_expiry_s=60)
    source, _ = await _receive(opts, want=0, timeout_s=0.2)
    direct: list[int] = []
    fast = source._client.on_qos1_publish  # noqa: SLF001
    source._client.on_qos1_publish = lambda t, mid, p: (direct.append(mid), fast(t, mid, p))  # noqa: SLF001

    pub = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    if target.username:
        pub.username_pw_set(target.username, target.password)
    pub.connect(target.host, target.port)
    pub.loop_start()
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = ("fw", "1.2.3")
    props.MessageExpiryInterval = 600
    sent = []
    for i in range(60):
        kind = ("plain", "props", "qos0")[i % 3]
        topic, payload = f"{root}/dev-{i % 4}", f'{{"n":{i},"é":"ü"}}'.encode()
        info = pub.publish(topic, payload, qos=0 if kind == "qos0" else 1, properties=props if kind == "props" else None)
        info.wait_for_publish(10)
        sent.append((topic, payload, 0 if kind == "qos0" else 1))
    pub.disconnect()
    pub.loop_stop()

    got: list[Message] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while len(got) < len(sent) and loop.time() < deadline:
        got.extend(await source._inbox.take())  # noqa: SLF001
    source.complete_many(got)
    source.stop()
    assert sorted((m.topic, m.payload, m.qos) for m in got) == sorted(sent)
    assert all(type(m.payload) is bytes for m in got)
    assert len(direct) == 20  # exactly the plain QoS 1 ones; properties and QoS 0 went paho's way
