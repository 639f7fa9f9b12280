"""The generator API: one patient's trace, or a cohort of independent patients."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .model import PatientTrace
from .plan import Plan, make_plan
from .render import render
from .scenarios import Scenario, get_scenario

DEFAULT_START_MS = 1_795_000_000_000
CHUNK = 1 << 17  # samples rendered at a time: bounds temporaries for 60-day runs


def device_name(index: int, prefix: str = "sim-") -> str:
    return f"{prefix}{index:05d}"


def patient_plan(
    index: int,
    *,
    hours: float,
    rate_hz: float,
    seed: int,
    scenario: str | Scenario = "default",
    start_ms: int = DEFAULT_START_MS,
    device_prefix: str = "sim-",
    segment: int = 0,
) -> Plan:
    return make_plan(
        index,
        hours=hours,
        rate_hz=rate_hz,
        seed=seed,
        scenario=get_scenario(scenario),
        start_ms=start_ms,
        device_id=device_name(index, device_prefix),
        segment=segment,
    )


def generate_patient(
    index: int,
    *,
    hours: float,
    rate_hz: float,
    seed: int,
    scenario: str | Scenario = "default",
    start_ms: int = DEFAULT_START_MS,
    device_prefix: str = "sim-",
) -> PatientTrace:
    """One patient's samples and ground-truth events; deterministic in (seed, index, arguments)."""
    plan = patient_plan(
        index, hours=hours, rate_hz=rate_hz, seed=seed, scenario=scenario, start_ms=start_ms,
        device_prefix=device_prefix,
    )
    return trace_from_plan(plan)


def trace_from_plan(plan: Plan) -> PatientTrace:
    vals, keeps = [], []
    for i0 in range(0, plan.n, CHUNK):
        v, k = render(plan, i0, min(plan.n, i0 + CHUNK))
        vals.append(v)
        keeps.append(k)
    values = np.concatenate(vals) if vals else np.empty((0, 7))
    keep = np.concatenate(keeps) if keeps else np.empty(0, bool)
    idx = np.nonzero(keep)[0].astype(np.int64)
    ts = plan.start_ms + np.round(idx * (1000.0 / plan.rate_hz)).astype(np.int64)
    return PatientTrace(plan.device_id, ts, idx, np.ascontiguousarray(values[keep]), plan.labels())


def generate_cohort(
    n: int,
    *,
    hours: float,
    rate_hz: float,
    seed: int,
    scenario: str | Scenario = "default",
    start_ms: int = DEFAULT_START_MS,
    device_prefix: str = "sim-",
    first_index: int = 0,
) -> Iterator[PatientTrace]:
    """Patients first_index .. first_index+n-1, generated lazily (one in memory at a time)."""
    sc = get_scenario(scenario)
    for i in range(first_index, first_index + n):
        yield generate_patient(
            i, hours=hours, rate_hz=rate_hz, seed=seed, scenario=sc, start_ms=start_ms, device_prefix=device_prefix
        )
