"""Gateway counters, rendered in the Prometheus text format and served over HTTP (aiohttp).

The counters are plain attributes updated on the event loop (single-threaded, no locks);
the paho thread never touches them directly.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web

from vitalstream.prom import Exposition, Summary, serve

PREFIX = "vitalstream_gateway_"


@dataclass
class GatewayMetrics:
    messages_received: int = 0  # MQTT messages taken from the broker
    messages_acked: int = 0  # MQTT messages acknowledged after Kafka acknowledged them
    samples_accepted: int = 0
    samples_rejected: Counter[str] = field(default_factory=Counter)  # by reason code
    records_produced: Counter[str] = field(default_factory=Counter)  # by topic kind: vitals, dlq
    in_flight: int = 0  # messages received and not yet acknowledged
    kafka_errors: int = 0  # failed produce attempts (each is retried)
    mqtt_reconnects: int = 0
    mqtt_connected: bool = False
    mqtt_subscribed: bool = False  # the broker confirmed the subscription on this connection
    messages_per_pack: Summary = field(default_factory=Summary)  # MQTT messages in each packed vitals record

    def render(self) -> str:
        out = Exposition(PREFIX)
        out.value("messages_received_total", "counter", "MQTT messages received.", self.messages_received)
        out.value("messages_acked_total", "counter", "MQTT messages acknowledged after Kafka.", self.messages_acked)
        out.value("samples_accepted_total", "counter", "Samples accepted and produced to vitals.", self.samples_accepted)
        out.by_label("samples_rejected_total", "counter", "Samples or payloads rejected, by reason.", "reason",
                     self.samples_rejected)
        out.by_label("records_produced_total", "counter", "Kafka records acknowledged, by topic.", "topic",
                     self.records_produced)
        out.value("in_flight", "gauge", "MQTT messages received, not yet acknowledged.", self.in_flight)
        out.value("kafka_errors_total", "counter", "Failed Kafka produce attempts (retried).", self.kafka_errors)
        out.value("mqtt_reconnects_total", "counter", "MQTT reconnections after the first connect.", self.mqtt_reconnects)
        out.value("mqtt_connected", "gauge", "1 while connected to the MQTT broker.", int(self.mqtt_connected))
        out.value("mqtt_subscribed", "gauge", "1 once the broker confirmed the subscription.", int(self.mqtt_subscribed))
        out.summary("messages_per_pack", "MQTT messages packed into each vitals record.", self.messages_per_pack)
        return out.text()


async def serve_metrics(metrics: GatewayMetrics, host: str, port: int) -> web.AppRunner:
    """Start GET /metrics on host:port; the caller awaits runner.cleanup() to stop it."""
    return await serve(metrics.render, host, port, "gateway")
