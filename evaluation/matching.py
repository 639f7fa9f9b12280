"""Alerts against ground-truth events (INTERFACE §6), and the figures that follow.

An alert is a true positive when it opens between an event's start and its end + 5
minutes on the same device (any alert kind: the event says a clinician should be told,
not by which detector); any other alert is false. An event with no such alert is missed;
its detection delay is the time from its start to the first such alert.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

GRACE_MS = 5 * 60 * 1000


@dataclass(frozen=True, slots=True)
class Alert:
    device_id: str
    kind: str
    opened_ms: int
    severity: str = "medium"
    detector: str = ""


@dataclass(frozen=True, slots=True)
class Truth:
    device_id: str
    kind: str
    start_ms: int
    end_ms: int
    severity: str = "medium"


@dataclass(slots=True)
class Matched:
    alert_tp: list[bool] = field(default_factory=list)  # parallel to the alerts given
    alert_event: list[int | None] = field(default_factory=list)  # index of the (first) event it matched
    event_delay_s: list[float | None] = field(default_factory=list)  # parallel to the events; None = missed


def match(alerts: Sequence[Alert], events: Sequence[Truth], grace_ms: int = GRACE_MS) -> Matched:
    by_dev: dict[str, list[tuple[int, int]]] = {}  # device -> [(opened_ms, alert index)] sorted
    for i, a in enumerate(alerts):
        by_dev.setdefault(a.device_id, []).append((a.opened_ms, i))
    for lst in by_dev.values():
        lst.sort()
    m = Matched([False] * len(alerts), [None] * len(alerts), [None] * len(events))
    for j, e in enumerate(events):
        lst = by_dev.get(e.device_id, [])
        lo = bisect.bisect_left(lst, (e.start_ms, -1))
        hi = bisect.bisect_right(lst, (e.end_ms + grace_ms, len(alerts)))
        for opened, i in lst[lo:hi]:
            m.alert_tp[i] = True
            if m.alert_event[i] is None:
                m.alert_event[i] = j
        if hi > lo:
            m.event_delay_s[j] = (lst[lo][0] - e.start_ms) / 1000.0
    return m


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    xs = sorted(values)
    # Linear interpolation between order statistics (numpy's default 'linear').
    pos = (len(xs) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _f1(p: float | None, r: float | None) -> float | None:
    if p is None or r is None:
        return None
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def metrics(alerts: Sequence[Alert], events: Sequence[Truth], patient_days: float,
            grace_ms: int = GRACE_MS) -> dict[str, Any]:
    """The INTERFACE §6 figures for one detector, plus counts and a per-event-kind block.

    Per kind: recall and delays over that kind's events; `precision` counts the alerts
    matched to that kind's events against them plus all of the detector's false alerts
    (false alerts belong to no kind), so F1 per kind compares detectors fairly."""
    m = match(alerts, events, grace_ms)
    tp = sum(m.alert_tp)
    fp = len(alerts) - tp
    detected = [d for d in m.event_delay_s if d is not None]
    recall = len(detected) / len(events) if events else None
    precision = tp / len(alerts) if alerts else None
    out: dict[str, Any] = {
        "recall": recall,
        "precision": precision,
        "f1": _f1(precision, recall),
        "delay_median_s": _pct(detected, 0.5),
        "delay_p90_s": _pct(detected, 0.9),
        "false_alerts_per_patient_day": fp / patient_days if patient_days > 0 else None,
        "alerts": len(alerts),
        "true_alerts": tp,
        "false_alerts": fp,
        "events": len(events),
        "events_detected": len(detected),
    }
    kinds: dict[str, Any] = {}
    for kind in sorted({e.kind for e in events}):
        idx = [j for j, e in enumerate(events) if e.kind == kind]
        delays = [m.event_delay_s[j] for j in idx if m.event_delay_s[j] is not None]
        tp_k = sum(1 for i, ev in enumerate(m.alert_event) if ev is not None and events[ev].kind == kind)
        r = len(delays) / len(idx)
        p = tp_k / (tp_k + fp) if tp_k + fp else None
        kinds[kind] = {"events": len(idx), "detected": len(delays), "recall": r, "precision": p, "f1": _f1(p, r),
                       "delay_median_s": _pct(delays, 0.5), "delay_p90_s": _pct(delays, 0.9)}  # type: ignore[arg-type]
    out["by_kind"] = kinds
    out["delays_s"] = detected
    return out


def truths_from_events(events: Iterable[Any]) -> list[Truth]:
    """From simulators.Event (start_ms/end_ms) or INTERFACE §6 dicts (start/end)."""
    out = []
    for e in events:
        if isinstance(e, dict):
            out.append(Truth(e["device_id"], e["kind"], int(e["start"]), int(e["end"]), e.get("severity", "medium")))
        else:
            out.append(Truth(e.device_id, e.kind, int(e.start_ms), int(e.end_ms), e.severity))
    return out
