"""The two candidate networks and the error that scores a window.

Both take a window (B, W, 14) of z-values + masks (features.py) and are scored on the six
clinical vitals only; activity (and its mask) is an exogenous input they may use to
explain a raised HR, never a target.

- LstmAutoencoder: an encoder LSTM squeezes the window into a small latent vector; a
  decoder LSTM rebuilds the six vitals from it, given the activity at each step.
  Trained on normal data, it cannot rebuild a sustained multi-vital departure from the
  patient's baseline: that is the reconstruction error we score.
- LstmForecaster: one LSTM predicts each next step from the steps before it (and the
  next step's activity); scored on the last `score_span` one-step errors. About half the
  work of the autoencoder (see ../shared/CEILINGS.md), but it tends to follow a slow drift.

torch is imported here only; the state/decision code never needs it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from .features import ACTIVITY, CLINICAL, N_FEATURES, N_VITALS, WINDOW

EXO = [ACTIVITY, N_VITALS + ACTIVITY]  # activity value and its mask
TARGETS = list(CLINICAL)
TARGET_MASKS = [N_VITALS + i for i in CLINICAL]


@dataclass(frozen=True)
class ModelConfig:
    kind: str = "autoencoder"  # "autoencoder" | "forecaster"
    hidden: int = 32
    latent: int = 8  # autoencoder bottleneck
    decoder: str = "lstm"  # autoencoder decoder: "lstm" (recurrent) | "mlp" (per step, ~2x faster)
    score_span: int = 60  # steps at the end of the window whose errors form the score
    # Grid steps per recurrent step (autoencoder only): the window's minutes are packed
    # side by side into the channels, so an hour is 60 / pack recurrent steps instead of 60.
    # The per-step cost of these small LSTMs is fixed overhead and elementwise gate work, not
    # matmul, so fewer steps is the cheapest speed-up; every minute is still encoded and
    # rebuilt (and scored) individually.
    pack: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


class LstmAutoencoder(nn.Module):
    """Decoder input per step: [latent, activity, activity mask, position in window (mlp only)]."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.recurrent = cfg.decoder == "lstm"
        if cfg.decoder not in ("lstm", "mlp"):
            raise ValueError(f"unknown decoder {cfg.decoder!r} (expected 'lstm' or 'mlp')")
        if cfg.pack < 1 or WINDOW % cfg.pack:
            raise ValueError(f"pack must divide the window ({WINDOW} steps), got {cfg.pack}")
        self.pack = k = cfg.pack
        self.encoder = nn.LSTM(N_FEATURES * k, cfg.hidden, batch_first=True)
        self.to_latent = nn.Linear(cfg.hidden, cfg.latent)
        dec_in = cfg.latent + len(EXO) * k + (0 if self.recurrent else 1)
        if self.recurrent:
            self.decoder = nn.LSTM(dec_in, cfg.hidden, batch_first=True)
        else:
            self.decoder = nn.Sequential(nn.Linear(dec_in, cfg.hidden), nn.Tanh())
        self.head = nn.Linear(cfg.hidden, len(TARGETS) * k)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, W, F) -> (prediction (B, W, 6), target (B, W, 6)); target rows are x's own."""
        b, k = x.shape[0], self.pack
        steps = x.shape[1] // k  # recurrent steps: `pack` consecutive minutes side by side
        _, (h, _) = self.encoder(x.reshape(b, steps, -1))
        latent = torch.tanh(self.to_latent(h[-1]))
        parts = [latent.unsqueeze(1).expand(-1, steps, -1), x[:, :, EXO].reshape(b, steps, -1)]
        if self.recurrent:
            out, _ = self.decoder(torch.cat(parts, dim=2))
        else:
            pos = torch.linspace(-1.0, 1.0, steps, dtype=x.dtype).view(1, steps, 1).expand(b, -1, -1)
            out = self.decoder(torch.cat([*parts, pos], dim=2))
        return self.head(out).reshape(b, steps * k, -1), x[:, :, TARGETS]


class LstmForecaster(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.rnn = nn.LSTM(N_FEATURES + len(EXO), cfg.hidden, batch_first=True)
        self.head = nn.Linear(cfg.hidden, len(TARGETS))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Predict steps 1..W-1 from steps 0..W-2 plus each predicted step's activity."""
        inp = torch.cat([x[:, :-1], x[:, 1:, EXO]], dim=2)
        out, _ = self.rnn(inp)
        return self.head(out), x[:, 1:, TARGETS]


def build_model(cfg: ModelConfig) -> nn.Module:
    if cfg.kind == "autoencoder":
        return LstmAutoencoder(cfg)
    if cfg.kind == "forecaster":
        if cfg.pack != 1:
            raise ValueError("pack applies to the autoencoder only (the forecaster predicts each next minute)")
        return LstmForecaster(cfg)
    raise ValueError(f"unknown model kind {cfg.kind!r} (expected 'autoencoder' or 'forecaster')")


def observed_mask(x: torch.Tensor, steps: int) -> torch.Tensor:
    """1 where a target vital was observed, aligned with the last `steps` rows of the window."""
    return 1.0 - x[:, -steps:, TARGET_MASKS]


def training_loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Masked mean squared error over every predicted step (missing entries do not count)."""
    pred, target = model(x)
    mask = observed_mask(x, pred.shape[1])
    return (((pred - target) ** 2) * mask).sum() / mask.sum().clamp_min(1.0)


def window_errors(model: nn.Module, x: torch.Tensor, score_span: int) -> torch.Tensor:
    """Per-window, per-vital sum of squared errors over the last score_span steps: (B, 6), and counts."""
    pred, target = model(x)
    span = min(score_span, pred.shape[1])
    mask = observed_mask(x, span)
    sq = ((pred[:, -span:] - target[:, -span:]) ** 2) * mask
    return torch.cat([sq.sum(dim=1), mask.sum(dim=1)], dim=1)
