"""Heart-rhythm irregularity from the HR series alone (no ECG on a wrist wearable).

Atrial fibrillation makes the rate 'irregularly irregular': consecutive HR readings jump
around far more than sinus rhythm allows, where the change between readings comes from
breathing (respiratory sinus arrhythmia, a few bpm) and measurement noise. The index is
the median absolute change between consecutive usable HR readings over the last
`N_DIFFS` changes: the median ignores a single spike, and only readings taken at rest
count, because exertion and motion artefacts also make HR jump. A threshold rule
(`hr.irregular`, see rules.py) with persistence turns the index into an alert.
"""

from __future__ import annotations

from typing import Any

N_DIFFS = 15  # changes in the window (16 readings: 16 s at 1 Hz, 16 min at 1/min)
MIN_DIFFS = 8
MAX_STEP_S = 180.0  # readings further apart than this are not 'consecutive'


def hr_irregularity(ctx: dict[str, Any], ts_ms: int, hr: float | None, moving: bool) -> float | None:
    """Update the HR-change memory in `ctx` and return the current index (None: unknown)."""
    if hr is None:
        return None
    if moving:
        ctx.pop("hrd", None)
        ctx.pop("hrp", None)
        return None
    prev = ctx.get("hrp")  # [ts, hr] of the previous usable reading
    ctx["hrp"] = [ts_ms, hr]
    diffs = ctx.setdefault("hrd", [])
    if prev is not None and 0 < ts_ms - prev[0] <= MAX_STEP_S * 1000:
        diffs.append(abs(hr - prev[1]))
        if len(diffs) > N_DIFFS:
            del diffs[0]
    elif prev is not None:
        diffs.clear()
    if len(diffs) < MIN_DIFFS:
        return None
    return _median(diffs)


def _median(xs: list[float]) -> float:
    # statistics.median is ~10x slower for these 5-15 element lists, and this runs per sample.
    s = sorted(xs)
    n = len(s)
    return float(s[n // 2]) if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2.0
