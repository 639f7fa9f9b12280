"""Gateway settings (MQTT → Kafka)."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from .env import Env


def default_client_id() -> str:
    # Stable across restarts on purpose: the broker keeps the persistent session (and the
    # messages this gateway had not acknowledged yet) under this id, and redelivers them
    # only to a client that reconnects with the same id. A pid in it would strand them.
    host = "".join(c if c.isalnum() or c in "_-" else "-" for c in socket.gethostname())[:40]
    return f"vs-gateway-{host or 'local'}"


@dataclass(frozen=True)
class IngestSettings:
    share_group: str | None  # MQTT shared-subscription group; None subscribes plainly
    client_id: str | None  # persistent-session id; None: default_client_id() (one gateway per host)
    max_in_flight: int  # messages taken from MQTT but not yet acknowledged by Kafka
    metrics_port: int  # 0 disables the Prometheus endpoint
    metrics_host: str
    max_past_s: int  # samples older than this are rejected (device clock far off)
    max_future_s: int
    session_expiry_s: int  # how long the broker keeps an absent gateway's session and queue
    kafka_linger_ms: int  # producer batching delay; a few ms buys large batches at high rates
    kafka_request_timeout_ms: int  # a produce not acknowledged by then fails and is retried
    pack_ms: int  # messages gathered this long per partition into one vitals record; 0: one record each
    mqtt_ca_file: str | None  # CA bundle for an mqtts:// broker with a private CA; None: system CAs

    @classmethod
    def from_env(cls, env: Env) -> IngestSettings:
        return cls(
            share_group=env.str("GATEWAY_SHARE_GROUP", None, pattern=r"[A-Za-z0-9_-]+"),
            client_id=env.str("GATEWAY_CLIENT_ID", None, pattern=r"[A-Za-z0-9_-]{1,64}"),
            max_in_flight=env.int("GATEWAY_MAX_IN_FLIGHT", 2000, lo=1, hi=65535),
            metrics_port=env.int("GATEWAY_METRICS_PORT", 0, lo=0, hi=65535),
            metrics_host=env.str("GATEWAY_METRICS_HOST", "127.0.0.1") or "127.0.0.1",
            max_past_s=env.int("GATEWAY_MAX_PAST_S", 7 * 24 * 3600, lo=60),
            max_future_s=env.int("GATEWAY_MAX_FUTURE_S", 300, lo=0, hi=3600),
            # 7 days, like the Kafka retention: a gateway fleet down over a weekend loses nothing.
            session_expiry_s=env.int("GATEWAY_SESSION_EXPIRY_S", 7 * 24 * 3600, lo=60, hi=0xFFFFFFFF),
            kafka_linger_ms=env.int("GATEWAY_KAFKA_LINGER_MS", 5, lo=0, hi=1000),
            kafka_request_timeout_ms=env.int("GATEWAY_KAFKA_REQUEST_TIMEOUT_MS", 15_000, lo=1000, hi=300_000),
            # A worker pays per Kafka record: 50 ms of packing turns thousands of one-sample
            # messages a second into tens of records per partition, for 50 ms of latency.
            pack_ms=env.int("GATEWAY_PACK_MS", 50, lo=0, hi=1000),
            mqtt_ca_file=env.str("GATEWAY_MQTT_CA_FILE"),
        )
