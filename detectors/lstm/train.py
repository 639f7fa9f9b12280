"""Fitting a model on windows of normal data: seeded, early-stopped on a validation split."""

from __future__ import annotations

import copy
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import TextIO

import numpy as np
import torch

from .model import ModelConfig, build_model, training_loss


@dataclass(frozen=True)
class FitConfig:
    epochs: int = 8  # the shipped recipe; longer fits rebuild slow drifts too (docs/lstm.md)
    batch: int = 256
    lr: float = 2e-3
    patience: int = 4  # epochs without a better validation loss before stopping
    min_delta: float = 1e-4  # relative improvement that counts as better
    seed: int = 7


@dataclass
class FitResult:
    model: torch.nn.Module
    best_epoch: int
    best_val_loss: float
    history: list[dict] = field(default_factory=list)  # per epoch: train_loss, val_loss, seconds

    def metrics(self, cfg: FitConfig) -> dict:
        return {"fit": asdict(cfg), "best_epoch": self.best_epoch, "best_val_loss": self.best_val_loss,
                "history": self.history}


class Progress:
    """A one-line progress bar on stderr (no dependency); silent when disabled."""

    def __init__(self, total: int, label: str, stream: TextIO | None = sys.stderr, width: int = 30):
        self.total, self.label, self.stream, self.width, self.done = max(total, 1), label, stream, width, 0
        self.shown = -1
        self.live = stream is not None and stream.isatty()  # a log file gets one line per epoch

    def update(self, n: int, note: str = "") -> None:
        self.done += n
        frac = min(self.done / self.total, 1.0)
        if not self.live or int(frac * 50) == self.shown:  # redraw every 2 %, not every batch
            return
        self.shown = int(frac * 50)
        bar = "#" * int(frac * self.width)
        self.stream.write(f"\r{self.label} [{bar:<{self.width}}] {frac:4.0%} {note}")
        self.stream.flush()

    def close(self, note: str = "") -> None:
        if self.stream is not None:
            self.stream.write(f"\r{self.label} [{'#' * self.width}] 100% {note}\n")
            self.stream.flush()


def _eval_loss(model: torch.nn.Module, x: torch.Tensor, batch: int = 2048) -> float:
    model.eval()
    total, n = 0.0, 0
    with torch.inference_mode():
        for i in range(0, x.shape[0], batch):
            xb = x[i : i + batch]
            total += float(training_loss(model, xb)) * xb.shape[0]
            n += xb.shape[0]
    return total / max(n, 1)


def fit(train: np.ndarray, val: np.ndarray, mcfg: ModelConfig, fcfg: FitConfig,
        progress: TextIO | None = sys.stderr) -> FitResult:
    """Train on windows (N, W, F); keep the weights of the best validation epoch."""
    torch.manual_seed(fcfg.seed)
    rng = np.random.default_rng(fcfg.seed)
    model = build_model(mcfg)
    opt = torch.optim.Adam(model.parameters(), lr=fcfg.lr)
    xt, xv = torch.from_numpy(np.ascontiguousarray(train)), torch.from_numpy(np.ascontiguousarray(val))
    best, best_state, best_epoch, stale, history = np.inf, copy.deepcopy(model.state_dict()), 0, 0, []
    for epoch in range(1, fcfg.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        order = torch.from_numpy(rng.permutation(xt.shape[0]))
        bar = Progress(xt.shape[0], f"{mcfg.kind} epoch {epoch:>2}/{fcfg.epochs}", progress)
        run, seen = 0.0, 0
        for i in range(0, xt.shape[0], fcfg.batch):
            xb = xt[order[i : i + fcfg.batch]]
            loss = training_loss(model, xb)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # LSTMs on rare large z-values
            opt.step()
            run += loss.item() * xb.shape[0]
            seen += xb.shape[0]
            bar.update(xb.shape[0], f"loss {run / seen:.4f}")
        val_loss = _eval_loss(model, xv)
        history.append({"epoch": epoch, "train_loss": run / max(seen, 1), "val_loss": val_loss,
                        "seconds": round(time.perf_counter() - t0, 2)})
        bar.close(f"loss {run / max(seen, 1):.4f} val {val_loss:.4f}")
        if val_loss < best * (1 - fcfg.min_delta):
            best, best_state, best_epoch, stale = val_loss, copy.deepcopy(model.state_dict()), epoch, 0
        else:
            stale += 1
            if stale >= fcfg.patience:
                break
    model.load_state_dict(best_state)
    return FitResult(model.eval(), best_epoch, float(best), history)
