"""Worker (faust) settings."""

from __future__ import annotations

from dataclasses import dataclass

from .env import Env


# What a worker process runs. "all": every agent, in the consumer group WORKER_APP_ID.
# Split deployments run "storage" workers (vitals and scores into the database, consumer
# group WORKER_APP_ID-storage) beside "detectors" workers (scoring, device state,
# candidates; group WORKER_APP_ID): storage then never waits for a detector batch, and
# the two use separate cores (one worker process is one core: the GIL).
ROLES = ("all", "storage", "detectors")


@dataclass(frozen=True)
class StreamSettings:
    app_id: str  # faust application id = consumer group
    metrics_port: int  # faust web server with /metrics; 0 disables it
    store: str  # faust table store, e.g. memory:// or rocksdb://
    detectors: bool  # False: storage only
    role: str  # "all": store and score; "storage" / "detectors": one of the two (see ROLES)
    score_batch_records: int  # records per scoring batch (one table write per device per batch)
    score_batch_ms: int  # ... or whatever arrived within this time
    max_lstm_batch: int  # windows per LSTM forward pass (32-256 is the CPU sweet spot)
    lstm_spread_s: float  # due LSTM scorings spread over up to this long (all devices fall due each minute)
    fetch_max_wait_ms: int  # longest a Kafka fetch waits for data (faust's own default is 1,500)
    commit_interval_s: float  # how often consumed offsets are committed
    session_timeout_s: float  # a silent worker is declared dead after this; its partitions move
    checkpoint_s: float  # detector state written to the changelog (and offsets committed) this often
    retention_interval_s: float  # how often the worker deletes expired rows on plain PostgreSQL
    silent_after_s: float  # a device silent this long gets a signal.lost alert; 0 disables
    overrides_refresh_s: float  # how often per-patient thresholds are reloaded from the database

    @property
    def stores(self) -> bool:
        return self.role in ("all", "storage")

    @property
    def scores(self) -> bool:
        return self.detectors and self.role in ("all", "detectors")

    @property
    def group_id(self) -> str:
        return f"{self.app_id}-storage" if self.role == "storage" else self.app_id

    @classmethod
    def from_env(cls, env: Env) -> StreamSettings:
        return cls(
            app_id=env.str("WORKER_APP_ID", "vitalstream-worker", pattern=r"[A-Za-z0-9._-]+") or "vitalstream-worker",
            metrics_port=env.int("WORKER_METRICS_PORT", 0, lo=0, hi=65535),
            store=env.str("WORKER_STORE", "memory://", pattern=r"(memory|rocksdb|aerospike)://.*") or "memory://",
            detectors=env.bool("WORKER_DETECTORS", True),
            role=env.choice("WORKER_ROLE", "all", ROLES),
            score_batch_records=env.int("WORKER_SCORE_BATCH_RECORDS", 5000, lo=1, hi=100_000),
            score_batch_ms=env.int("WORKER_SCORE_BATCH_MS", 500, lo=10, hi=10_000),
            max_lstm_batch=env.int("WORKER_MAX_LSTM_BATCH", 256, lo=1, hi=4096),
            lstm_spread_s=env.float("WORKER_LSTM_SPREAD_S", 15.0, lo=0, hi=50),
            fetch_max_wait_ms=env.int("WORKER_FETCH_MAX_WAIT_MS", 100, lo=1, hi=10_000),
            commit_interval_s=env.float("WORKER_COMMIT_INTERVAL_S", 1.0, lo=0.05, hi=60),
            session_timeout_s=env.float("WORKER_SESSION_TIMEOUT_S", 10.0, lo=3, hi=300),
            # Every active device is dirty at every checkpoint (0.26 ms to serialise one state): at
            # 5,000 devices, 5 s cost a quarter of a core; 20 s an eighth, for at most 20 s of replay after a crash.
            checkpoint_s=env.float("WORKER_CHECKPOINT_S", 20.0, lo=0.1, hi=60),
            retention_interval_s=env.float("WORKER_RETENTION_INTERVAL_S", 3600.0, lo=10, hi=86400),
            silent_after_s=env.float("WORKER_SILENT_AFTER_S", 300.0, lo=0, hi=86400),
            overrides_refresh_s=env.float("WORKER_OVERRIDES_REFRESH_S", 10.0, lo=1, hi=3600),
        )
