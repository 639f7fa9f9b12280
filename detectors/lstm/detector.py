"""The loaded model: batched scoring of windows with per-vital contributions.

score_batch is blocking CPU work; the worker runs it in a thread with batches of 32-512
(batching matters far more than anything else for throughput, ../shared/CEILINGS.md).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from .artefact import DEFAULT_MODEL_DIR, WEIGHTS, ArtefactError, read_artefact
from .features import CLINICAL, N_FEATURES, N_VITALS, WINDOW
from .model import ModelConfig, build_model, window_errors


class LstmDetector:
    def __init__(self, model: torch.nn.Module, cfg: ModelConfig, threshold: float, version: str):
        self.model = model.eval()
        self.cfg = cfg
        self.threshold = float(threshold)
        self.version = version

    def score_batch(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """windows (B, W, F) -> (scores (B,), contributions (B, 7)).

        score: mean squared error over the observed clinical vitals in the scored span;
        contributions: each vital's share of that error (rows sum to 1, or 0 when nothing
        was observed); activity's column is always 0 (it explains, it is not judged).
        """
        x = np.asarray(windows, dtype=np.float32)
        if x.ndim != 3 or x.shape[1:] != (WINDOW, N_FEATURES):
            raise ValueError(f"windows must be (B, {WINDOW}, {N_FEATURES}), got {x.shape}")
        if x.shape[0] == 0:
            return np.zeros(0, dtype=np.float32), np.zeros((0, N_VITALS), dtype=np.float32)
        with torch.inference_mode():
            res = window_errors(self.model, torch.from_numpy(np.ascontiguousarray(x)), self.cfg.score_span).numpy()
        k = len(CLINICAL)
        sq, cnt = res[:, :k], res[:, k:]
        total = sq.sum(axis=1)
        scores = total / np.maximum(cnt.sum(axis=1), 1.0)
        contrib = np.zeros((x.shape[0], N_VITALS), dtype=np.float32)
        contrib[:, list(CLINICAL)] = sq / np.where(total > 0, total, 1.0)[:, None]
        return scores.astype(np.float32), contrib


def detector_from_state(state_dict: dict, cfg: ModelConfig, threshold: float, version: str) -> LstmDetector:
    model = build_model(cfg)
    model.load_state_dict(state_dict)
    return LstmDetector(model, cfg, threshold, version)


def load_detector(model_dir: Path | None = None, *, threads: int | None = None) -> LstmDetector:
    """Load an artefact dir (None: the committed default), refusing one made for other code.

    threads: if given, sets torch's intra-op threads (process-wide); the default leaves
    torch's setting alone so that importing or loading never grabs every core uninvited.
    """
    path = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
    art = read_artefact(path)
    try:
        cfg = ModelConfig(**art.model_config)
    except TypeError as exc:
        raise ArtefactError(f"{path}: model_config.json does not fit this code ({exc})") from None
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        state = torch.load(io.BytesIO((path / WEIGHTS).read_bytes()), weights_only=True)
        return detector_from_state(state, cfg, art.thresholds["threshold"], art.manifest["version"])
    except (RuntimeError, KeyError) as exc:
        raise ArtefactError(f"{path}: weights do not fit the model config ({exc})") from None
