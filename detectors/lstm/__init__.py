"""Windowed LSTM anomaly detector over one device's vitals.

Per device (pure, no torch):   lstm_state_new, lstm_update / lstm_feed, lstm_window,
                               lstm_state_to_dict / lstm_state_from_dict, lstm_decide
Model (imports torch lazily):  load_detector(model_dir=None) -> LstmDetector with
                               .score_batch(windows) -> (scores, contributions),
                               .threshold, .version

Typical worker loop: `if lstm_update(st, ts, values): w = lstm_window(st)`; collect the
windows of many devices, `scores, contrib = det.score_batch(np.stack(ws))` in a thread,
then `lstm_decide(st, device_id, ts, scores[i], contrib[i], det.threshold)`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .decide import lstm_decide
from .features import FEATURE_VERSION, GRID_MS, N_FEATURES, WINDOW
from .state import LstmState, lstm_feed, lstm_state_from_dict, lstm_state_new, lstm_state_to_dict, lstm_update, lstm_window

if TYPE_CHECKING:
    from .artefact import ArtefactError
    from .detector import LstmDetector, load_detector

__all__ = [
    "FEATURE_VERSION", "GRID_MS", "N_FEATURES", "WINDOW",
    "ArtefactError", "LstmDetector", "LstmState", "load_detector", "lstm_decide", "lstm_feed",
    "lstm_state_from_dict", "lstm_state_new", "lstm_state_to_dict", "lstm_update", "lstm_window",
]


def __getattr__(name: str) -> Any:
    # torch is heavy (~1 s, ~200 MB): only the model half of the package pulls it in.
    if name in ("LstmDetector", "load_detector"):
        from . import detector

        return getattr(detector, name)
    if name == "ArtefactError":
        from .artefact import ArtefactError

        return ArtefactError
    raise AttributeError(name)
