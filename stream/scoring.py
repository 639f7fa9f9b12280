"""The scoring agent: per-device detector state, batched inference, scores and candidates out.

State. Each device's detector state (window, rule timers, baselines) is kept as live
objects in this worker and checkpointed to a changelog-backed faust Table keyed by
device_id, so a restarted worker, or one that receives the partition in a rebalance,
continues the device's window where it stopped. Serialising a state costs milliseconds
(about ten times scoring a sample), so it is done per device every `checkpoint_s`, not
per batch. Correctness rests on the ordering: a batch's events are acknowledged (and so
their offsets committed) only after a checkpoint that includes them has been written
and flushed to Kafka. After a crash the worker replays from the last committed offset
onto a state at least that new; the pipeline drops the seqs the state has already seen.
On a rebalance the agent checkpoints and commits (on_revoked) and drops the cache; states
come back from the table. Events taken before the rebalance began are neither scored nor
acknowledged: whoever owns their partition next reads them again from the committed offset.

Records go to the partition Kafka's default partitioner gives their device_id (keyed v1
records, or v2 packs the gateway addresses to that partition), and the table uses the
same partitioner for its changelog, so each device's state stays co-partitioned with its
samples even when a batch mixes partitions.

All detector work for a batch (rules, NEWS2, signal quality, and a batched LSTM forward
pass over this batch's share of the devices that are due: see Scorer) runs in a worker
thread, so the event loop keeps the producer and the consumer's bookkeeping going under load.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections import OrderedDict, defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from detectors.candidate import AlertCandidate
from vitalstream.config import Settings
from vitalstream.records import RecordError, Sample

from .decoded import SharedDecoder

from .metrics import WorkerMetrics

log = logging.getLogger(__name__)
CHECKPOINT_CHUNK = 250  # states serialised per detectors-thread job (~60 ms), so scoring interleaves


@dataclass
class BatchOutcome:
    candidates: list[AlertCandidate] = field(default_factory=list)
    scores: list[dict[str, Any]] = field(default_factory=list)
    scored_samples: int = 0
    late_samples: int = 0
    lstm_batches: list[tuple[int, float]] = field(default_factory=list)  # (windows, seconds)
    failed_devices: int = 0  # devices a detector raised on (logged; their samples are still stored)


class Scorer:
    """The batch step around the detector pipeline, over live per-device state objects.

    LSTM scorings are spread out. A device's LSTM is due when its minute closes, and the
    grid is wall-clock minutes, so every device of a fleet falls due within the same
    second: scoring them all in that batch held the detectors thread (and, in a worker
    that also stores, the storage agent behind the GIL) for a second or more every
    minute (publish → stored p99 at 5,000/s 1.3 → 4.3 s). Due devices queue instead,
    oldest first, and each batch scores the share that empties the queue by the time its
    oldest entry has waited `lstm_spread_s`; the window scored is the device's latest.
    """

    def __init__(self, pipeline: Any, state_to_bytes: Any, state_from_bytes: Any, max_lstm_batch: int,
                 lstm_spread_s: float = 0.0, clock: Any = time.monotonic):
        self.pipeline = pipeline
        self.to_bytes = state_to_bytes
        self._from_bytes = state_from_bytes
        self.max_lstm_batch = max_lstm_batch
        self.lstm_spread_s = lstm_spread_s
        self.clock = clock
        self.lstm_queue: OrderedDict[str, float] = OrderedDict()  # due device → when it was queued
        self.last_step: float | None = None
        self.overrides: dict[str, dict[str, dict[str, float]]] = {}  # device_id → per-patient rule overrides

    def state_for(self, device_id: str, raw: bytes | None) -> Any:
        return self._from_bytes(raw) if raw else self.pipeline.new_state(device_id)

    def step(self, per_device: dict[str, list[Sample]], live: dict[str, Any]) -> BatchOutcome:
        """Score each device's new samples; `live` holds every device's state (mutated)."""
        out = BatchOutcome()
        now = self.clock()
        for device_id, samples in per_device.items():
            state = live[device_id]
            wanted = self.overrides.get(device_id, {})
            if state.overrides != wanted:  # a clinician changed this patient's thresholds
                try:
                    self.pipeline.set_overrides(state, wanted)
                except ValueError as exc:
                    log.error("device %s: thresholds not applied: %s", device_id, exc)
            samples.sort(key=lambda s: s.seq)  # a device's samples in seq order
            n_scored = _fresh(state, samples)
            try:
                result = self.pipeline.observe(state, samples)
            except Exception:  # noqa: BLE001 - one device's bad data must not stop every other device
                log.exception("detectors failed on device %s; its batch is stored but not scored", device_id)
                out.failed_devices += 1
                continue
            out.scored_samples += n_scored
            out.late_samples += len(samples) - n_scored
            self._collect(out, device_id, result)
            if result.lstm_due and device_id not in self.lstm_queue:
                self.lstm_queue[device_id] = now
        due = self._take_due(live, now)
        for start in range(0, len(due), self.max_lstm_batch):
            chunk = due[start:start + self.max_lstm_batch]
            began = time.perf_counter()
            results = self.pipeline.score_lstm(chunk)
            out.lstm_batches.append((len(chunk), time.perf_counter() - began))
            for state, result in zip(chunk, results, strict=True):
                self._collect(out, state.device_id, result)
        return out

    def _take_due(self, live: dict[str, Any], now: float) -> list[Any]:
        """This batch's share of the queued LSTM scorings (see the class docstring)."""
        queue = self.lstm_queue
        dt = 0.0 if self.last_step is None else max(0.0, now - self.last_step)
        self.last_step = now
        if not queue:
            return []
        left = self.lstm_spread_s - (now - next(iter(queue.values())))
        n = len(queue) if left <= dt else max(1, math.ceil(len(queue) * dt / left))
        due = []
        while queue and len(due) < n:
            device_id, _ = queue.popitem(last=False)
            state = live.get(device_id)
            if state is not None and state.lstm_due:  # gone: its partition moved (rebalance)
                due.append(state)
        return due

    @staticmethod
    def _collect(out: BatchOutcome, device_id: str, result: Any) -> None:
        out.candidates.extend(result.candidates)
        for score in result.scores:
            out.scores.append({
                "device_id": device_id,
                "window_end_ms": int(score.ts_ms),
                "detector": score.detector,
                "score": float(score.score),
                "threshold": None if score.threshold is None else float(score.threshold),
                "contributions": {k: float(v) for k, v in (score.contributions or {}).items()},
                "model_version": getattr(score, "model_version", None),
            })


