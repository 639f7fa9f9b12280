"""The MQTT side of the gateway: a paho-mqtt 2.x client bridged to asyncio.

paho's network loop runs in its own thread (loop_start). Messages are handed to the
event loop through `Inbox`: the paho thread appends under a lock and wakes the loop
with call_soon_threadsafe only when it is not already woken, so a burst costs one
wake-up, not one per message. Acknowledgements go back through `ack()`, which paho
makes thread-safe (it queues the PUBACK and wakes its own loop).

Backpressure: at most `max_held` messages are held (taken from the broker and not yet
completed). The client announces that figure as MQTT 5 Receive Maximum, but Mosquitto
2.0 does not enforce it once messages queue up for the session (measured: a slow
subscriber with Receive Maximum 100 was sent 14,000 unacknowledged messages), so the
bound is also enforced here: at the limit, on_message blocks the paho thread, which
stops reading the socket; TCP flow control then leaves the backlog in the broker's
session queue, not in this process. A block longer than about 1.5 keepalives (a long
Kafka outage) makes the broker drop the connection; paho reconnects and the broker
redelivers what was not acknowledged: nothing is lost, memory stays bounded.
The session is persistent (clean_start=False, a session expiry, a fixed client id), so
what this process took but never acknowledged is redelivered after a crash.

Per-message cost (measured: ~150 µs of CPU per message in stock paho + this bridge at
5,000 msg/s) is cut three ways, because the gateway shares its cores with everything else:
`_Client` reads the socket 64 KiB at a time and handles every complete packet per
wake-up (paho makes three recv() calls and one select() per packet); acknowledgements
of a completed batch go out as one write with one wake-up of paho's thread; and the
event loop is woken at most once per `Inbox.coalesce_s`, not once per message.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MessageType, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from vitalstream.mqttclient import BufferedClient
from vitalstream.mqtturl import MqttTarget

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Message:
    generation: int  # which connection delivered it; a PUBACK is only valid on that one
    mid: int
    qos: int
    topic: str
    payload: bytes


class Inbox:
    """Thread → event-loop hand-off of received messages, woken once per burst."""

    def __init__(self, loop: asyncio.AbstractEventLoop, coalesce_s: float = 0.0):
        self._loop = loop
        # After a wake-up, let messages gather this long before taking them: one wake-up
        # (a syscall on each side) per burst instead of per message at high rates. Keep it
        # well below the forwarder's packing interval, which it adds to.
        self._coalesce_s = coalesce_s
        self._lock = threading.Lock()
        self._items: list[Message] = []
        self._woken = False
        self._event = asyncio.Event()

    def put(self, item: Message) -> None:  # paho thread
        with self._lock:
            self._items.append(item)
            if self._woken:
                return
            self._woken = True
        try:
            self._loop.call_soon_threadsafe(self._event.set)
        except RuntimeError:
            pass  # loop closed during shutdown: the message stays unacknowledged and is redelivered

    def wake(self) -> None:  # event loop: make take() return (e.g. on stop)
        self._event.set()

    async def take(self) -> list[Message]:
        await self._event.wait()
        if self._coalesce_s > 0:
            await asyncio.sleep(self._coalesce_s)
        with self._lock:
            items, self._items = self._items, []
            self._woken = False
            self._event.clear()
        return items


_PUBACK = int(MessageType.PUBACK)


class _Client(BufferedClient):
    """paho's client with buffered reads (vitalstream.mqttclient), a direct path for plain
    QoS 1 PUBLISH packets and batched PUBACKs.

    Relies on paho internals, pinned by pyproject (paho-mqtt 2.x) and exercised by the
    gateway tests against a real broker: `_handle_publish` and `_in_packet`, and for
    `ack_many` the `_out_packet` queue with its wake-up socket pair.
    """

    # (topic, mid, payload) for an MQTT 5 QoS 1 PUBLISH without properties; None: paho's path
    on_qos1_publish: Callable[[str, int, bytes], None] | None = None

    def _handle_publish(self) -> MQTTErrorCode:
        # paho builds a Properties object, a PublishPacket and an MQTTMessage and matches
        # per-topic callbacks for every message (~15 % of the gateway's CPU). A QoS 1 PUBLISH
        # with an empty property list (what the broker forwards from a device that sets no
        # properties) is read here instead; anything else (QoS 0/2, properties such as a topic
        # alias, a malformed packet) takes paho's path with its checks.
        fast = self.on_qos1_publish
        if fast is None or (self._in_packet["command"] & 0x06) != 0x02 or self._protocol != MQTTProtocolVersion.MQTTv5:
            return super()._handle_publish()
        packet = self._in_packet["packet"]
        try:
            end = 2 + ((packet[0] << 8) | packet[1])
            if end == 2 or packet[end + 2] != 0:  # no topic (an alias), or a property length
                return super()._handle_publish()
            topic = packet[2:end].decode("utf-8")
            mid = (packet[end] << 8) | packet[end + 1]
        except (IndexError, UnicodeDecodeError):
            return super()._handle_publish()
        fast(topic, mid, bytes(packet[end + 3:]))
        return MQTTErrorCode.MQTT_ERR_SUCCESS  # manual ack: the PUBACK goes out once Kafka has it

    def ack_many(self, mids: list[int]) -> None:
        """PUBACK (QoS 1) for each mid, as one queued write and one wake-up of paho's thread
        (thread-safe like paho's own ack(): a deque append and a socket-pair byte)."""
        if not mids:
            return
        packet = b"".join(struct.pack("!BBH", _PUBACK, 2, mid) for mid in mids)
        self._out_packet.append({"command": _PUBACK, "mid": mids[-1], "qos": 1, "pos": 0,
                                 "to_process": len(packet), "packet": packet, "info": None})
        wake = self._sockpairW
        if wake is not None:
            try:
                wake.send(b"0")
            except BlockingIOError:
                pass  # already full of wake-up bytes: paho's thread is being woken anyway


@dataclass(frozen=True)
class MqttOptions:
    target: MqttTarget
    client_id: str
    subscription: str  # e.g. vitals/+ or $share/group/vitals/+
    max_held: int  # messages taken and not completed, at most; also the Receive Maximum
    session_expiry_s: int
    keepalive_s: int = 60
    ca_file: str | None = None  # for mqtts:// with a private CA
    # Retire mode: unsubscribe instead of subscribing, take what the session still holds,
    # and end the session on disconnect (see gateway.run_gateway(retire=True)).
    retire: bool = False


class MqttSource:
    """Connects, subscribes, delivers messages to an Inbox, sends acks. Reconnects by itself."""

    def __init__(self, options: MqttOptions, inbox: Inbox, loop: asyncio.AbstractEventLoop,
                 on_state: Callable[[str], None]):
        self._opts = options
        self._inbox = inbox
        self._loop = loop
        self._on_state = on_state  # called on the event loop with "connected", "subscribed", "disconnected"
        self.generation = 0
        # taken: written only by the paho thread; completed: only by the event loop.
        self.taken = 0
        self.completed = 0
        self._room = threading.Semaphore(options.max_held)
        self._stopping = False
        self._blocked_since: float | None = None
        self._client = _Client(
            CallbackAPIVersion.VERSION2,
            client_id=options.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
        )
        target = options.target
        if target.username is not None:
            self._client.username_pw_set(target.username, target.password)
        if target.tls:
            # Certificate and host name are verified; a private CA comes from ca_file.
            self._client.tls_set_context(ssl.create_default_context(cafile=options.ca_file))
        self._client.reconnect_delay_set(min_delay=1, max_delay=10)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_unsubscribe = self._on_unsubscribe
        self._client.on_message = self._on_message
        self._client.on_qos1_publish = self._on_qos1_publish

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self._opts.session_expiry_s
        props.ReceiveMaximum = self._opts.max_held
        t = self._opts.target
        # connect_async + loop_start: paho keeps retrying until the broker answers.
        self._client.connect_async(t.host, t.port, keepalive=self._opts.keepalive_s, clean_start=False, properties=props)
        self._client.loop_start()

    @property
    def held(self) -> int:
        return self.taken - self.completed

    def complete_many(self, messages: list[Message]) -> int:
        """The messages are safe in Kafka: free their slots and acknowledge each on the
        connection that delivered it, all in one write. Returns how many were acknowledged:
        not QoS 0 ones, nor those whose connection is gone (the broker redelivers them on
        the new one)."""
        self.completed += len(messages)
        for _ in messages:
            self._room.release()
        generation = self.generation
        mids = [m.mid for m in messages if m.qos == 1 and m.generation == generation]
        self._client.ack_many(mids)
        return len(mids)

    def stop(self) -> None:
        self._stopping = True  # a blocked on_message returns; its message stays unacknowledged
        # A normal DISCONNECT keeps the session (expiry from CONNECT): unacknowledged
        # messages are redelivered to the next gateway with this client id. A retired
        # gateway ends its session instead: it has handed everything over.
        props = None
        if self._opts.retire:
            props = Properties(PacketTypes.DISCONNECT)
            props.SessionExpiryInterval = 0
        self._client.disconnect(properties=props)
        self._client.loop_stop()

    # --- paho thread -------------------------------------------------------------------

    def _notify(self, state: str) -> None:
        try:
            self._loop.call_soon_threadsafe(self._on_state, state)
        except RuntimeError:
            pass  # event loop already closed

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            log.error("MQTT connect to %s:%d refused: %s", self._opts.target.host, self._opts.target.port, reason_code)
            return
        self.generation += 1
        log.info("MQTT connected as %s (session present: %s)", self._opts.client_id, flags.session_present)
        self._notify("connected")
        if self._opts.retire:
            client.unsubscribe(self._opts.subscription)
        else:
            # Subscribing again on a present session is harmless and covers an expired one.
            client.subscribe(self._opts.subscription, qos=1)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:  # noqa: ANN001
        failed = [rc for rc in reason_codes if rc.is_failure]
        if failed:
            log.error("MQTT subscription to %s refused: %s", self._opts.subscription, failed[0])
            self._notify("subscribe_failed")
        else:
            log.info("MQTT subscribed to %s", self._opts.subscription)
            self._notify("subscribed")

    def _on_unsubscribe(self, client, userdata, mid, reason_codes, properties) -> None:  # noqa: ANN001
        log.info("MQTT unsubscribed from %s (%s): taking what the session still holds", self._opts.subscription,
                 ", ".join(str(rc) for rc in reason_codes))
        self._notify("unsubscribed")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if reason_code == 142:  # "Session taken over": another process uses our client id
            log.error("MQTT session %s taken over by another client: give each gateway its own "
                      "VITALSTREAM_GATEWAY_CLIENT_ID", self._opts.client_id)
        elif reason_code.value != 0:
            log.warning("MQTT disconnected: %s; reconnecting", reason_code)
        self._notify("disconnected")

    def _on_message(self, client, userdata, msg: paho.MQTTMessage) -> None:
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = msg._topic.decode("utf-8", "replace")  # brokers validate UTF-8; keep it visible
        self._take(topic, msg.mid, msg.qos, msg.payload)

    def _on_qos1_publish(self, topic: str, mid: int, payload: bytes) -> None:
        self._take(topic, mid, 1, payload)

    def _take(self, topic: str, mid: int, qos: int, payload: bytes) -> None:
        while not self._room.acquire(timeout=1.0):
            if self._stopping:
                return  # never taken: the broker redelivers it to the next session
            if self._blocked_since is None:
                self._blocked_since = time.monotonic()
                log.warning("%d messages held, none acknowledged by Kafka yet: not reading from "
                            "the broker until some are", self._opts.max_held)
        if self._blocked_since is not None:
            log.info("reading from the broker again after %.1f s", time.monotonic() - self._blocked_since)
            self._blocked_since = None
        self.taken += 1
        self._inbox.put(Message(self.generation, mid, qos, topic, payload))
