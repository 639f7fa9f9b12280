"""Alert engine and webhook dispatcher metrics, in the Prometheus text format over aiohttp.

The engine and the dispatcher update one `AlertMetrics` object on the event loop
(single-threaded: plain attributes, no locks). The outbox backlog and the disabled
subscriptions are not counters of this process but facts of the database, shared by every
dispatcher: a background task reads them with one cheap query (the partial index
`webhook_deliveries_due` covers the pending rows) every `BACKLOG_EVERY_S`, so a scrape
never waits on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from dataclasses import dataclass, field

import psycopg
from aiohttp import web

from vitalstream.prom import Exposition, Summary, labels, serve

from .dbconn import Reconnecting

log = logging.getLogger(__name__)
BACKLOG_EVERY_S = 15.0
ENGINE_ERRORS = ("database", "undecodable", "dead_lettered", "timer_failed", "kafka_commit")
OUTCOMES = ("2xx", "non_2xx", "timeout", "connection_error", "refused")  # AttemptResult.outcome

_BACKLOG_SQL = """
SELECT d.pending, d.delivering, d.overdue, d.oldest_s, s.disabled, s.failing FROM
 (SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
         count(*) FILTER (WHERE status = 'delivering') AS delivering,
         count(*) FILTER (WHERE next_attempt_at < now() - interval '1 minute') AS overdue,
         COALESCE(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest_s
    FROM webhook_deliveries WHERE status IN ('pending', 'delivering')) d,
 (SELECT count(*) FILTER (WHERE NOT enabled) AS disabled,
         count(*) FILTER (WHERE enabled AND failing_since IS NOT NULL) AS failing
    FROM webhook_subscriptions) s
"""


@dataclass
class Backlog:
    """The outbox as the last backlog query saw it (every dispatcher sees the same)."""

    pending: int = 0
    delivering: int = 0
    overdue: int = 0  # due more than a minute ago and not sent: receivers or dispatchers failing
    oldest_pending_s: float = 0.0
    subscriptions_disabled: int = 0
    subscriptions_failing: int = 0


@dataclass
class AlertMetrics:
    # --- engine ---
    candidates: Counter[str] = field(default_factory=Counter)  # applied, by kind
    actions: Counter[str] = field(default_factory=Counter)  # open/update/escalate/resolve/suppress
    engine_errors: Counter[str] = field(default_factory=Counter)  # ENGINE_ERRORS
    engine_last_commit: float | None = None  # time.monotonic() of the last batch/tick commit
    engine_lag: dict[int, int] = field(default_factory=dict)  # partition -> records behind the end
    # --- dispatcher ---
    attempts: Counter[str] = field(default_factory=Counter)  # by outcome (OUTCOMES)
    delivered: int = 0
    gave_up: int = 0  # deliveries marked failed after webhook_max_attempts
    interrupted: int = 0  # attempts cut short by a dispatcher that died holding the lease
    disabled: int = 0  # subscriptions this process disabled
    dispatcher_errors: Counter[str] = field(default_factory=Counter)  # database errors: claim / record
    in_flight: int = 0
    latency: Summary = field(default_factory=Summary)  # seconds per attempt
    backlog: Backlog = field(default_factory=Backlog)
    database_up: bool = False  # the last backlog query succeeded
    backlog_checked: float | None = None  # time.monotonic() of that query

    def render(self) -> str:
        out = Exposition("vitalstream_")
        now = time.monotonic()
        e, d, b = "alert_engine_", "dispatcher_", self.backlog

        def by(name: str, help_: str, label: str, counts: Counter[str], always: tuple[str, ...] = ()) -> None:
            out.by_label(name, "counter", help_, label, {k: counts[k] for k in set(counts) | set(always)})

        by(f"{e}candidates_total", "Alert candidates applied, by kind.", "kind", self.candidates)
        by(f"{e}actions_total", "Policy actions, by action.", "action", self.actions,
           ("open", "update", "escalate", "resolve", "suppress"))
        by(f"{e}errors_total", "Engine errors (database: batch retried; undecodable, dead_lettered: candidate "
           "set aside in alert_dead_letters; timer_failed: a device's timers put off).", "error",
           self.engine_errors, ENGINE_ERRORS)
        out.metric(f"{e}last_commit_age_seconds", "gauge",
                   "Seconds since the engine last committed a batch or a timer tick (ticks run every few seconds).",
                   [] if self.engine_last_commit is None else [("", now - self.engine_last_commit)])
        out.metric(f"{e}consumer_lag", "gauge", "Candidates behind the end of each assigned partition.",
                   [(labels(partition=p), n) for p, n in sorted(self.engine_lag.items())])

        by(f"{d}attempts_total", "Webhook POST attempts, by outcome.", "outcome", self.attempts, OUTCOMES)
        out.value(f"{d}delivered_total", "counter", "Deliveries completed with a 2xx.", self.delivered)
        out.value(f"{d}failed_total", "counter", "Deliveries given up after WEBHOOK_MAX_ATTEMPTS (re-deliverable).",
                  self.gave_up)
        out.value(f"{d}interrupted_total", "counter",
                  "Attempts found cut short (a dispatcher died holding the lease).", self.interrupted)
        out.value(f"{d}subscriptions_disabled_total", "counter",
                  "Subscriptions this process disabled (410, failing).", self.disabled)
        by(f"{d}errors_total", "Database errors while claiming or recording (retried).", "stage",
           self.dispatcher_errors, ("claim", "record"))
        out.value(f"{d}in_flight", "gauge", "Webhook requests in flight.", self.in_flight)
        out.summary(f"{d}attempt_latency_seconds",
                    f"Webhook attempt latency (quantiles of the last {self.latency.recent.maxlen}).", self.latency)

        out.value(f"{d}database_up", "gauge", "1 when the last backlog query succeeded.", int(self.database_up))
        out.metric(f"{d}backlog_age_seconds", "gauge", "Seconds since the backlog figures below were read.",
                   [] if self.backlog_checked is None else [("", now - self.backlog_checked)])
        out.by_label(f"{d}outbox_deliveries", "gauge", "Deliveries not yet done, by status (database-wide).",
                     "status", {"pending": b.pending, "delivering": b.delivering})
        out.value(f"{d}outbox_overdue", "gauge", "Deliveries due more than a minute ago, not sent (database-wide).",
                  b.overdue)
        out.value(f"{d}outbox_oldest_pending_seconds", "gauge", "Age of the oldest pending delivery (database-wide).",
                  b.oldest_pending_s)
        out.value(f"{d}subscriptions_disabled", "gauge",
                  "Disabled subscriptions, their events held (database-wide).", b.subscriptions_disabled)
        out.value(f"{d}subscriptions_failing", "gauge",
                  "Enabled subscriptions in a failing streak (database-wide).", b.subscriptions_failing)
        return out.text()


async def refresh_backlog(conn: psycopg.AsyncConnection, metrics: AlertMetrics) -> None:
    row = await (await conn.execute(_BACKLOG_SQL)).fetchone()
    assert row is not None
    metrics.backlog = Backlog(int(row[0]), int(row[1]), int(row[2]), float(row[3]), int(row[4]), int(row[5]))
    metrics.database_up = True
    metrics.backlog_checked = time.monotonic()


async def backlog_loop(dsn: str, metrics: AlertMetrics, every_s: float = BACKLOG_EVERY_S) -> None:
    """Refresh the backlog figures forever; a database away shows as database_up 0."""
    db = Reconnecting(dsn)
    try:
        while True:
            try:
                await refresh_backlog(await db.get(), metrics)
            except psycopg.OperationalError as exc:
                metrics.database_up = False
                log.warning("outbox backlog query failed: %s", exc)
            await asyncio.sleep(every_s)
    finally:
        await db.close()


@dataclass
class MetricsServer:
    """GET /metrics and the backlog task; `await cleanup()` stops both."""

    runner: web.AppRunner
    backlog: asyncio.Task | None

    async def cleanup(self) -> None:
        if self.backlog is not None:
            self.backlog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.backlog
        await self.runner.cleanup()


async def serve_metrics(metrics: AlertMetrics, host: str, port: int, *, dsn: str | None = None,
                        backlog_every_s: float = BACKLOG_EVERY_S) -> MetricsServer:
    """Start GET /metrics on host:port, and the backlog query when `dsn` is given."""
    runner = await serve(metrics.render, host, port, "alerts")
    backlog = asyncio.create_task(backlog_loop(dsn, metrics, backlog_every_s)) if dsn else None
    return MetricsServer(runner, backlog)
