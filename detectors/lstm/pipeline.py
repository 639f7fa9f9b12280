"""`vitalstream train` end to end: data -> split -> fit -> calibrate -> evaluate -> artefact dir."""

from __future__ import annotations

import hashlib
import io
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import numpy as np
import torch

from .artefact import write_artefact
from .calibrate import calibrate_threshold, evaluate_events, score_traces
from .dataset import Trace, read_samples, simulate, trace_windows
from .decide import decision_constants
from .detector import LstmDetector
from .features import FEATURE_VERSION
from .model import ModelConfig
from .train import FitConfig, fit

RATES_HZ = (1 / 60, 1 / 15, 1 / 5, 1.0)  # consumer (1/min) to ward monitor (1 Hz): one model for all


@dataclass(frozen=True)
class TrainOptions:
    out: Path
    samples: Path | None = None
    hours: float = 24.0
    devices: int = 24
    seed: int = 7
    model: ModelConfig = ModelConfig()
    fit: FitConfig = FitConfig()
    stride: int = 2  # every 2nd window for training: neighbours overlap 59/60 anyway
    val_frac: float = 0.15
    calib_frac: float = 0.25  # held-out normal devices for the threshold
    target_false_per_day: float = 0.1  # alarm budget on held-out normal data
    # Extra simulated normal devices (seed + 2000) added to the held-out calibration split: a
    # budget of 0.1 alerts per patient-day cannot be resolved on 6 patient-days.
    calib_devices: int = 24
    eval_devices: int = 12  # deterioration-scenario devices for the evaluation figures (0: skip)


def _split(traces: list[Trace], seed: int, val_frac: float, calib_frac: float) -> tuple[list, list, list]:
    order = np.random.default_rng(seed).permutation(len(traces))
    n_val = max(1, int(round(len(traces) * val_frac)))
    n_cal = max(1, int(round(len(traces) * calib_frac)))
    pick = [traces[i] for i in order]
    return pick[n_val + n_cal :], pick[:n_val], pick[n_val : n_val + n_cal]


def _windows(traces: list[Trace], stride: int) -> np.ndarray:
    parts = [trace_windows(t, stride).windows for t in traces]
    parts = [p for p in parts if len(p)]
    if not parts:
        raise ValueError("no complete windows: the data is shorter than the warm-up (60 minutes with data)")
    return np.concatenate(parts)


def _git_commit() -> str | None:
    try:
        res = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).parent)
        return res.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def evaluate_cohort(det: LstmDetector, traces: list[Trace], kinds: tuple[str, ...] | None = None) -> dict:
    """Event-level figures of the detector alone on a labelled cohort (INTERFACE §6 matching)."""
    events = {t.device_id: t.events for t in traces}
    if kinds is None:
        kinds = tuple(sorted({e["kind"] for t in traces for e in t.events}))
    return evaluate_events(score_traces(det, traces), events, det.threshold, kinds)


def train_artefact(opts: TrainOptions, log: TextIO = sys.stderr, progress: TextIO | None = sys.stderr,
                   traces: list[Trace] | None = None, eval_traces: list[Trace] | None = None) -> Path:
    """Train, calibrate, evaluate and write the artefact dir; traces/eval_traces skip data generation."""
    t0 = time.perf_counter()
    simulated = traces is None and opts.samples is None  # only then are extra calibration devices simulated
    if traces is not None:
        provenance: dict = {"source": "given", "devices": len(traces), "hours": opts.hours, "seed": opts.seed,
                            "scenario": "normal", "rates_hz": list(RATES_HZ)}
    elif opts.samples is not None:
        traces = read_samples(opts.samples)
        provenance = {"source": "samples", "samples_file": str(opts.samples),
                            "samples_sha256": _sha256(opts.samples), "devices": len(traces)}
    else:
        print(f"simulating {opts.devices} normal devices x {opts.hours} h (seed {opts.seed})", file=log)
        traces = simulate(opts.devices, opts.hours, opts.seed, "normal", RATES_HZ)
        provenance = {"source": "simulator", "scenario": "normal", "devices": opts.devices, "hours": opts.hours,
                      "seed": opts.seed, "rates_hz": list(RATES_HZ)}
    train_tr, val_tr, cal_tr = _split(traces, opts.seed, opts.val_frac, opts.calib_frac)
    xtr, xval = _windows(train_tr, opts.stride), _windows(val_tr, opts.stride)
    print(f"windows: train {len(xtr)}, validation {len(xval)}; calibration devices {len(cal_tr)}", file=log)
    res = fit(xtr, xval, opts.model, opts.fit, progress)
    det = LstmDetector(res.model, opts.model, threshold=float("inf"), version="unversioned")
    if opts.calib_devices > 0 and simulated:
        cal_tr = cal_tr + simulate(opts.calib_devices, opts.hours, opts.seed + 2000, "normal", RATES_HZ)
    cal_series = score_traces(det, cal_tr)
    threshold, cal = calibrate_threshold(cal_series, opts.target_false_per_day)
    det.threshold = threshold
    print(f"threshold {threshold:.4f}: {cal['false_alerts_per_day']:.3f} false alerts/patient-day "
          f"on {cal['patient_days']:.1f} held-out normal patient-days", file=log)
    evaluation = None
    if eval_traces is not None or opts.eval_devices > 0:
        # 48 h per device: a deterioration (7-16 h labelled) needs room to fit in a trace
        ev_tr = eval_traces or simulate(opts.eval_devices, 48.0, opts.seed + 1000, "deterioration", RATES_HZ)
        evaluation = evaluate_cohort(det, ev_tr, ("deterioration",))
        evaluation["data"] = {"scenario": "deterioration", "devices": len(ev_tr), "hours": 48.0,
                              "seed": opts.seed + 1000}
        d = evaluation["deterioration"]
        print(f"deterioration: recall {d['recall']:.2f} over {d['events']} events, precision "
              f"{evaluation['precision']:.2f}, F1 {d['f1']:.2f}, {evaluation['false_alerts_per_day']:.2f} "
              "false alerts/patient-day", file=log)
    buf = io.BytesIO()
    torch.save(res.model.state_dict(), buf)
    weights = buf.getvalue()
    version = f"lstm-{opts.model.kind}-f{FEATURE_VERSION}-s{opts.seed}-{hashlib.sha256(weights).hexdigest()[:8]}"
    provenance.update({
        "split": {"train_devices": len(train_tr), "val_devices": len(val_tr), "calibration_devices": len(cal_tr),
                  "extra_calibration_seed": opts.seed + 2000 if opts.calib_devices and simulated else None,
                  "stride": opts.stride},
        "command": " ".join(sys.argv), "git_commit": _git_commit(), "created_at": datetime.now(UTC).isoformat(),
        "torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version(),
        "torch_threads": torch.get_num_threads(),
    })
    metrics = {**res.metrics(opts.fit), "windows": {"train": len(xtr), "val": len(xval)},
               "calibration": cal, "evaluation": evaluation, "seconds": round(time.perf_counter() - t0, 1)}
    docs = {"model_config.json": opts.model.to_dict(),
            "thresholds.json": {"threshold": threshold, "decision": decision_constants(), "calibration": cal},
            "metrics.json": metrics, "provenance.json": provenance}
    out = write_artefact(opts.out, version=version, weights=weights, docs=docs)
    print(f"wrote {out} ({version})", file=log)
    return out
