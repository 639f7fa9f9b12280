"""What detectors hand to the alert engine: an alert candidate.

The stream publishes these on the Kafka topic `alert.candidates` (JSON, keyed by
device_id); `alerts/` turns them into alerts (dedup per device+kind, lifecycle, webhooks).
A candidate either raises a condition (`active=True`) or reports that it has cleared
(`active=False`), so the engine can auto-resolve after a quiet period.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["low", "medium", "high"]
SEVERITIES: tuple[str, ...] = ("low", "medium", "high")


@dataclass(frozen=True, slots=True)
class AlertCandidate:
    device_id: str
    kind: str  # INTERFACE §4, e.g. "spo2.low", "news2.high", "anomaly.lstm", "signal.lost", "early_warning"
    severity: Severity
    ts_ms: int  # time of the sample that raised/cleared it (device clock, epoch ms)
    active: bool  # True: condition present; False: condition cleared
    summary: str  # one sentence a nurse understands, e.g. "SpO2 88 % for 3 min, NEWS2 7 (high)"
    evidence: dict[str, Any] = field(default_factory=dict)  # values, scores, driving vitals
    vitals: tuple[str, ...] = ()  # metric names this condition is about (used for suppression)
    detector: str = ""  # which detector raised it: "rules", "news2", "lstm", "signal", "early_warning"

    def to_json(self) -> bytes:
        doc = asdict(self)
        doc["vitals"] = list(self.vitals)
        return json.dumps(doc, separators=(",", ":"), default=float).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> AlertCandidate:
        doc = json.loads(raw)
        doc["vitals"] = tuple(doc.get("vitals", ()))
        return cls(**doc)
