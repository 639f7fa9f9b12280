"""Autoencoder vs forecaster, measured: `python -m detectors.lstm.compare --out DIR`.

Trains each variant on the same normal cohort, calibrates each to the same alarm budget,
then measures on the same held-out cohorts: the deterioration scenario (recall, precision,
F1, delay), the default event mix (false alerts per patient-day, recall per kind) and
inference speed at batch 64/512 on one thread, next to a reference LSTM timed in the same
run (the CEILINGS forecaster 2x64, 22K windows/s on a quiet machine) so numbers taken on a
busy machine can still be compared. Writes DIR/<variant>/ artefacts and DIR/compare-<variant>.json;
variants can run as separate processes (--variants ae-mlp).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from .dataset import simulate
from .detector import load_detector
from .model import ModelConfig
from .pipeline import RATES_HZ, TrainOptions, evaluate_cohort, train_artefact
from .train import FitConfig

VARIANTS = {
    "ae-lstm": ModelConfig(kind="autoencoder", hidden=32, latent=8, decoder="lstm", score_span=60),
    "ae-mlp": ModelConfig(kind="autoencoder", hidden=32, latent=8, decoder="mlp", score_span=60),
    "forecaster": ModelConfig(kind="forecaster", hidden=32, score_span=30),
}


def _rate(fn, x: torch.Tensor | np.ndarray, seconds: float = 1.5) -> float:
    fn(x)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn(x)
        n += x.shape[0]
    return n / (time.perf_counter() - t0)


def reference_rate() -> float:
    """The CEILINGS forecaster (2x64 LSTM over 60x7, batch 256) timed now, on one thread."""
    ref = torch.nn.LSTM(7, 64, num_layers=2, batch_first=True).eval()
    with torch.inference_mode():
        return _rate(ref, torch.randn(256, 60, 7))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--devices", type=int, default=48)
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--eval-devices", type=int, default=24)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--threads", type=int, default=1, help="torch threads for training (as `train --threads`)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    log = sys.stderr
    print("simulating cohorts", file=log)
    normal = simulate(args.devices, args.hours, args.seed, "normal", RATES_HZ)
    deter = simulate(args.eval_devices, 48.0, args.seed + 1000, "deterioration", RATES_HZ)
    mixed = simulate(args.eval_devices, 24.0, args.seed + 2000, "default", RATES_HZ)
    results = {}
    for name in args.variants.split(","):
        opts = TrainOptions(out=args.out / name, hours=args.hours, devices=args.devices, seed=args.seed,
                            model=VARIANTS[name], fit=replace(FitConfig(), epochs=args.epochs, seed=args.seed),
                            eval_devices=0)
        print(f"== {name}", file=log)
        t0 = time.perf_counter()
        train_artefact(opts, log=log, progress=None, traces=normal, eval_traces=deter)
        train_s = time.perf_counter() - t0
        det = load_detector(args.out / name)
        torch.set_num_threads(1)
        windows = np.random.default_rng(0).normal(0, 1, (512, 60, 14)).astype(np.float32)
        windows[:, :, 7:] = 0.0
        speed = {str(b): _rate(det.score_batch, windows[:b]) for b in (64, 512)}
        ref = reference_rate()
        torch.set_num_threads(args.threads)
        metrics = json.loads((args.out / name / "metrics.json").read_text())
        results = {name: {}}
        results[name] = {
            "model": VARIANTS[name].to_dict(), "version": det.version, "threshold": det.threshold,
            "best_val_loss": metrics["best_val_loss"], "best_epoch": metrics["best_epoch"],
            "train_seconds": round(train_s, 1),
            "deterioration": metrics["evaluation"],
            "default_mix": evaluate_cohort(det, mixed),
            "windows_per_s": speed, "reference_windows_per_s": ref,
            "windows_per_s_512_quiet_estimate": speed["512"] / ref * 22_000,
        }
        d = results[name]["deterioration"]
        m = results[name]["default_mix"]
        print(f"{name}: deterioration recall {d['deterioration']['recall']:.2f} F1 {d['deterioration']['f1']:.2f} "
              f"fa/day {d['false_alerts_per_day']:.2f}; default mix fa/day {m['false_alerts_per_day']:.2f}; "
              f"{speed['512']:.0f} w/s at 512 (ref {ref:.0f})", file=log)
        (args.out / f"compare-{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
