"""Threshold calibration on held-out normal data, and a small event-level evaluation.

Calibration replays the full decision path (EWMA, dynamic threshold, persistence, clear)
over held-out normal devices for candidate thresholds and keeps the lowest threshold
whose false alerts per patient-day stay within the target: on normal data every alert is
a false one, so this is the alarm budget stated directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .dataset import Trace, TraceWindows, trace_windows
from .decide import lstm_decide
from .state import lstm_state_new

MATCH_TAIL_MS = 5 * 60_000  # INTERFACE §6: an alert within [start, end + 5 min] is a true positive
DAY_MS = 86_400_000


@dataclass
class ScoreSeries:
    device_id: str
    end_ms: np.ndarray
    scores: np.ndarray  # (m,)
    contrib: np.ndarray  # (m, 7)
    span_ms: int  # observed duration, for per-day rates


def score_traces(detector, traces: list[Trace], batch: int = 512) -> list[ScoreSeries]:
    out = []
    for tr in traces:
        tw: TraceWindows = trace_windows(tr)
        scores, contrib = [], []
        for i in range(0, len(tw.windows), batch):
            s, c = detector.score_batch(tw.windows[i : i + batch])
            scores.append(s)
            contrib.append(c)
        span = int(tr.ts_ms.max() - tr.ts_ms.min()) if len(tr.ts_ms) else 0
        out.append(ScoreSeries(tr.device_id, tw.end_ms,
                               np.concatenate(scores) if scores else np.zeros(0),
                               np.concatenate(contrib) if contrib else np.zeros((0, 7)), span))
    return out


def alert_opens(series: ScoreSeries, threshold: float) -> list[int]:
    """Times (ms) at which an alert opens for this device at this threshold. Without the
    departure gate (decide.py): the threshold is calibrated for the score itself, and the
    gate, which can only remove alerts, is applied on top of it live."""
    state = lstm_state_new()
    opens = []
    for t, s, c in zip(series.end_ms, series.scores, series.contrib):
        cand = lstm_decide(state, series.device_id, int(t), float(s), c, threshold, gate=False)
        if cand is not None and cand.active and cand.evidence["opened_ms"] == int(t):
            opens.append(int(t))
    return opens


def false_alerts_per_day(all_series: list[ScoreSeries], threshold: float) -> float:
    days = sum(s.span_ms for s in all_series) / DAY_MS
    return sum(len(alert_opens(s, threshold)) for s in all_series) / max(days, 1e-9)


def calibrate_threshold(all_series: list[ScoreSeries], target_per_day: float, iters: int = 14) -> tuple[float, dict]:
    """Lowest threshold (geometric bisection) with false alerts/patient-day <= target on normal data."""
    smooth_max = max((float(s.scores.max()) for s in all_series if s.scores.size), default=1.0)
    lo = float(np.median(np.concatenate([s.scores for s in all_series if s.scores.size])))
    hi = smooth_max * 1.05
    if false_alerts_per_day(all_series, lo) <= target_per_day:
        hi = lo
    for _ in range(iters):
        if hi / lo < 1.01:
            break
        mid = float(np.sqrt(lo * hi))
        if false_alerts_per_day(all_series, mid) <= target_per_day:
            hi = mid
        else:
            lo = mid
    rate = false_alerts_per_day(all_series, hi)
    return hi, {"target_false_alerts_per_day": target_per_day, "false_alerts_per_day": rate,
                "devices": len(all_series), "patient_days": sum(s.span_ms for s in all_series) / DAY_MS}


def evaluate_events(all_series: list[ScoreSeries], events: dict[str, list[dict]], threshold: float,
                    kinds: tuple[str, ...] = ("deterioration",)) -> dict:
    """Event recall (per kind), alert precision, F1 and false alerts/patient-day, INTERFACE §6 matching."""
    tp_alerts = fp_alerts = 0
    hit: dict[str, list[bool]] = {k: [] for k in kinds}
    delays: dict[str, list[float]] = {k: [] for k in kinds}
    for s in all_series:
        opens = alert_opens(s, threshold)
        evs = events.get(s.device_id, [])
        for t in opens:
            if any(e["start"] <= t <= e["end"] + MATCH_TAIL_MS for e in evs):
                tp_alerts += 1
            else:
                fp_alerts += 1
        for e in evs:
            if e["kind"] in hit:
                got = [t for t in opens if e["start"] <= t <= e["end"] + MATCH_TAIL_MS]
                hit[e["kind"]].append(bool(got))
                if got:
                    delays[e["kind"]].append((got[0] - e["start"]) / 60_000)
    days = sum(s.span_ms for s in all_series) / DAY_MS
    precision = tp_alerts / max(tp_alerts + fp_alerts, 1)
    out = {"alerts": tp_alerts + fp_alerts, "precision": precision,
           "false_alerts_per_day": fp_alerts / max(days, 1e-9), "patient_days": days}
    for k in kinds:
        recall = float(np.mean(hit[k])) if hit[k] else float("nan")
        out[k] = {"events": len(hit[k]), "recall": recall,
                  "f1": 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0,
                  "delay_median_min": float(np.median(delays[k])) if delays[k] else None}
    return out
