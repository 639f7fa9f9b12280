"""A picture of one simulated patient-day with its labelled events shaded (docs/img/simulated_day.png).

    python -m simulators.plot docs/img/simulated_day.png [--seed 4] [--index 0]
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

import numpy as np

from .model import PatientTrace
from .patient import patient_plan, trace_from_plan
from .scenarios import Scenario

# A busier day than the default mix, so that one picture shows most event kinds.
SHOWCASE = Scenario(
    "showcase",
    {"desaturation": 1.5, "tachycardia": 1.0, "bradycardia": 0.7, "fever": 1.0, "hypotension": 0.8,
     "arrhythmia": 1.0, "sensor_off": 1.0},
)
COLOURS = {
    "desaturation": "tab:blue", "tachycardia": "tab:red", "bradycardia": "tab:purple", "fever": "tab:orange",
    "hypotension": "tab:brown", "deterioration": "tab:pink", "arrhythmia": "tab:olive", "sensor_off": "tab:gray",
    "infection": "tab:cyan",
}


def plot_day(trace: PatientTrace, path: str, sleep: list[tuple[float, float]] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    times = np.array([datetime.fromtimestamp(t / 1000, UTC) for t in trace.ts_ms.tolist()])
    panels = [("hr", "HR (bpm)"), ("spo2", "SpO2 (%)"), ("rr", "RR (/min)"), ("temp", "Temp (°C)"),
              ("bp", "BP (mmHg)"), ("activity", "Activity (g)")]
    fig, axes = plt.subplots(len(panels), 1, figsize=(14, 12), sharex=True)
    for ax, (metric, label) in zip(axes, panels):
        if metric == "bp":
            for m, mk in (("sbp", "v"), ("dbp", "^")):
                y = trace.column(m)
                ok = ~np.isnan(y)
                ax.plot(times[ok], y[ok], mk, ms=3, color="black", label=m)
        else:
            ax.plot(times, trace.column(metric), lw=0.4, color="black")
        ax.set_ylabel(label)
        for lo, hi in sleep or []:
            ax.axvspan(datetime.fromtimestamp(lo, UTC), datetime.fromtimestamp(hi, UTC), color="0.85", lw=0)
        for e in trace.events:
            ax.axvspan(datetime.fromtimestamp(e.start_ms / 1000, UTC), datetime.fromtimestamp(e.end_ms / 1000, UTC),
                       color=COLOURS.get(e.kind, "tab:green"), alpha=0.25, lw=0)
    axes[1].set_ylim(75, 101)
    for e in trace.events:
        axes[0].annotate(f"{e.kind} ({e.severity})", (datetime.fromtimestamp(e.start_ms / 1000, UTC), 1.02),
                         xycoords=("data", "axes fraction"), fontsize=7, rotation=20,
                         color=COLOURS.get(e.kind, "tab:green"))
    axes[-1].xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    axes[-1].set_xlabel("time of day (UTC); grey = asleep, colours = labelled events")
    fig.suptitle(f"One simulated patient-day ({trace.device_id}, 1 Hz): vitals with ground-truth events", y=0.995)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--index", type=int, default=0)
    args = p.parse_args(argv)
    start_ms = 1_795_046_400_000  # 00:00 UTC, so the day reads midnight to midnight
    plan = patient_plan(args.index, hours=24, rate_hz=1.0, seed=args.seed, scenario=SHOWCASE, start_ms=start_ms)
    trace = trace_from_plan(plan)
    sleep = [(start_ms / 1000 + max(s, 0.0), start_ms / 1000 + min(e, 86400.0))
             for s, e in zip(plan.sleep.start, plan.sleep.end) if e > 0 and s < 86400]
    plot_day(trace, args.out, sleep)
    print(f"wrote {args.out}: {len(trace):,} samples, events: {', '.join(e.kind for e in trace.events)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