def _fresh(state: Any, samples: list[Sample]) -> int:
    """How many samples the detectors will score: new seqs newer than the device's last
    scored time. Late ones (older) and duplicates are stored but not re-scored."""
    last = state.last_ts
    seen: set[int] = set()
    n = 0
    for s in sorted(samples, key=lambda x: x.ts_ms):
        if s.seq in seen or state.seen(s.seq) or (last is not None and s.ts_ms <= last):
            continue
        seen.add(s.seq)
        last = s.ts_ms
        n += 1
    return n


def _log_send_failure(delivery: asyncio.Future) -> None:
    if not delivery.cancelled() and delivery.exception() is not None:
        log.error("a score or alert candidate was not delivered to Kafka: %r", delivery.exception())


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("checkpoint failed; retried at the next one", exc_info=task.exception())


CLINICAL_VITALS = ("hr", "spo2", "rr", "temp", "sbp", "dbp")


def silence_candidate(device_id: str, *, active: bool, silent_s: float) -> AlertCandidate:
    minutes = max(1, round(silent_s / 60))
    summary = (f"No data from the wearable for {minutes} min: check battery, range and fit"
               if active else "Data from the wearable again")
    return AlertCandidate(device_id=device_id, kind="signal.lost", severity="medium", ts_ms=int(time.time() * 1000),
                          active=active, summary=summary, evidence={"silent_s": round(silent_s)},
                          vitals=CLINICAL_VITALS, detector="signal")


