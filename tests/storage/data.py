"""Deterministic synthetic vitals for storage tests."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from vitalstream.records import METRICS, Sample


def now_minute_ms() -> int:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return int(now.timestamp()) * 1000


def make_samples(
    devices: int, per_device: int, *, end_ms: int, span_s: int, seed: int = 1, null_rate: float = 0.2
) -> list[Sample]:
    """Irregularly spaced samples ending before end_ms, each metric missing at null_rate,
    some timestamps with millisecond parts and some falling exactly on bucket edges."""
    rng = random.Random(seed)
    out: list[Sample] = []
    for d in range(devices):
        device = f"dev-{d:03d}"
        times = sorted(rng.randrange(end_ms - span_s * 1000, end_ms) for _ in range(per_device))
        for seq, ts in enumerate(times):
            if rng.random() < 0.05:
                ts -= ts % 60_000  # exactly on a minute edge
            values = {m: (None if rng.random() < null_rate else round(rng.uniform(0, 200), 3)) for m in METRICS}
            if all(v is None for v in values.values()):
                values["hr"] = 70.0
            out.append(Sample(device, seq, ts, **values))
    rng.shuffle(out)
    return out


def ms(dt: datetime) -> int:
    return (dt - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
