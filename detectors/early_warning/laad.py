"""The LSTM-autoencoder alternative (after Bogu & Snyder 2021, LAAD), for comparison only.

    python -m detectors.early_warning.laad --people 50 --days 60 [--seed 1]

LAAD ("Deep learning-based detection of COVID-19 using wearables data", medRxiv 2021)
trains, per person, an LSTM autoencoder on hourly resting HR from a healthy baseline and
flags hours whose reconstruction error exceeds a threshold calibrated on that baseline.
Here: the same hourly resting HR our detector extracts (evaluate_ew.extract_hourly),
standardised per person on the first `train_days`, with hour-of-day (sin, cos) inputs,
windows of 24 h; an hour is anomalous when the window's error exceeds mean + c·sd of the
training errors and the last 12 h sit above their reconstruction (illness raises RHR);
an alert opens when >= `persist` of the last 24 hours are anomalous and clears after a
quiet day - the same "at most one open" lifecycle as the CuSum detector, so
evaluate_ew.score compares like with like. Offline and per person: it needs a training
phase and torch, which is why it is not in the streaming path (docs/early_warning.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np

from .config import HOUR_MS
from .evaluate_ew import Trace, extract_hourly, score, sim_traces, synth_traces

WINDOW = 24


def _series(hourly: list[tuple[int, float]]) -> tuple[int, np.ndarray]:
    h0 = hourly[0][0]
    x = np.full(hourly[-1][0] - h0 + 1, np.nan)
    for h, v in hourly:
        x[h - h0] = v
    return h0, x


def _windows(z: np.ndarray, tod: np.ndarray, ends: np.ndarray) -> np.ndarray:
    idx = ends[:, None] + np.arange(-WINDOW + 1, 1)[None, :]
    feats = np.stack([z[idx], np.sin(2 * np.pi * tod[idx] / 24), np.cos(2 * np.pi * tod[idx] / 24)], axis=-1)
    return feats.astype(np.float32)


def laad_scores(hourly: list[tuple[int, float]], train_days: int, seed: int, epochs: int = 40) -> dict[str, np.ndarray]:
    """Per-hour reconstruction error and signed residual, after training on the first train_days."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    h0, x = _series(hourly)
    observed = ~np.isnan(x)
    filled = x.copy()
    # forward-fill gaps (the model sees the last known value), then back-fill the start
    last = np.nan
    for i in range(len(filled)):
        if np.isnan(filled[i]):
            filled[i] = last
        else:
            last = filled[i]
    filled[np.isnan(filled)] = np.nanmean(x)
    ntrain = train_days * 24
    mu, sd = np.nanmean(x[:ntrain]), max(np.nanstd(x[:ntrain]), 1.0)
    z = (filled - mu) / sd
    tod = (np.arange(len(x)) + h0) % 24
    ends = np.arange(WINDOW - 1, len(x))
    train_ends = ends[ends < ntrain]
    xtr = torch.from_numpy(_windows(z, tod, train_ends))

    class AE(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = nn.LSTM(3, 16, batch_first=True)
            self.dec = nn.LSTM(16, 16, batch_first=True)
            self.out = nn.Linear(16, 1)

        def forward(self, w: torch.Tensor) -> torch.Tensor:
            _, (h, _) = self.enc(w)
            rep = h[-1].unsqueeze(1).repeat(1, w.shape[1], 1)
            y, _ = self.dec(rep)
            return self.out(y).squeeze(-1)

    model = AE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(xtr), generator=gen)
        for i in range(0, len(xtr), 64):
            b = xtr[perm[i : i + 64]]
            loss = ((model(b) - b[:, :, 0]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        w = torch.from_numpy(_windows(z, tod, ends))
        rec = model(w).numpy()
    actual = w[:, :, 0].numpy()
    err = ((rec - actual) ** 2).mean(axis=1)
    resid = (actual - rec)[:, -12:].mean(axis=1) * sd  # bpm above the reconstruction, last 12 h
    train_err = err[ends < ntrain]
    return {
        "hour": ends + h0,
        "err": err,
        "resid": resid,
        "observed": observed[ends],
        "thr_mu": np.array(train_err.mean()),
        "thr_sd": np.array(train_err.std()),
        "train_end_hour": np.array(h0 + ntrain),
    }


def laad_openings(sc: dict[str, np.ndarray], c: float, persist: int) -> list[int]:
    thr = float(sc["thr_mu"]) + c * float(sc["thr_sd"])
    anomalous = (sc["err"] > thr) & (sc["resid"] > 0) & sc["observed"] & (sc["hour"] >= sc["train_end_hour"])
    openings: list[int] = []
    is_open = False
    opened = 0
    recent: list[int] = []
    for h, a in zip(sc["hour"].tolist(), anomalous.tolist()):
        if a:
            recent.append(h)
        while recent and recent[0] <= h - 24:
            recent.pop(0)
        if not is_open and len(recent) >= persist:
            is_open, opened = True, h
            openings.append((h + 1) * HOUR_MS)  # known when the hour closes
        elif is_open and not recent and h - opened >= 24:
            is_open = False
    return openings


def compare(traces: list[Trace], train_days: int, grid: list[tuple[float, int]], seed: int) -> list[dict[str, Any]]:
    scored = []
    t0 = time.perf_counter()
    for k, tr in enumerate(traces, 1):
        scored.append((tr, laad_scores(extract_hourly(tr), train_days, seed + k)))
        print(f"\r[laad] trained {k}/{len(traces)} ({time.perf_counter() - t0:.0f} s)", end="", file=sys.stderr)
    print(file=sys.stderr)
    out = []
    for c, persist in grid:
        res = score([(tr, laad_openings(sc, c, persist)) for tr, sc in scored])
        res.update({"method": "laad", "c": c, "persist": persist})
        out.append(res)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m detectors.early_warning.laad", description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=50)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--train-days", type=int, default=14)
    ap.add_argument("--source", choices=("synth", "sim"), default="sim")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    src = synth_traces if args.source == "synth" else sim_traces
    traces = list(src(args.people, args.days, args.seed))
    grid = [(c, p) for c in (2.0, 3.0, 4.0, 6.0) for p in (6, 12)]
    for row in compare(traces, args.train_days, grid, args.seed):
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
