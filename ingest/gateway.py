"""`run_gateway`: MQTT (QoS 1, persistent session) → validation → Kafka, acks after Kafka.

Lifecycle: metrics endpoint → Kafka topics and producer → MQTT subscription (`ready` is
set once the broker confirmed it) → forward until `stop` → drain what is in flight (a
bounded wait) → disconnect MQTT keeping the session → stop the producer. Anything taken
and not acknowledged by then is redelivered by the broker to the next gateway run.
"""

from __future__ import annotations

import asyncio
import logging

from vitalstream.config import Settings
from vitalstream.config.ingest import default_client_id
from vitalstream.mqtturl import parse_mqtt_url
from vitalstream.topics import ensure_topics, topic_name

from .forwarder import Forwarder
from .metrics import GatewayMetrics, serve_metrics
from .mqtt_source import Inbox, MqttOptions, MqttSource
from .producer import start_producer
from .validate import Limits

log = logging.getLogger(__name__)
DRAIN_TIMEOUT_S = 10.0
YIELD_EVERY = 32  # messages handled between two turns of the event loop
RETIRE_QUIET_S = 3.0  # retire mode: the session is empty once nothing arrived for this long


def subscription_filter(settings: Settings) -> str:
    topic = f"{settings.core.mqtt_topic_root}/+"
    group = settings.ingest.share_group
    return f"$share/{group}/{topic}" if group else topic


async def run_gateway(settings: Settings, *, stop: asyncio.Event | None = None,
                      ready: asyncio.Event | None = None, metrics: GatewayMetrics | None = None,
                      retire: bool = False) -> None:
    """Run one gateway until `stop` is set (or the task is cancelled).

    retire=True takes a gateway out of a shared-subscription group for good: it connects
    with the gateway's client id, unsubscribes (so the broker routes nothing new to this
    session), forwards what the session still holds until nothing has arrived for
    RETIRE_QUIET_S, then ends the session. Mosquitto keeps routing a share of the traffic
    to a stopped member's session, so a gateway removed without this strands messages
    there until its session expires. Only retire while other members keep running:
    with no subscriber left, the broker discards what devices publish.
    """
    if not settings.core.mqtt_url or not settings.core.kafka_bootstrap:
        raise ValueError("the gateway needs settings.core.mqtt_url and settings.core.kafka_bootstrap")
    if retire and not settings.ingest.share_group:
        raise ValueError("retire applies to a member of a share group: without one, unsubscribing "
                         "would leave device messages with no subscriber")
    stop = stop or asyncio.Event()
    metrics = metrics or GatewayMetrics()
    loop = asyncio.get_running_loop()
    runner = None
    if settings.ingest.metrics_port:
        runner = await serve_metrics(metrics, settings.ingest.metrics_host, settings.ingest.metrics_port)
    producer = None
    source = None
    forwarder = None
    retire_task = None
    stop_waiter = loop.create_task(stop.wait())
    try:
        client_id = settings.ingest.client_id or default_client_id()
        await _until_stop(_ensure_topics(settings), stop_waiter)
        producer = await _until_stop(
            start_producer(settings.core.kafka_bootstrap, linger_ms=settings.ingest.kafka_linger_ms,
                           request_timeout_ms=settings.ingest.kafka_request_timeout_ms, client_id=client_id),
            stop_waiter,
        )
        if producer is None:
            return
        # Coalescing adds at most a tenth of the packing delay (none when not packing).
        inbox = Inbox(loop, coalesce_s=min(0.005, settings.ingest.pack_ms / 10_000))
        subscribed = asyncio.Event()

        def on_state(state: str) -> None:
            if state == "connected":
                if metrics.mqtt_connected is False and subscribed.is_set():
                    metrics.mqtt_reconnects += 1
                metrics.mqtt_connected = True
            elif state == "disconnected":
                metrics.mqtt_connected = metrics.mqtt_subscribed = False
            elif state in ("subscribed", "unsubscribed"):
                metrics.mqtt_subscribed = state == "subscribed"
                subscribed.set()
                if ready is not None:
                    ready.set()

        options = MqttOptions(
            target=parse_mqtt_url(settings.core.mqtt_url),
            client_id=client_id,
            subscription=subscription_filter(settings),
            max_held=settings.ingest.max_in_flight,
            session_expiry_s=settings.ingest.session_expiry_s,
            ca_file=settings.ingest.mqtt_ca_file,
            retire=retire,
        )
        source = MqttSource(options, inbox, loop, on_state)
        forwarder = Forwarder(
            producer, source, metrics, Limits.from_settings(settings),
            vitals_topic=topic_name(settings, "vitals"), dlq_topic=topic_name(settings, "vitals.dlq"),
            pack_ms=settings.ingest.pack_ms,
        )
        await _until_stop(forwarder.start(), stop_waiter)
        source.start()
        stop_waiter.add_done_callback(lambda _: inbox.wake())
        if retire:
            retire_task = loop.create_task(_stop_when_quiet(metrics, subscribed, forwarder, stop))
        while not stop.is_set():
            for n, message in enumerate(await inbox.take(), 1):
                if stop.is_set():
                    break  # the rest stays unacknowledged: redelivered to the next run
                await forwarder.handle(message)
                if n % YIELD_EVERY == 0:
                    # producer.send() rarely suspends: without this, a burst of thousands
                    # would starve the producer's sender task and the delivery callbacks.
                    await asyncio.sleep(0)
    finally:
        stop_waiter.cancel()
        if retire_task is not None:
            retire_task.cancel()
        if forwarder is not None and not await forwarder.drain(DRAIN_TIMEOUT_S):
            log.warning("stopping with %d messages unacknowledged; the broker will redeliver them",
                        forwarder.in_flight)
        if source is not None:
            await asyncio.to_thread(source.stop)
        if forwarder is not None:
            await forwarder.close()
        if producer is not None:
            await producer.stop()
        if runner is not None:
            await runner.cleanup()
        log.info("gateway stopped: %d received, %d acknowledged", metrics.messages_received, metrics.messages_acked)


async def _stop_when_quiet(metrics: GatewayMetrics, unsubscribed: asyncio.Event, forwarder: Forwarder,
                           stop: asyncio.Event) -> None:
    await unsubscribed.wait()
    seen, quiet_since = -1, asyncio.get_running_loop().time()
    while not stop.is_set():
        now = asyncio.get_running_loop().time()
        if metrics.messages_received != seen:
            seen, quiet_since = metrics.messages_received, now
        elif now - quiet_since >= RETIRE_QUIET_S and forwarder.in_flight == 0:
            log.info("retired: %d messages handed over from the session", metrics.messages_received)
            stop.set()
            return
        await asyncio.sleep(0.1)


async def _ensure_topics(settings: Settings) -> None:
    while True:
        try:
            await ensure_topics(settings)
            return
        except Exception as exc:  # noqa: BLE001 - Kafka not up yet: keep waiting, like the producer
            log.warning("creating Kafka topics failed (%r); retrying", exc)
            await asyncio.sleep(2)


async def _until_stop(coro, stop_waiter: asyncio.Task[object]):  # noqa: ANN001, ANN202
    """Await `coro` unless stop comes first (then cancel it and return None)."""
    task = asyncio.ensure_future(coro)
    done, _ = await asyncio.wait({task, stop_waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        return task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return None
