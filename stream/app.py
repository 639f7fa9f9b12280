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
    """faust.App that runs `before_stop` hooks (the scoring agent's last checkpoint) before
    faust stops its agents."""

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


def _seek_uncommitted_to_start() -> None:
    """After a rebalance (and whenever it fetched while its flow was stopped) faust drops
    the records it had fetched and seeks every partition back to its committed offset,
    through aiokafka's seek_to_committed. That call leaves a partition with no committed
    offset (or offset 0) where the fetcher had got to, so the dropped records were never
    read again: samples lost from the middle of a partition that no checkpoint had yet
    committed (a worker restarted, or a rebalance, within its first checkpoint interval).
    Such partitions go back to their start instead, as `auto_offset_reset=earliest` would
    have put them; re-reading is safe (storage is idempotent, scoring skips seen seqs)."""
    from faust.transport.drivers import aiokafka as driver

    cls = driver.AIOKafkaConsumerThread
    if getattr(cls.seek_to_committed, "_vitalstream", False):
        return

    async def seek_to_committed(self: Any) -> Any:
        return await self.call_thread(seek_committed_or_start, self._ensure_consumer())

    seek_to_committed._vitalstream = True  # type: ignore[attr-defined]
    cls.seek_to_committed = seek_to_committed


async def seek_committed_or_start(consumer: Any) -> dict[Any, int | None]:
    """aiokafka's seek_to_committed, plus a seek to the start of every assigned partition
    without a committed offset; returns the committed offsets as aiokafka does."""
    committed = await consumer.seek_to_committed()
    uncommitted = [tp for tp, offset in committed.items() if not offset]
    if uncommitted:
        await consumer.seek_to_beginning(*uncommitted)
    return committed


def _broker_urls(bootstrap: str) -> list[str]:
    return [f"kafka://{hp.strip()}" for hp in bootstrap.split(",")]


def create_app(settings: Settings, metrics: WorkerMetrics | None = None,
               scorer: Scorer | None = None) -> tuple[faust.App, WorkerMetrics]:
    """The worker's App; `scorer` (detectors loaded) is required where this role scores."""
    assert settings.core.kafka_bootstrap and settings.core.database_url, "services must be resolved"
    metrics = metrics or WorkerMetrics()
    cfg = settings.stream
    _shorten_fetch_wait(cfg.fetch_max_wait_ms)
    _seek_uncommitted_to_start()
    app = WorkerApp(
        f"{settings.core.topic_prefix}{cfg.group_id}",
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
        # faust's default waits, at a revocation and at shutdown, until every consumed event
        # is acknowledged. Events it drops from one agent's queue while the other agent
        # still holds the same record never are, so the wait never ended (faust-streaming
        # #133, robinhood/faust #117; seen here under load with two workers). Both agents
        # are idempotent, so an unacknowledged record is simply read again by whoever owns
        # its partition next; the scoring agent checkpoints and commits at revocation.
        stream_wait_empty=False,
        # faust compares the changelog offset it believes it has read with the broker's end
        # offset and crashes the worker when the first is higher. With the in-memory table
        # that belief is only this process's bookkeeping, which drifts across quick
        # successive rebalances (seen: 3 > 2 on tansu after the fourth rebalance in 25 s);
        # a worker that crashes for it drops every partition it owns. Without the check,
        # recovery just reads what the changelog has beyond that offset.
        recovery_consistency_check=False,
        web_enabled=cfg.metrics_port > 0,
        web_port=cfg.metrics_port or 6066,
        web_bind="0.0.0.0",
        web_in_thread=False,
    )

    def topic(base: str) -> Any:
        # Created beforehand by vitalstream.topics.ensure_topics, with their partitions and retention.
        return app.topic(topic_name(settings, base), key_serializer="raw", value_serializer="raw",
                         partitions=settings.core.topic_partitions, internal=False)

    vitals, scores = topic("vitals"), topic("scores")
    decoder = SharedDecoder(readers=int(cfg.stores) + int(cfg.scores))
    if cfg.stores:
        app.agent(vitals, name="store_vitals")(store_vitals_agent(settings, metrics, decoder))
    if cfg.scores:
        assert scorer is not None, "detectors on: load them first (stream.scoring.load_scorer)"
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

        @app.timer(1.0)
        async def score_queued() -> None:  # LSTM scorings left queued once the traffic stops
            if scoring.stream is not None:
                await scoring.score_queued()

        @app.timer(max(1.0, min(15.0, cfg.silent_after_s / 4)) if cfg.silent_after_s > 0 else 3600.0)
        async def silence() -> None:
            await scoring.check_silence()
        app.before_stop = [scoring.stopping]
    if cfg.stores and (cfg.role == "storage" or cfg.scores):
        # Scores are stored where vitals are: by this process when it scores too, else by
        # the storage workers of a split deployment.
        app.agent(scores, name="store_scores")(store_scores_agent(settings, metrics))

    if cfg.scores:
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
