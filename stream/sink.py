"""Agents that persist: samples into `vitals`, detector scores into `scores`.

Both take batches from the stream (faust acks a batch's offsets only after the loop body
returns), write them through the storage writer, which returns once committed: a
crash before that replays the batch, and the idempotent writer stores it once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from storage.errors import StorageUnavailable, WriteError
from storage.rows import ScoreRow
from storage.writer import VitalsWriter
from vitalstream.config import Settings
from vitalstream.records import RecordError

from .continuity import MAX_ATTEMPTS, Continuity
from .decoded import SharedDecoder
from .metrics import WorkerMetrics

log = logging.getLogger(__name__)


def store_vitals_agent(settings: Settings, metrics: WorkerMetrics,
                       decoder: SharedDecoder | None = None) -> Callable[[Any], Any]:
    decoder = decoder or SharedDecoder(readers=1)
    batch_rows = settings.storage.writer_batch_rows
    within_s = settings.storage.writer_flush_ms / 1000

    async def store_vitals(stream: Any) -> None:
        assert settings.core.database_url
        continuity = Continuity()
        async with VitalsWriter(settings.core.database_url, settings.storage,
                                application_name="vitalstream-worker") as writer:
            async for events in stream.take_events(batch_rows, within=within_s):
                await _reread_skipped(stream, continuity, events, metrics)
                batches = []
                for event in events:
                    try:
                        batches.extend(decoder.decode(event))
                    except RecordError as exc:
                        # The gateway validated it; a bad record here is a bug or a foreign
                        # producer. Skipping it cannot lose a device's sample.
                        metrics.decode_errors += 1
                        log.error("skipping undecodable vitals record: %s", exc)
                started = time.perf_counter()
                inserted = await _write_until_stored(writer, batches, metrics)
                total = sum(len(b.samples) for b in batches)
                metrics.records += len(events)
                metrics.write_seconds.observe(time.perf_counter() - started)
                metrics.write_batch_rows.observe(total)
                metrics.samples_stored["inserted"] += inserted
                metrics.samples_stored["duplicate"] += total - inserted

    return store_vitals


async def _reread_skipped(stream: Any, continuity: Continuity, events: list, metrics: WorkerMetrics) -> None:
    """Seek a partition back when records between two delivered ones never arrived."""
    from faust.types import TP

    app = stream.app
    generation = app.consumer_generation_id
    for event in events:
        msg = event.message
        if msg.generation_id != generation:
            continue  # fetched before a rebalance: faust re-reads from the commits anyway
        gap = continuity.observe(generation, msg.partition, msg.offset)
        if gap is None:
            continue
        if gap.give_up:
            metrics.offset_gaps["accepted"] += 1
            log.error("vitals partition %d: offsets %d-%d never arrived after %d seeks back; going on without them",
                      gap.partition, gap.first_missing, gap.next_seen - 1, MAX_ATTEMPTS)
            continue
        metrics.offset_gaps["reread"] += 1
        log.warning("vitals partition %d: offsets %d-%d were skipped by the consumer; reading from %d again",
                    gap.partition, gap.first_missing, gap.next_seen - 1, gap.first_missing)
        try:
            await app.consumer.seek(TP(msg.topic, gap.partition), gap.first_missing)
        except Exception as exc:  # noqa: BLE001 - never leave the batch loop (see _write_until_stored)
            log.warning("seek back on vitals partition %d failed (%r); retried if the gap persists",
                        gap.partition, exc)


async def _write_until_stored(writer: VitalsWriter, batches: list, metrics: WorkerMetrics) -> int:
    """Never leave the batch loop with an error: faust's take() acknowledges the buffered
    events when its generator closes, so an exception here would commit samples that
    were never stored. A database that stays away is waited for, however long."""
    while True:
        try:
            return await writer.write_batches(batches)
        except StorageUnavailable as exc:
            metrics.write_errors["unavailable"] += 1
            log.error("database unavailable, holding the batch and retrying: %s", exc)
            await asyncio.sleep(5)
        except WriteError as exc:
            # Rows PostgreSQL refuses for good (the writer isolated them; the rest is stored).
            metrics.write_errors["rejected"] += len(exc.failed)
            log.error("%d samples refused by the database and not stored: %s", len(exc.failed), exc)
            return sum(len(b.samples) for b in batches) - len(exc.failed)


def store_scores_agent(settings: Settings, metrics: WorkerMetrics) -> Callable[[Any], Any]:
    async def store_scores(stream: Any) -> None:
        assert settings.core.database_url
        async with VitalsWriter(settings.core.database_url, settings.storage,
                                application_name="vitalstream-scores") as writer:
            async for values in stream.take(settings.storage.writer_batch_rows, within=1.0):
                rows = [ScoreRow(**json.loads(v)) for v in values]
                while True:  # as for samples: an exception here would acknowledge unstored scores
                    try:
                        await writer.write_scores(rows)
                        break
                    except StorageUnavailable as exc:
                        metrics.write_errors["unavailable"] += 1
                        log.error("database unavailable, holding %d scores and retrying: %s", len(rows), exc)
                        await asyncio.sleep(5)

    return store_scores
