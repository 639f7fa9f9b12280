"""Where the services are, and what every process shares."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .env import Env


def default_state_dir() -> Path:
    # User-level state (embedded database, generated broker configs), XDG style.
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "vitalstream"


@dataclass(frozen=True)
class CoreSettings:
    mqtt_url: str | None  # None: start an embedded broker (dev, tests)
    kafka_bootstrap: str | None  # None: start the embedded tansu broker
    database_url: str | None  # None: start an embedded PostgreSQL
    state_dir: Path
    log_level: str
    topic_prefix: str  # prepended to every Kafka topic; tests use a fresh one
    topic_partitions: int
    topic_retention_ms: int
    topic_replication: int  # 3 on a production cluster; 1 for a single broker
    mqtt_topic_root: str  # devices publish to {root}/{device_id}

    @classmethod
    def from_env(cls, env: Env) -> CoreSettings:
        return cls(
            mqtt_url=env.url("MQTT_URL", ("mqtt", "mqtts", "tcp")),
            kafka_bootstrap=env.hostports("KAFKA_BOOTSTRAP"),
            database_url=env.url("DATABASE_URL", ("postgresql", "postgres")),
            state_dir=Path(env.str("STATE_DIR") or default_state_dir()),
            log_level=env.choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
            topic_prefix=env.str("TOPIC_PREFIX", "", pattern=r"[A-Za-z0-9._-]*") or "",
            topic_partitions=env.int("TOPIC_PARTITIONS", 8, lo=1, hi=1024),
            # 7 days: long enough to replay after a weekend-long database outage.
            topic_retention_ms=env.int("TOPIC_RETENTION_MS", 7 * 24 * 3600 * 1000, lo=60_000),
            topic_replication=env.int("TOPIC_REPLICATION", 1, lo=1, hi=16),
            mqtt_topic_root=env.str("MQTT_TOPIC_ROOT", "vitals", pattern=r"[A-Za-z0-9_/-]+") or "vitals",
        )
