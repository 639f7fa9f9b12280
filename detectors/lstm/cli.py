"""`vitalstream train`: train the LSTM detector on normal data and write an artefact dir."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train the LSTM anomaly detector on normal data",
                              description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=Path, default=None,
                   help="recorded normal samples (JSON Lines or CSV, .gz ok); default: simulate scenario 'normal'")
    p.add_argument("--hours", type=float, default=24.0, help="simulated hours per device (default 24)")
    p.add_argument("--devices", type=int, default=24, help="simulated devices (default 24)")
    p.add_argument("--seed", type=int, default=7, help="seed for data, split, init and shuffling (default 7)")
    p.add_argument("--out", type=Path, default=Path("lstm-model"), help="artefact directory to write")
    p.add_argument("--epochs", type=int, default=8,
                   help="maximum epochs (default 8; early stopping on validation; longer fits rebuild drifts "
                        "too well, see docs/lstm.md)")
    p.add_argument("--kind", choices=("autoencoder", "forecaster"), default="autoencoder")
    p.add_argument("--decoder", choices=("lstm", "mlp"), default="lstm", help="autoencoder decoder")
    p.add_argument("--hidden", type=int, default=16, help="LSTM hidden units (default 16: as good as 32 here, half the cost)")
    p.add_argument("--latent", type=int, default=8, help="autoencoder bottleneck size")
    p.add_argument("--pack", type=int, default=1,
                   help="minutes per recurrent step (autoencoder; default 1; 2-3 are faster but missed deteriorations, docs/lstm.md)")
    p.add_argument("--target-false-per-day", type=float, default=0.1,
                   help="false alerts per patient-day allowed on held-out normal data (sets the threshold)")
    p.add_argument("--calib-devices", type=int, default=24,
                   help="extra simulated normal devices for threshold calibration (default 24; simulator only)")
    p.add_argument("--eval-devices", type=int, default=12,
                   help="simulated deterioration devices to evaluate on after training (0: skip)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: object) -> int:
    import torch

    from .model import ModelConfig
    from .pipeline import TrainOptions, train_artefact
    from .train import FitConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    span = 60 if args.kind == "autoencoder" else 30
    opts = TrainOptions(
        out=args.out, samples=args.samples, hours=args.hours, devices=args.devices, seed=args.seed,
        model=ModelConfig(kind=args.kind, hidden=args.hidden, latent=args.latent, decoder=args.decoder, score_span=span,
                          pack=args.pack if args.kind == "autoencoder" else 1),
        fit=FitConfig(epochs=args.epochs, seed=args.seed),
        target_false_per_day=args.target_false_per_day, eval_devices=args.eval_devices,
        calib_devices=args.calib_devices,
    )
    train_artefact(opts)
    return 0
