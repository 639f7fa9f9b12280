"""Alert engine and webhook dispatcher settings (VITALSTREAM_ALERT_*, VITALSTREAM_WEBHOOK_*).

Durations are seconds here and milliseconds inside the policy (alerts.model.PolicyConfig);
an escalation interval of 0 means "never escalate at that severity".
"""

from __future__ import annotations

from dataclasses import dataclass

from .env import Env


@dataclass(frozen=True)
class AlertSettings:
    # --- policy (alerts.policy) ---
    resolve_after_s: float  # condition clear this long -> auto-resolve
    min_open_s: float  # an alert stays open at least this long
    reopen_cooldown_s: float  # after a resolve, the same (device, kind) waits this long to re-open
    escalate_high_s: float  # unacknowledged high alert re-sent as alert.escalated every ...; 0: never
    escalate_medium_s: float
    escalate_low_s: float
    max_escalations: int
    escalation_raises_severity: bool
    stale_after_s: float  # no candidate at all for this long counts as cleared; 0: off
    # --- engine (alerts.engine) ---
    engine_group: str  # Kafka consumer group of the alert engine
    engine_tick_s: float  # how often timers (auto-resolve, escalation) are checked
    # --- dispatcher (alerts.dispatcher) ---
    webhook_timeout_s: float
    allow_private_urls: bool  # refuse loopback/private webhook targets in production
    webhook_concurrency: int  # requests in flight per dispatcher process
    webhook_batch: int  # deliveries claimed per database round trip
    webhook_lease_s: float  # a claimed delivery is another dispatcher's to retry after this
    webhook_backoff_base_s: float  # first retry delay; doubles per attempt, with jitter
    webhook_backoff_max_s: float
    webhook_max_attempts: int  # a delivery fails (kept, re-deliverable) after this many
    webhook_disable_after_s: float  # a subscription failing this long is disabled
    webhook_poll_s: float  # idle poll interval (LISTEN/NOTIFY wakes it sooner)
    # --- metrics (alerts.metrics) ---
    metrics_port: int  # Prometheus /metrics of the dispatcher/engine process; 0 disables it
    metrics_host: str

    @classmethod
    def from_env(cls, env: Env) -> AlertSettings:
        return cls(
            resolve_after_s=env.float("ALERT_RESOLVE_AFTER_S", 120.0, lo=0, hi=86400),
            min_open_s=env.float("ALERT_MIN_OPEN_S", 60.0, lo=0, hi=86400),
            reopen_cooldown_s=env.float("ALERT_REOPEN_COOLDOWN_S", 300.0, lo=0, hi=86400),
            escalate_high_s=env.float("ALERT_ESCALATE_HIGH_S", 300.0, lo=0, hi=86400),
            escalate_medium_s=env.float("ALERT_ESCALATE_MEDIUM_S", 900.0, lo=0, hi=86400),
            escalate_low_s=env.float("ALERT_ESCALATE_LOW_S", 0.0, lo=0, hi=86400),
            max_escalations=env.int("ALERT_MAX_ESCALATIONS", 3, lo=0, hi=100),
            escalation_raises_severity=env.bool("ALERT_ESCALATION_RAISES_SEVERITY", False),
            stale_after_s=env.float("ALERT_STALE_AFTER_S", 0.0, lo=0, hi=7 * 86400),
            engine_group=env.str("ALERT_ENGINE_GROUP", "vitalstream-alert-engine", pattern=r"[A-Za-z0-9._-]+")
            or "vitalstream-alert-engine",
            engine_tick_s=env.float("ALERT_ENGINE_TICK_S", 5.0, lo=0.05, hi=600),
            webhook_timeout_s=env.float("WEBHOOK_TIMEOUT_S", 10.0, lo=0.1, hi=300),
            allow_private_urls=env.bool("WEBHOOK_ALLOW_PRIVATE", True),
            webhook_concurrency=env.int("WEBHOOK_CONCURRENCY", 32, lo=1, hi=1000),
            webhook_batch=env.int("WEBHOOK_BATCH", 100, lo=1, hi=10000),
            webhook_lease_s=env.float("WEBHOOK_LEASE_S", 60.0, lo=1, hi=3600),
            webhook_backoff_base_s=env.float("WEBHOOK_BACKOFF_BASE_S", 1.0, lo=0.001, hi=3600),
            webhook_backoff_max_s=env.float("WEBHOOK_BACKOFF_MAX_S", 600.0, lo=0.001, hi=86400),
            webhook_max_attempts=env.int("WEBHOOK_MAX_ATTEMPTS", 20, lo=1, hi=1000),
            webhook_disable_after_s=env.float("WEBHOOK_DISABLE_AFTER_S", 24 * 3600.0, lo=1, hi=30 * 86400),
            webhook_poll_s=env.float("WEBHOOK_POLL_S", 1.0, lo=0.01, hi=60),
            metrics_port=env.int("DISPATCHER_METRICS_PORT", 0, lo=0, hi=65535),
            metrics_host=env.str("DISPATCHER_METRICS_HOST", "127.0.0.1") or "127.0.0.1",
        )
