"""The generator's boundary types: a patient's trace and its labelled events (INTERFACE §6)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from vitalstream.records import METRICS

# Event kinds the simulator injects (INTERFACE §6 names, plus the multi-day `infection`).
EVENT_KINDS: tuple[str, ...] = (
    "desaturation",
    "tachycardia",
    "bradycardia",
    "fever",
    "hypotension",
    "deterioration",
    "arrhythmia",
    "sensor_off",
    "infection",
)
SEVERITIES: tuple[str, ...] = ("low", "medium", "high")
COL = {name: i for i, name in enumerate(METRICS)}  # column index of each metric in `values`


@dataclass(frozen=True, slots=True)
class Event:
    """One ground-truth event: a span in which a clinician should be alerted."""

    device_id: str
    kind: str
    start_ms: int
    end_ms: int
    severity: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "device_id": self.device_id,
            "kind": self.kind,
            "start": self.start_ms,
            "end": self.end_ms,
            "severity": self.severity,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Event:
        start, end = doc["start"], doc["end"]
        if not isinstance(start, int) or not isinstance(end, int) or isinstance(start, bool) or end < start:
            raise ValueError(f"bad event span start={start!r} end={end!r}")
        if doc["kind"] not in EVENT_KINDS and not isinstance(doc["kind"], str):
            raise ValueError(f"bad event kind {doc['kind']!r}")
        if doc.get("severity", "medium") not in SEVERITIES:
            raise ValueError(f"bad severity {doc.get('severity')!r}")
        return cls(str(doc["device_id"]), doc["kind"], start, end, doc.get("severity", "medium"))


@dataclass(slots=True)
class PatientTrace:
    """One device's samples in time order; `values` columns follow `METRICS`, NaN = not reported."""

    device_id: str
    ts_ms: np.ndarray  # int64, epoch ms, strictly increasing
    seq: np.ndarray  # int64, the device's sample counter (gaps where samples were lost)
    values: np.ndarray  # float64, shape (n, 7)
    events: list[Event]

    def __len__(self) -> int:
        return int(self.ts_ms.shape[0])

    def column(self, metric: str) -> np.ndarray:
        return self.values[:, COL[metric]]

    def window(self, start_ms: int, end_ms: int) -> np.ndarray:
        """Boolean mask of the samples with start_ms <= ts < end_ms."""
        return (self.ts_ms >= start_ms) & (self.ts_ms < end_ms)
