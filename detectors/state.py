"""A device's detector state as explicit data, and its compact byte form.

Everything the detectors remember about one device lives in `DeviceState`: plain
numbers, lists and dicts, so the stream worker can keep it in a faust Table (or any
key-value store) and a restarted worker continues exactly where the last one stopped.
The state is bounded by construction (fixed-size trackers, a capped seq memory, O(1)
per rule and vital), so it stays far below 64 KiB however long a device streams;
`state_to_bytes` compresses the JSON form.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from .rules import RuleState
from .signal_quality import VitalQuality

STATE_VERSION = 2  # 2: seqs as runs; version 1 states are still read
READABLE_VERSIONS = (1, 2)
MAX_STATE_BYTES = 64 * 1024


@dataclass(slots=True)
class DeviceState:
    device_id: str
    last_ts: int | None = None  # newest sample time seen (device clock, epoch ms)
    seqs: deque[int] = field(default_factory=deque)  # recently seen seqs (dedup), capped
    sqi: dict[str, VitalQuality] = field(default_factory=dict)
    rules: dict[str, RuleState] = field(default_factory=dict)
    recent: dict[str, list[list[float]]] = field(default_factory=dict)  # vital -> [[ts, value], ...] usable, capped
    news2: dict[str, Any] = field(default_factory=dict)  # monitor state (see news2_monitor)
    emitted: dict[str, list[Any]] = field(default_factory=dict)  # kind -> [active, severity, last_emit_ts]
    last_score_ts: int | None = None
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # per-patient rule overrides
    ctx: dict[str, Any] = field(default_factory=dict)  # small shared context (movement, last NEWS2, HR diffs)
    lstm: Any = None  # detectors.lstm.LstmState, or None when the LSTM is off
    lstm_due: bool = False
    ew: Any = None  # detectors.early_warning.EwState, or None when off
    seqset: set[int] = field(default_factory=set)  # index over `seqs` (not persisted)

    def seen(self, seq: int) -> bool:
        if len(self.seqset) != len(self.seqs):
            self.seqset = set(self.seqs)
        return seq in self.seqset

    def remember(self, seq: int, cap: int) -> None:
        if len(self.seqset) != len(self.seqs):
            self.seqset = set(self.seqs)
        if seq in self.seqset:
            return
        self.seqs.append(seq)
        self.seqset.add(seq)
        while len(self.seqs) > cap:
            self.seqset.discard(self.seqs.popleft())


def _encode_np(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        raw = np.ascontiguousarray(obj)
        return {"__nd__": raw.dtype.str, "shape": list(raw.shape), "b64": base64.b64encode(raw.tobytes()).decode()}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (set, frozenset, tuple, deque)):
        return list(obj)
    raise TypeError(f"not serialisable in detector state: {type(obj).__name__}")


def _decode_np(doc: dict[str, Any]) -> Any:
    if "__nd__" in doc:
        return np.frombuffer(base64.b64decode(doc["b64"]), dtype=np.dtype(doc["__nd__"])).reshape(doc["shape"]).copy()
    return doc


def seq_runs(seqs: deque[int] | list[int]) -> list[list[int]]:
    """The seq memory as [first, count] runs of consecutive seqs, in arrival order: a
    device counting up is one run, where the plain list of 512 seqs was half the state's
    JSON and a third of the worker's checkpoint time."""
    if seqs and seqs[-1] - seqs[0] == len(seqs) - 1:
        # The usual case, tested in C: one ascending run (a device counting up).
        first = seqs[0]
        if list(seqs) == list(range(first, first + len(seqs))):
            return [[first, len(seqs)]]
    runs: list[list[int]] = []
    for seq in seqs:
        if runs and seq == runs[-1][0] + runs[-1][1]:
            runs[-1][1] += 1
        else:
            runs.append([seq, 1])
    return runs


def seqs_from_runs(runs: list[list[int]]) -> deque[int]:
    return deque(seq for first, count in runs for seq in range(first, first + count))


def state_doc(state: DeviceState) -> dict[str, Any]:
    """The JSON-able form of a state (numpy arrays left to _encode_np)."""
    from . import plugins

    return {
        "v": STATE_VERSION,
        "device_id": state.device_id,
        "last_ts": state.last_ts,
        "seq_runs": seq_runs(state.seqs),
        "sqi": {k: q.to_list() for k, q in state.sqi.items()},
        "rules": {k: r.to_list() for k, r in state.rules.items()},
        "recent": state.recent,
        "news2": state.news2,
        "emitted": state.emitted,
        "last_score_ts": state.last_score_ts,
        "overrides": state.overrides,
        "ctx": state.ctx,
        "lstm": plugins.lstm_to_dict(state.lstm),
        "lstm_due": state.lstm_due,
        "ew": plugins.ew_to_dict(state.ew),
    }


def encode_doc(doc: dict[str, Any]) -> bytes:
    # orjson: the same bytes as json.dumps(separators=(",", ":")) here at a tenth of the
    # cost (float formatting was most of a checkpoint). It writes NaN as null where json
    # writes NaN: no JSON part of a state holds NaN (the LSTM ring, which does, is base64);
    # tests/detectors/test_state_format.py checks both encoders agree on simulated days.
    return orjson.dumps(doc, default=_encode_np)


def state_to_bytes(state: DeviceState) -> bytes:
    raw = encode_doc(state_doc(state))
    # level 1: ~4x smaller than the JSON at half the cost of level 6 (checkpoints write
    # every active device's state every few seconds)
    return zlib.compress(raw, 1)


class StateError(ValueError):
    """Stored detector state that cannot be read back (corrupt, or a newer format)."""


def state_from_bytes(blob: bytes) -> DeviceState:
    from . import plugins

    try:
        doc = json.loads(zlib.decompress(blob), object_hook=_decode_np)
    except (zlib.error, ValueError) as exc:
        raise StateError(f"undecodable detector state: {exc}") from exc
    if doc.get("v") not in READABLE_VERSIONS:
        raise StateError(f"detector state version {doc.get('v')!r}, expected one of {READABLE_VERSIONS}")
    return DeviceState(
        device_id=doc["device_id"],
        last_ts=doc["last_ts"],
        seqs=seqs_from_runs(doc["seq_runs"]) if "seq_runs" in doc else deque(doc["seqs"]),
        sqi={k: VitalQuality.from_list(v) for k, v in doc["sqi"].items()},
        rules={k: RuleState.from_list(v) for k, v in doc["rules"].items()},
        recent=doc["recent"],
        news2=doc["news2"],
        emitted=doc["emitted"],
        last_score_ts=doc["last_score_ts"],
        overrides=doc["overrides"],
        ctx=doc["ctx"],
        lstm=plugins.lstm_from_dict(doc["lstm"]),
        lstm_due=doc["lstm_due"],
        ew=plugins.ew_from_dict(doc["ew"]),
    )
