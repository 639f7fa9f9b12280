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
from vitalstream.records import RecordError, decode_record

from .continuity import Continuity, GapReader
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
        gaps = GapReader(settings.core.kafka_bootstrap or "")
        try:
            async with VitalsWriter(settings.core.database_url, settings.storage,
                                    application_name="vitalstream-worker") as writer:
                async for events in stream.take_events(batch_rows, within=within_s):
                    await _store_batch(stream, events, writer, decoder, continuity, gaps, metrics)
        finally:
            await gaps.close()

    return store_vitals


async def _store_batch(stream: Any, events: list, writer: VitalsWriter, decoder: SharedDecoder,
                       continuity: Continuity, gaps: GapReader, metrics: WorkerMetrics) -> None:
    batches = await _skipped_records(stream, continuity, gaps, events, metrics)
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


async def _skipped_records(stream: Any, continuity: Continuity, gaps: GapReader, events: list,
                           metrics: WorkerMetrics) -> list:
    """The batches of records the consumer skipped before these events (see
    stream.continuity), read straight from Kafka; stored with this batch, so before its
    events are acknowledged."""
    generation = stream.app.consumer_generation_id
    found: list = []
    for event in events:
        msg = event.message
        if msg.generation_id != generation:
            continue  # fetched before a rebalance: read again from the commits anyway
        gap = continuity.observe(generation, msg.partition, msg.offset)
        if gap is None:
            continue
        want = gap.next_seen - gap.first_missing
        try:
            values = await gaps.read(msg.topic, gap)
        except Exception as exc:  # noqa: BLE001 - never leave the batch loop (see _write_until_stored)
            values = []
            log.error("could not read skipped vitals records: %r", exc)
        for value in values:
            try:
                found.extend(decode_record(value))
            except RecordError:
                metrics.decode_errors += 1
        metrics.offset_gaps["reread"] += len(values)
        metrics.offset_gaps["missing"] += want - len(values)
        level = logging.WARNING if len(values) == want else logging.ERROR
        log.log(level, "vitals partition %d: offsets %d-%d were skipped by the consumer; read %d of %d from Kafka",
                gap.partition, gap.first_missing, gap.next_seen - 1, len(values), want)
    return found


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