def load_scorer(settings: Settings) -> Scorer:
    from detectors import plugins
    from detectors.pipeline import Pipeline, PipelineConfig
    from detectors.state import state_from_bytes, state_to_bytes

    config = PipelineConfig.from_settings(settings.detectors)
    lstm = plugins.load_lstm(settings.detectors.model_dir) if "lstm" in config.detectors else None
    pipeline = Pipeline(config, lstm=lstm)
    log.info("detectors on: %s%s", ", ".join(sorted(config.detectors)),
             f" (LSTM model {lstm.version})" if lstm is not None else "")
    return Scorer(pipeline, state_to_bytes, state_from_bytes, settings.stream.max_lstm_batch,
                  settings.stream.lstm_spread_s)


class ScoringAgent:
    """The faust agent body plus its checkpoint timer and rebalance hook."""

    def __init__(self, app: Any, settings: Settings, metrics: WorkerMetrics, scorer: Scorer, table: Any,
                 scores_topic: Any, candidates_topic: Any, decoder: SharedDecoder | None = None):
        self.decoder = decoder or SharedDecoder(readers=1)
        self.app = app
        self.settings = settings
        self.metrics = metrics
        self.scorer = scorer
        self.table = table
        self.scores_topic = scores_topic
        self.candidates_topic = candidates_topic
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="detectors")
        self.lock = asyncio.Lock()
        self.checkpoint_lock = asyncio.Lock()
        self.background_checkpoint: asyncio.Task | None = None
        self.live: dict[str, Any] = {}
        self.dirty: set[str] = set()
        self.pending: list[Any] = []  # processed events, acknowledged at the next checkpoint
        self.stream: Any = None
        self.last_checkpoint = time.monotonic()
        self.last_batch = time.monotonic()
        self.shutting_down = False
        self.last_seen: dict[str, float] = {}  # device → time.monotonic() of its last record here
        self.silent: set[str] = set()  # devices this worker reported as silent (signal.lost raised)

    async def __call__(self, stream: Any) -> None:
        self.stream = stream
        cfg = self.settings.stream
        # noack_take: events are acknowledged only once a checkpoint holds their effect.
        async for events in stream.noack_take(cfg.score_batch_records, within=cfg.score_batch_ms / 1000):
            async with self.lock:
                await self._process(events)
            if self.shutting_down:
                await self.checkpoint()
            elif time.monotonic() - self.last_checkpoint >= cfg.checkpoint_s and not self.checkpointing:
                self.background_checkpoint = asyncio.ensure_future(self.checkpoint())
                self.background_checkpoint.add_done_callback(_log_failure)

    @property
    def checkpointing(self) -> bool:
        return self.checkpoint_lock.locked() or (self.background_checkpoint is not None
                                                 and not self.background_checkpoint.done())

    async def _process(self, events: list[Any]) -> None:
        loop = asyncio.get_running_loop()
        # Taken before a rebalance began: their partition may have moved, and its new owner
        # reads them again from the committed offset. Neither scored nor acknowledged here,
        # so a state this worker no longer owns is never written.
        generation = self.app.consumer_generation_id
        if not self.app.flow_control.is_active():
            return
        events = [e for e in events if e.message.generation_id == generation]
        per_device: dict[str, list[Sample]] = defaultdict(list)
        appended_ms: dict[str, int] = {}
        for event in events:
            try:
                batches = self.decoder.decode(event)
            except RecordError:
                continue  # counted by the storage agent
            appended = int(event.message.timestamp * 1000)  # faust gives seconds
            for batch in batches:
                per_device[batch.device_id].extend(batch.samples)
                appended_ms[batch.device_id] = appended
        if not per_device:
            self.pending.extend(events)
            return
        now = time.monotonic()
        back = []
        for device_id in per_device:
            self.last_seen[device_id] = now
            if device_id in self.silent:
                self.silent.discard(device_id)
                back.append(silence_candidate(device_id, active=False, silent_s=0))
        missing = {d: self.table.get(d.encode()) for d in per_device if d not in self.live}
        if missing:
            restored = await loop.run_in_executor(
                self.executor, lambda: {d: self.scorer.state_for(d, raw) for d, raw in missing.items()})
            self.live.update(restored)
        outcome = await loop.run_in_executor(self.executor, self.scorer.step, dict(per_device), self.live)
        self.dirty.update(per_device)
        await self._publish(outcome, back)
        self.last_batch = time.monotonic()
        # Acknowledged at the next checkpoint, only now that their results are out: if anything
        # above raised, the agent restarts and faust redelivers these events.
        self.pending.extend(events)
        m = self.metrics
        m.detector_errors += outcome.failed_devices
        now_ms = time.time() * 1000
        for device_id in per_device:
            m.append_to_score_seconds.observe(max(0.0, now_ms - appended_ms[device_id]) / 1000)
        m.samples_scored += outcome.scored_samples
        m.samples_late += outcome.late_samples
        m.scores_emitted += len(outcome.scores)
        m.score_batch_devices.observe(len(per_device))
        for c in outcome.candidates:
            m.candidates[c.kind] += 1
        for windows, seconds in outcome.lstm_batches:
            m.inference_batch.observe(windows)
            m.inference_seconds.observe(seconds)
        m.devices_in_state = len(self.live)
        m.lstm_queue = len(self.scorer.lstm_queue)

    async def _publish(self, outcome: BatchOutcome, extra: Sequence[AlertCandidate] = ()) -> None:
        """Candidates and scores onto their topics, keyed by device (the default partitioner).
        Straight to the producer, as `_write_changelog` does: faust's Topic.send builds a
        FutureMessage and PendingMessage per record and took 7 % of a worker at 7,500/s."""
        producer = self.app.producer
        records = [(self.candidates_topic.get_topic_name(), c.device_id, c.to_json())
                   for c in (*extra, *outcome.candidates)]
        records += [(self.scores_topic.get_topic_name(), s["device_id"], json.dumps(s).encode())
                    for s in outcome.scores]
        for topic, device_id, value in records:
            delivery = await producer.send(topic, device_id.encode(), value, None, None, None)
            delivery.add_done_callback(_log_send_failure)

    async def score_queued(self) -> None:
        """LSTM scorings still queued when no batch has come for a second (the end of a
        replay, a fleet gone quiet): batches are what drain the queue otherwise."""
        if not self.scorer.lstm_queue or time.monotonic() - self.last_batch < 1.0:
            return
        if not self.app.flow_control.is_active():  # a rebalance is under way
            return
        loop = asyncio.get_running_loop()
        async with self.lock:
            outcome = await loop.run_in_executor(self.executor, self.scorer.step, {}, self.live)
            self.dirty.update(s["device_id"] for s in outcome.scores)  # their LSTM decision state moved
            await self._publish(outcome)
        m = self.metrics
        m.lstm_queue = len(self.scorer.lstm_queue)
        m.scores_emitted += len(outcome.scores)
        for c in outcome.candidates:
            m.candidates[c.kind] += 1
        for windows, seconds in outcome.lstm_batches:
            m.inference_batch.observe(windows)
            m.inference_seconds.observe(seconds)

    async def checkpoint(self) -> None:
        """Write dirty states to the changelog, wait for Kafka to have them, then acknowledge
        the events processed before this checkpoint began.

        Scoring goes on meanwhile: states are serialised in chunks in the detectors thread,
        so batches scored between chunks only make a written state newer than the events
        acknowledged here (a replay after a crash skips the seqs a state has seen). With
        thousands of devices a checkpoint takes seconds; holding scoring for it stalled the
        whole consumer (both agents share the fetcher)."""
        async with self.checkpoint_lock:  # one at a time, in order
            async with self.lock:
                self.last_checkpoint = time.monotonic()
                if not self.pending and not self.dirty:
                    return
                dirty, self.dirty = self.dirty, set()
                events, self.pending = self.pending, []
            began = time.perf_counter()
            loop = asyncio.get_running_loop()
            ids = list(dirty)
            written = total_bytes = 0
            try:
                for start in range(0, len(ids), CHECKPOINT_CHUNK):
                    chunk = ids[start:start + CHECKPOINT_CHUNK]
                    blobs = await loop.run_in_executor(self.executor, self._serialise, chunk)
                    await self._write_changelog(blobs)
                    written += len(blobs)
                    total_bytes += sum(len(b) for b in blobs.values())
            except BaseException:
                # Not written (Kafka away, or cancelled): the next checkpoint takes these again,
                # and nothing is acknowledged before it succeeds.
                self.dirty |= dirty
                self.pending[:0] = events
                raise
            if written:
                self.metrics.state_bytes = int(total_bytes / written * len(self.live))
            for event in events:
                await self.stream.ack(event)
            self.metrics.checkpoint_seconds.observe(time.perf_counter() - began)
            self.metrics.checkpoint_states.observe(written)

    def _serialise(self, device_ids: list[str]) -> dict[str, bytes]:
        """In the detectors thread (where states are mutated), so a state is never half-updated."""
        out = {}
        for device_id in device_ids:
            state = self.live.get(device_id)
            if state is not None:
                out[device_id] = self.scorer.to_bytes(state)
        return out

    async def _write_changelog(self, blobs: dict[str, bytes]) -> None:
        """The table's changelog records, produced directly: faust's table write path queues
        each change through a buffer that drains one message per loop turn (seconds for a
        few thousand states). Same topic, key and partitioner, so recovery reads them as
        its own; the table's local copy is updated without a second changelog record."""
        producer = self.app.producer
        topic = self.table.changelog_topic.get_topic_name()
        data = self.table.data
        futures = []
        for device_id, blob in blobs.items():
            key = device_id.encode()
            data[key] = blob
            futures.append(await producer.send(topic, key, blob, None, None, None))
        if futures:
            await asyncio.gather(*futures)

    async def check_silence(self) -> None:
        """A device that stops sending (battery, out of range, app killed) produces no sample
        for the detectors to judge, so silence is watched here: after `silent_after_s`
        without a record, one `signal.lost` for every vital; a clear when data returns.
        Devices silent for an hour are dropped from memory (their state is in the table)."""
        cfg = self.settings.stream
        if cfg.silent_after_s <= 0:
            return
        now = time.monotonic()
        newly = [d for d, seen in self.last_seen.items() if now - seen >= cfg.silent_after_s and d not in self.silent]
        for device_id in newly:
            self.silent.add(device_id)
            cand = silence_candidate(device_id, active=True, silent_s=now - self.last_seen[device_id])
            await self.candidates_topic.send(key=device_id.encode(), value=cand.to_json())
            self.metrics.candidates[cand.kind] += 1
        idle = [d for d, seen in self.last_seen.items() if now - seen >= max(3600.0, cfg.silent_after_s)]
        if idle:
            await self.checkpoint()
            async with self.lock:
                for device_id in idle:
                    if device_id not in self.dirty:
                        self.live.pop(device_id, None)
                        self.last_seen.pop(device_id, None)

    async def stopping(self) -> None:
        """The worker is stopping: checkpoint now and after every remaining batch."""
        self.shutting_down = True
        await self.checkpoint()
        await self._commit()

    async def on_revoked(self, *_: Any, **__: Any) -> None:
        """Partitions are moving: persist everything, commit what that acknowledged (faust
        does not wait for it, see stream.app), then forget the live states."""
        await self.checkpoint()
        await self._commit()
        async with self.lock:
            self.live.clear()
            self.scorer.lstm_queue.clear()
            self.last_seen.clear()  # the new owner watches these devices now

    async def _commit(self) -> None:
        try:
            await self.app.consumer.commit()
        except Exception as exc:  # noqa: BLE001 - uncommitted records are read again: never fatal
            log.warning("offset commit after checkpoint failed: %r", exc)
