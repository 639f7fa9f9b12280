"""PNG plots of an evaluation: one patient's timeline, and the detection-delay distribution."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vitalstream.records import METRICS

from .evaluate import Evaluation
from .matching import Truth
from .series import DeviceSeries

PANELS = (("hr", "HR (bpm)"), ("spo2", "SpO2 (%)"), ("rr", "RR (/min)"), ("temp", "Temp (°C)"), ("sbp", "SBP (mmHg)"),
          ("activity", "Activity (g)"))


def _pick_device(series: dict[str, DeviceSeries], events: Sequence[Truth], ev: Evaluation) -> str:
    """The device with the most events (ties: most alerts), so the plot shows something."""
    score: dict[str, tuple[int, int]] = {d: (0, 0) for d in series}
    for e in events:
        if e.device_id in score:
            score[e.device_id] = (score[e.device_id][0] + 1, score[e.device_id][1])
    for a in ev.alerts.get("combined", []):
        if a.device_id in score:
            score[a.device_id] = (score[a.device_id][0], score[a.device_id][1] + 1)
    return max(sorted(score), key=lambda d: score[d])


def timeline(path: Path, s: DeviceSeries, events: Sequence[Truth], ev: Evaluation) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = int(s.ts_ms[0])
    hours = (s.ts_ms - t0) / 3_600_000
    present = [(m, label) for m, label in PANELS if not np.all(np.isnan(s.values[:, METRICS.index(m)]))]
    fig, axes = plt.subplots(len(present), 1, figsize=(13, 1.6 * len(present) + 1.2), sharex=True, squeeze=False)
    mine = [e for e in events if e.device_id == s.device_id]
    colours = {}
    palette = plt.get_cmap("tab10")
    for ax, (m, label) in zip(axes[:, 0], present):
        col = s.values[:, METRICS.index(m)]
        ok = ~np.isnan(col)
        if m in ("sbp", "dbp"):  # intermittent cuff readings: points, not a line
            ax.plot(hours[ok], col[ok], ls="none", color="0.25", marker=".", ms=3)
        else:  # break the line across gaps instead of drawing straight through them
            h, c = hours[ok], col[ok]
            if h.size > 1:
                step = float(np.median(np.diff(h)))
                cut = np.flatnonzero(np.diff(h) > 5 * step) + 1
                h, c = np.insert(h, cut, np.nan), np.insert(c, cut, np.nan)
            ax.plot(h, c, lw=0.6, color="0.25")
        ax.set_ylabel(label, fontsize=8)
        for e in mine:
            ax.axvspan((e.start_ms - t0) / 3.6e6, (e.end_ms - t0) / 3.6e6, color="tab:orange", alpha=0.18, lw=0)
        for det, alerts in ev.alerts.items():
            if det == "combined":
                continue
            colours.setdefault(det, palette(len(colours)))
            for a in alerts:
                if a.device_id == s.device_id:
                    ax.axvline((a.opened_ms - t0) / 3.6e6, color=colours[det], lw=1.0, alpha=0.9)
    top = axes[0, 0]
    for e in mine:
        top.annotate(e.kind, ((e.start_ms - t0) / 3.6e6, 1.0), xycoords=("data", "axes fraction"),
                     fontsize=7, va="bottom", rotation=20)
    handles = [plt.Line2D([], [], color=c, lw=1.5, label=f"{d} alert") for d, c in colours.items()]
    handles.append(plt.matplotlib.patches.Patch(color="tab:orange", alpha=0.3, label="labelled event"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    axes[-1, 0].set_xlabel("hours since first sample")
    fig.suptitle(f"{s.device_id}: events and alerts", fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 0.95))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def delay_distribution(path: Path, ev: Evaluation) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    data = {name: np.asarray(m.get("delays_s", []), float) / 60 for name, m in ev.detectors.items()}
    data = {k: v for k, v in data.items() if v.size}
    if data:
        hi = max(float(np.percentile(v, 98)) for v in data.values()) or 1.0
        bins = np.linspace(0, max(hi, 1.0), 30)
        for name, v in data.items():
            ax.hist(np.clip(v, 0, bins[-1]), bins=bins, histtype="step", lw=1.5,
                    label=f"{name} (n={v.size}, median {np.median(v):.1f} min)")
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no detected events", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("detection delay (minutes from event start to first alert)")
    ax.set_ylabel("events")
    ax.set_title("Detection delay per detector")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_plots(out_dir: Path, series: dict[str, DeviceSeries], events: Sequence[Truth], ev: Evaluation,
                device: str | None = None) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    if series:
        dev = device if device in series else _pick_device(series, events, ev)
        p = out_dir / f"timeline_{dev}.png"
        timeline(p, series[dev], events, ev)
        paths.append(p)
    p = out_dir / "delays.png"
    delay_distribution(p, ev)
    paths.append(p)
    return paths
