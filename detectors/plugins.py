"""The optional detectors (LSTM, resting-HR early warning), imported if present.

Both are built in their own subpackages against a fixed contract (see docs/detectors.md).
The pipeline works without either: while one is missing (not built yet, or its model
cannot be loaded) its functions here degrade to 'off' instead of failing the worker.
"""

from __future__ import annotations

import importlib
import logging
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)

_LSTM_API = ("LstmState", "lstm_state_new", "lstm_update", "lstm_window", "load_detector", "lstm_decide",
             "lstm_state_to_dict", "lstm_state_from_dict")
_EW_API = ("EwState", "ew_new", "ew_update", "ew_to_dict", "ew_from_dict")


def _optional(name: str, api: tuple[str, ...]) -> ModuleType | None:
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        log.debug("%s not available: %s", name, exc)
        return None
    # Names in __all__ count as present without touching them: the LSTM package resolves
    # load_detector lazily so that importing the pipeline does not import torch.
    exported = set(getattr(module, "__all__", ())) | set(vars(module))
    missing = [a for a in api if a not in exported]
    if missing:  # half-built package: treat as absent rather than fail mid-stream
        log.warning("%s lacks %s; running without it", name, ", ".join(missing))
        return None
    return module


_lstm = _optional("detectors.lstm", _LSTM_API)
_ew = _optional("detectors.early_warning", _EW_API)
HAVE_LSTM = _lstm is not None
HAVE_EW = _ew is not None


def load_lstm(model_dir: Any = None) -> Any:
    """The LSTM detector object (`.score_batch`, `.threshold`, `.version`), or None when the
    LSTM package is unavailable (logged, so an operator sees why)."""
    if _lstm is None:
        log.warning("LSTM detector not available (detectors.lstm missing); running without it")
        return None
    return _lstm.load_detector(model_dir)


def lstm_new() -> Any:
    return None if _lstm is None else _lstm.lstm_state_new()


def lstm_to_dict(state: Any) -> Any:
    return None if state is None or _lstm is None else _lstm.lstm_state_to_dict(state)


def lstm_from_dict(doc: Any) -> Any:
    return None if doc is None or _lstm is None else _lstm.lstm_state_from_dict(doc)


def lstm_feed(state: Any, ts_ms: list[int], rows: list[list[float]]) -> bool:
    """A chunk of one device's samples at once (the LSTM package's vectorised `lstm_feed`
    when it has one: per-sample numpy calls dominate the pipeline's cost otherwise)."""
    assert _lstm is not None
    if hasattr(_lstm, "lstm_feed"):  # it converts to arrays itself, and only for long chunks
        return bool(_lstm.lstm_feed(state, ts_ms, rows))
    due = False
    for ts, row in zip(ts_ms, rows):
        import numpy as np

        due = bool(_lstm.lstm_update(state, ts, np.asarray(row, np.float64))) or due
    return due


def lstm_get_window(state: Any) -> Any:
    assert _lstm is not None
    return _lstm.lstm_window(state)


def lstm_candidate(state: Any, device_id: str, ts_ms: int, score: float, contributions: Any, threshold: float) -> Any:
    assert _lstm is not None
    return _lstm.lstm_decide(state, device_id, ts_ms, score, contributions, threshold)


def ew_new_state() -> Any:
    return None if _ew is None else _ew.ew_new()


def ew_step(state: Any, device_id: str, ts_ms: int, hr: float | None, activity: float | None) -> Any:
    assert _ew is not None
    return _ew.ew_update(state, device_id, ts_ms, hr, activity)


def ew_to_dict(state: Any) -> Any:
    return None if state is None or _ew is None else _ew.ew_to_dict(state)


def ew_from_dict(doc: Any) -> Any:
    return None if doc is None or _ew is None else _ew.ew_from_dict(doc)
