"""Builds the faust App for one worker process and wires its agents.

    vitals ──► store_vitals ──► PostgreSQL `vitals`
          └──► score (device state table) ──► scores ──► store_scores ──► `scores`
                                           └──► alert.candidates ──► alert engine
"""

from __future__ import annotations

import logging
from typing import Any

import faust

from vitalstream.config import Settings
from vitalstream.topics import topic_name

from .decoded import SharedDecoder
from .metrics import WorkerMetrics
from .scoring import Scorer, ScoringAgent
from .sink import store_scores_agent, store_vitals_agent

log = logging.getLogger(__name__)


class WorkerApp(faust.App):
    """faust.App that runs `before_stop` hooks before faust waits for in-flight events.

    faust's shutdown waits until every consumed event is acknowledged; the scoring agent
    acknowledges at checkpoints, so it must checkpoint first or the wait runs into its timeout.
    """

    before_stop: list[Any]

    async def on_stop(self) -> None:
        for hook in getattr(self, "before_stop", ()):
            await hook()
        await super().on_stop()


def _shorten_fetch_wait(max_wait_ms: int) -> None:
    """faust hard-codes the consumer's fetch_max_wait_ms at 1,500: on a quiet partition a
    fetch can hold a batch back that long, which is most of the append → score latency at
    moderate rates. Set it on the consumer before it starts (its fetcher reads it then)."""
    from faust.transport.drivers import aiokafka as driver

    original = driver.AIOKafkaConsumerThread._create_worker_consumer
    if getattr(original, "_vitalstream_wait", None) == max_wait_ms:
        return

    def create(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        consumer._fetch_max_wait_ms = max_wait_ms  # no public setter; read at consumer.start()
        return consumer

    create._vitalstream_wait = max_wait_ms  # type: ignore[attr-defined]
    create._vitalstream_original = original  # type: ignore[attr-defined]
    driver.AIOKafkaConsumerThread._create_worker_consumer = create


def _broker_urls(bootstrap: str) -> list[str]:
    return [f"kafka://{hp.strip()}" for hp in bootstrap.split(",")]


def create_app(settings: Settings, metrics: WorkerMetrics | None = None,
               scorer: Scorer | None = None) -> tuple[faust.App, WorkerMetrics]:
    """The worker's App; `scorer` (detectors loaded) is required unless detectors are off."""
    assert settings.core.kafka_bootstrap and settings.core.database_url, "services must be resolved"
    metrics = metrics or WorkerMetrics()
    cfg = settings.stream
    _shorten_fetch_wait(cfg.fetch_max_wait_ms)
    app = WorkerApp(
        cfg.app_id if not settings.core.topic_prefix else f"{settings.core.topic_prefix}{cfg.app_id}",
        broker=_broker_urls(settings.core.kafka_bootstrap),
        store=cfg.store,
        autodiscover=False,
        datadir=str(settings.core.state_dir / "faust"),
        topic_partitions=settings.core.topic_partitions,
        topic_replication_factor=settings.core.topic_replication,
        consumer_auto_offset_reset="earliest",
        broker_commit_every=10_000,
        broker_commit_interval=cfg.commit_interval_s,
        producer_acks=-1,
        # Bigger fetches and agent buffers: records are small and many (one per MQTT message).
        broker_max_poll_records=cfg.score_batch_records,
        stream_buffer_maxsize=4 * cfg.score_batch_records,
        # Short group timeouts: a killed worker's partitions move within seconds, and a new
        # worker joins quickly (faust's 60 s defaults make every start and failover slow).
        # Heartbeats come from faust's consumer thread, so a busy event loop cannot miss them.
        broker_session_timeout=cfg.session_timeout_s,
        broker_heartbeat_interval=max(1.0, cfg.session_timeout_s / 5),
        broker_rebalance_timeout=cfg.session_timeout_s,
        web_enabled=cfg.metrics_port > 0,
        web_port=cfg.metrics_port or 6066,
        web_bind="0.0.0.0",
        web_in_thread=False,
    )

    def topic(base: str) -> Any:
        # Created beforehand by vitalstream.topics.ensure_topics, with their partitions and retention.
        return app.topic(topic_name(settings, base), key_serializer="raw", value_serializer="raw",
                         partitions=settings.core.topic_partitions, internal=False)

    vitals = topic("vitals")
    decoder = SharedDecoder(readers=2 if cfg.detectors else 1)
    app.agent(vitals, name="store_vitals")(store_vitals_agent(settings, metrics, decoder))
    if cfg.detectors:
        assert scorer is not None, "detectors on: load them first (stream.scoring.load_scorer)"
        scores = topic("scores")
        candidates = topic("alert.candidates")
        # bytes key/value types make faust use the raw codec for the changelog, in and out.
        state = app.Table("device_state", default=None, partitions=settings.core.topic_partitions,
                          key_type=bytes, value_type=bytes, use_partitioner=True)
        scoring = ScoringAgent(app, settings, metrics, scorer, state, scores, candidates, decoder)
        app.agent(vitals, name="score")(scoring)

        @app.timer(cfg.checkpoint_s)
        async def checkpoint() -> None:  # also while idle, so acknowledgements never stall
            if scoring.stream is not None and not scoring.checkpointing:
                await scoring.checkpoint()

        app.on_partitions_revoked.connect(scoring.on_revoked)

        @app.timer(max(1.0, min(15.0, cfg.silent_after_s / 4)) if cfg.silent_after_s > 0 else 3600.0)
        async def silence() -> None:
            await scoring.check_silence()
        app.before_stop = [scoring.stopping]
        app.agent(scores, name="store_scores")(store_scores_agent(settings, metrics))

    if cfg.detectors:
        @app.timer(cfg.overrides_refresh_s)
        async def refresh_overrides() -> None:
            import psycopg

            from .overrides import load_overrides

            try:
                async with await psycopg.AsyncConnection.connect(settings.core.database_url, autocommit=True) as conn:
                    scorer.overrides = await load_overrides(conn)
            except psycopg.Error as exc:  # keep the last known thresholds; the database may be restarting
                log.warning("could not refresh per-patient thresholds: %s", exc)

    @app.timer(cfg.retention_interval_s)
    async def retention() -> None:
        """Plain PostgreSQL has no retention policies: delete old raw rows here (a no-op on
        TimescaleDB). Idempotent, so several workers doing it is harmless."""
        import psycopg

        from storage.queries import enforce_retention

        try:
            async with await psycopg.AsyncConnection.connect(settings.core.database_url, autocommit=True) as conn:
                result = await enforce_retention(conn, settings.storage)
            if not result.skipped and (result.vitals_deleted or result.scores_deleted):
                log.info("retention: deleted %d vitals and %d scores rows", result.vitals_deleted, result.scores_deleted)
        except psycopg.Error as exc:
            log.warning("retention run failed (will retry): %s", exc)

    if cfg.metrics_port:
        @app.page("/metrics")
        async def metrics_page(web: Any, request: Any) -> Any:
            _update_lag(app, metrics)
            return web.text(metrics.render(), content_type="text/plain")

    @app.timer(5.0)
    async def refresh_lag() -> None:
        _update_lag(app, metrics)

    return app, metrics


def _update_lag(app: faust.App, metrics: WorkerMetrics) -> None:
    try:
        consumer = app.consumer
        lag = {}
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            committed = consumer._committed_offset.get(tp)  # faust keeps no public accessor
            if high is not None:
                lag[f"{tp.topic}:{tp.partition}"] = max(0, high - (committed or 0))
        metrics.lag = lag
    except Exception:  # noqa: BLE001 - metrics must never break the worker
        log.debug("lag refresh failed", exc_info=True)
