"""Worker metrics in the Prometheus text format (served by faust's web server)."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from vitalstream.prom import Exposition, Summary, labels

PREFIX = "vitalstream_worker_"


@dataclass
class WorkerMetrics:
    started_at: float = field(default_factory=time.monotonic)
    records: int = 0  # Kafka records consumed (one MQTT message's samples each)
    samples_stored: Counter[str] = field(default_factory=Counter)  # inserted / duplicate
    samples_scored: int = 0
    samples_late: int = 0  # older than the window, or duplicate seq: stored, not re-scored
    candidates: Counter[str] = field(default_factory=Counter)  # by kind
    scores_emitted: int = 0
    write_seconds: Summary = field(default_factory=Summary)
    write_batch_rows: Summary = field(default_factory=Summary)
    score_batch_devices: Summary = field(default_factory=Summary)
    inference_seconds: Summary = field(default_factory=Summary)
    inference_batch: Summary = field(default_factory=Summary)
    append_to_score_seconds: Summary = field(default_factory=Summary)  # Kafka append → score emitted
    checkpoint_seconds: Summary = field(default_factory=Summary)  # one checkpoint, start to acknowledged
    checkpoint_states: Summary = field(default_factory=Summary)  # device states written per checkpoint
    devices_in_state: int = 0
    lstm_queue: int = 0  # devices whose LSTM scoring is due and waiting (spread, stream.scoring.Scorer)
    state_bytes: int = 0
    lag: dict[str, int] = field(default_factory=dict)  # "topic:partition" → messages behind
    decode_errors: int = 0
    write_errors: Counter[str] = field(default_factory=Counter)  # unavailable (retried) / rejected (rows)
    detector_errors: int = 0  # devices whose batch a detector failed on (logged, skipped)
    offset_gaps: Counter[str] = field(default_factory=Counter)  # records reread / missing (stream.continuity)

    def render(self) -> str:
        out = Exposition(PREFIX)
        uptime = max(time.monotonic() - self.started_at, 1e-9)
        out.value("records_total", "counter", "Kafka vitals records consumed.", self.records)
        out.by_label("samples_stored_total", "counter", "Samples written to the vitals table.", "result",
                     self.samples_stored)
        out.value("samples_scored_total", "counter", "Samples run through the detectors.", self.samples_scored)
        out.value("events_per_second", "gauge", "Samples scored per second since start.", self.samples_scored / uptime)
        out.value("samples_late_total", "counter", "Late or duplicate samples stored but not re-scored.",
                  self.samples_late)
        out.by_label("alert_candidates_total", "counter", "Alert candidates emitted, by kind.", "kind", self.candidates)
        out.value("scores_total", "counter", "Detector scores emitted.", self.scores_emitted)
        out.value("decode_errors_total", "counter", "Undecodable vitals records skipped.", self.decode_errors)
        out.by_label("write_errors_total", "counter", "Database write failures (unavailable: retried; rejected: rows).",
                     "error", self.write_errors)
        out.value("detector_errors_total", "counter", "Device batches a detector failed on.", self.detector_errors)
        out.by_label("offset_gap_records_total", "counter", "Vitals records the consumer skipped: read from "
                     "Kafka directly and stored (reread), or not found there (missing).", "result", self.offset_gaps)
        out.summary("write_seconds", "Time to commit one batch of samples.", self.write_seconds)
        out.summary("write_batch_rows", "Samples per database batch.", self.write_batch_rows)
        out.summary("score_batch_devices", "Devices per scoring batch.", self.score_batch_devices)
        out.summary("inference_seconds", "LSTM forward pass time per batch.", self.inference_seconds)
        out.summary("inference_batch_windows", "Windows per LSTM forward pass.", self.inference_batch)
        out.summary("append_to_score_seconds", "Kafka append to score emitted.", self.append_to_score_seconds)
        out.summary("checkpoint_seconds", "One state checkpoint, start to events acknowledged.", self.checkpoint_seconds)
        out.summary("checkpoint_states", "Device states written per checkpoint.", self.checkpoint_states)
        out.value("devices_in_state", "gauge", "Devices with detector state on this worker.", self.devices_in_state)
        out.value("lstm_queue", "gauge", "Devices whose due LSTM scoring is queued (spread over "
                  "VITALSTREAM_WORKER_LSTM_SPREAD_S).", self.lstm_queue)
        out.value("state_bytes", "gauge", "Serialised detector state held by this worker (estimate).", self.state_bytes)
        lag = [(labels(topic=k.rsplit(":", 1)[0], partition=k.rsplit(":", 1)[1]), v) for k, v in sorted(self.lag.items())]
        out.metric("consumer_lag", "gauge", "Messages behind the end of each assigned partition.", lag)
        return out.text()
