"""A simulated, labelled cohort in memory (no files): for tuning, tests and the targets."""

from __future__ import annotations

from typing import Any

from .matching import Truth, truths_from_events
from .series import DeviceSeries, from_trace


def simulated(n: int, *, hours: float, rate_hz: float, seed: int, scenario: Any = "default",
              first_index: int = 0) -> tuple[dict[str, DeviceSeries], list[Truth]]:
    from simulators import generate_cohort

    series: dict[str, DeviceSeries] = {}
    events: list[Truth] = []
    for trace in generate_cohort(n, hours=hours, rate_hz=rate_hz, seed=seed, scenario=scenario,
                                 first_index=first_index):
        series[trace.device_id] = from_trace(trace)
        events += truths_from_events(trace.events)
    return series, events
