"""A paho-mqtt 2.x QoS 1 publisher driven by the asyncio event loop, with a bounded window.

paho runs without its own thread: its socket is registered with the event loop
(add_reader / add_writer, paho's documented external-loop hooks), so publish() only
queues, and packets go out in bursts when the socket is writable. On this 2-core machine
that sustained ~2x the acknowledged rate of paho's loop_start() thread, which wakes and
contends for the GIL on every message.

paho loses or hangs QoS 1 messages once more than 65,535 are unacknowledged
(../shared/CEILINGS.md), so `publish` waits while `max_outstanding` are unacked. paho's own
in-flight limit is switched off (0): with a limit, paho walks its whole table of
unacknowledged messages on every PUBACK (`_update_inflight`, ~0.4 ms per ack at 2,000
outstanding, the publisher's main cost in a profile); our window bounds them instead.
Measured here, same moment: 3.6K acks/s with paho's limit at 1,000, 7.1K without it
(window 1,000), 10.2K with a window of 5,000.

Reading PUBACKs: `_AckClient` reads the socket 64 KiB at a time (vitalstream.mqttclient)
and takes an MQTT 3.1.1 PUBACK (a 2-byte packet id, nothing else) straight off the wire;
paho builds a ReasonCode and a Properties object per ack, which was a third of a fleet
process's CPU in a profile at 2,500 msg/s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import uuid
from typing import Any

import paho.mqtt.client as mqtt

from vitalstream.mqttclient import BufferedClient
from vitalstream.mqtturl import parse_mqtt_url

log = logging.getLogger(__name__)


class PublishError(RuntimeError):
    """The broker refused the connection or could not be reached."""


class _AckClient(BufferedClient):
    """Calls `on_ack(mid)` for each acknowledged QoS 1 message (instead of on_publish).

    Relies on paho internals (`_handle_pubackcomp`, `_in_packet`, `_out_messages`,
    `_inflight_messages`), pinned by pyproject (paho-mqtt 2.x) and exercised by the
    simulator tests against a real broker; anything but a plain 3.1.1 PUBACK takes paho's path.
    """

    on_ack: Any = None

    def _handle_pubackcomp(self, cmd):  # type: ignore[no-untyped-def]
        packet = self._in_packet["packet"]
        if cmd != "PUBACK" or self._protocol == mqtt.MQTTv5 or len(packet) != 2 or self._max_inflight_messages:
            return super()._handle_pubackcomp(cmd)
        mid = (packet[0] << 8) | packet[1]
        with self._out_message_mutex:
            msg = self._out_messages.pop(mid, None)
            if msg is None:
                return mqtt.MQTT_ERR_SUCCESS  # a duplicate ack: counted once
            if msg.qos > 0:
                self._inflight_messages -= 1
        msg.info._set_as_published()
        self.on_ack(mid)
        return mqtt.MQTT_ERR_SUCCESS


class BoundedPublisher:
    def __init__(
        self, mqtt_url: str, *, qos: int = 1, max_inflight: int = 0, max_outstanding: int = 5_000,
        client_id: str | None = None,
    ):
        if not 0 < max_outstanding <= 60_000:
            raise ValueError("max_outstanding must be in 1..60000 (paho breaks past 65,535 unacked)")
        self.target = parse_mqtt_url(mqtt_url)
        self.qos = qos
        self.max_outstanding = max_outstanding
        self.published = 0
        self.acked = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected: asyncio.Future[object] | None = None
        self._room = asyncio.Event()
        self._closing = False
        self._misc: asyncio.Task[None] | None = None
        self._reconnect: asyncio.Task[None] | None = None
        self.client = _AckClient(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or f"vitalstream-sim-{uuid.uuid4().hex[:12]}"
        )
        self.client.on_ack = self._on_ack
        self.client.max_inflight_messages_set(max_inflight)
        self.client.max_queued_messages_set(0)
        if self.target.username:
            self.client.username_pw_set(self.target.username, self.target.password)
        if self.target.tls:
            self.client.tls_set_context(ssl.create_default_context())
        c = self.client
        c.on_connect = self._on_connect
        c.on_publish = self._on_publish  # paho's own path (MQTT 5, or a paho that changed)
        c.on_disconnect = self._on_disconnect
        c.on_socket_open = self._on_socket_open
        c.on_socket_close = self._on_socket_close
        c.on_socket_register_write = self._on_register_write
        c.on_socket_unregister_write = self._on_unregister_write

    @property
    def outstanding(self) -> int:
        return self.published - self.acked

    # paho callbacks: all run on the event loop thread (paho has no thread of its own here)
    def _on_socket_open(self, client, userdata, sock) -> None:  # type: ignore[no-untyped-def]
        assert self._loop is not None
        self._loop.add_reader(sock, client.loop_read)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)

    def _on_socket_close(self, client, userdata, sock) -> None:  # type: ignore[no-untyped-def]
        assert self._loop is not None
        self._loop.remove_reader(sock)
        self._loop.remove_writer(sock)

    def _on_register_write(self, client, userdata, sock) -> None:  # type: ignore[no-untyped-def]
        assert self._loop is not None
        self._loop.add_writer(sock, client.loop_write)

    def _on_unregister_write(self, client, userdata, sock) -> None:  # type: ignore[no-untyped-def]
        assert self._loop is not None
        self._loop.remove_writer(sock)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        if self._connected is not None and not self._connected.done():
            self._connected.set_result(reason_code)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        if not self._closing and self._reconnect is None and self._loop is not None:
            log.warning("MQTT connection lost (%s); reconnecting", reason_code)
            self._reconnect = self._loop.create_task(self._reconnect_loop())

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        self._on_ack(mid)

    def _on_ack(self, mid: int) -> None:
        self.acked += 1
        if self.published - self.acked < self.max_outstanding:
            self._room.set()

    async def _misc_loop(self) -> None:
        while True:  # keepalive pings and retries
            await asyncio.sleep(1.0)
            self.client.loop_misc()

    async def _reconnect_loop(self) -> None:
        delay = 0.5
        try:
            while not self._closing:
                await asyncio.sleep(delay)
                try:
                    self.client.reconnect()  # unacknowledged QoS 1 messages are sent again
                    return
                except OSError as exc:
                    log.warning("MQTT reconnect failed: %s", exc)
                    delay = min(delay * 2, 10.0)
        finally:
            self._reconnect = None

    async def connect(self, timeout_s: float = 10.0) -> None:
        self._loop = asyncio.get_running_loop()
        self._connected = self._loop.create_future()
        # Reachability first, off the loop: paho's own connect() blocks for its whole timeout.
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(self.target.host, self.target.port), timeout_s)
            w.close()
        except (OSError, TimeoutError) as exc:
            raise PublishError(f"cannot reach MQTT broker {self.target.host}:{self.target.port}: {exc}") from exc
        try:
            self.client.connect(self.target.host, self.target.port, 30)
        except OSError as exc:
            raise PublishError(f"cannot connect to MQTT broker: {exc}") from exc
        self._misc = self._loop.create_task(self._misc_loop())
        try:
            rc = await asyncio.wait_for(self._connected, timeout_s)
        except TimeoutError:
            await self.close()
            raise PublishError("MQTT broker did not answer CONNECT") from None
        if getattr(rc, "is_failure", False):
            await self.close()
            raise PublishError(f"MQTT broker refused the connection: {rc}")

    async def publish(self, topic: str, payload: bytes | str) -> None:
        while self.published - self.acked >= self.max_outstanding:
            self._room.clear()
            await self._room.wait()
        info = self.client.publish(topic, payload, qos=self.qos)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            raise PublishError(f"publish failed: {mqtt.error_string(info.rc)}")
        self.published += 1  # while reconnecting (NO_CONN) paho keeps the message and sends it later

    async def drain(self, timeout_s: float = 10.0) -> bool:
        """Wait until every published message is acknowledged (or the timeout passes)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout_s
        while self.outstanding > 0 and loop.time() < end:
            await asyncio.sleep(0.01)
        return self.outstanding == 0

    async def close(self) -> None:
        self._closing = True
        for task in (self._misc, self._reconnect):
            if task is not None:
                task.cancel()
        with contextlib.suppress(Exception):
            self.client.disconnect()
            for _ in range(50):  # let the DISCONNECT packet go out and the socket close
                if self.client.socket() is None:
                    break
                self.client.loop_write()
                await asyncio.sleep(0.01)
