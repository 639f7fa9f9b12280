"""The committed default artefact: loads, is small, and behaves like a detector should."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from detectors.lstm import N_FEATURES, WINDOW, load_detector
from detectors.lstm.artefact import DEFAULT_MODEL_DIR
from detectors.lstm.cli import register


def test_default_artefact_loads_and_is_small():
    det = load_detector()
    assert det.version.startswith("lstm-") and np.isfinite(det.threshold) and det.threshold > 0
    size = sum(p.stat().st_size for p in Path(DEFAULT_MODEL_DIR).iterdir() if p.is_file())
    assert size < 1_000_000  # "well under 5 MB"


def _window(hr_z: float, activity: float, drift: bool = False) -> np.ndarray:
    w = np.zeros((WINDOW, N_FEATURES), np.float32)
    w[:, 11:13] = 1.0  # BP not measured in this window
    if drift:  # a sustained multi-vital departure: HR, RR, temp up, SpO2 down
        ramp = np.linspace(0, 1, WINDOW)
        w[:, 0], w[:, 1], w[:, 2], w[:, 3] = 4 * ramp, -4 * ramp, 4 * ramp, 4 * ramp
    w[-20:, 0] += hr_z
    w[-20:, 2] += hr_z / 2
    w[-20:, 6] = activity
    return w


def test_default_model_scores_a_drift_above_rest_and_activity_explains_exertion():
    det = load_detector()
    x = np.stack([_window(0, 0), _window(4, 1.0), _window(4, 0), _window(0, 0, drift=True)])
    scores, contrib = det.score_batch(x)
    rest, exertion, unexplained, drift = scores
    assert drift > 3 * rest and drift > det.threshold
    assert exertion < unexplained  # the same HR rise costs less when the patient is moving
    assert contrib[3][[0, 1, 2, 3]].sum() > 0.8  # the drifting vitals carry the error


def test_train_subcommand_registers_with_documented_flags():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="command")
    register(sub)
    args = ap.parse_args(["train", "--hours", "2", "--devices", "3", "--seed", "5", "--out", "x", "--epochs", "1",
                          "--samples", "s.jsonl"])
    assert (args.hours, args.devices, args.seed, args.epochs) == (2.0, 3, 5, 1)
    assert args.out == Path("x") and args.samples == Path("s.jsonl") and callable(args.func)
