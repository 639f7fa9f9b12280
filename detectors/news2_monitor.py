"""NEWS2 over time: a device's running score, and when it is worth an alert.

The score is taken from each vital's recent usable values (median over a short span, so
one noisy reading does not move it; cuff BP is accepted for longer because it is
measured intermittently). An alert condition (`news2`, severity medium for an aggregate
of 5-6 and high for ≥7, the RCP 2017 Chart 4 response thresholds) starts once the
aggregate has stayed at or above 5 for `persist_s`, escalates once ≥7 has held as
long, and clears once it has stayed at or below `clear_total` for `clear_s`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .emit import Condition, fmt_duration, fmt_value
from .news2 import PARAMETERS, News2, news2

# INTERFACE §4 names alert kinds "<measure>.<direction>": NEWS2 above its response
# threshold is `news2.high`; how urgent (medium 5-6, high ≥ 7) is the severity.
NEWS2_KIND = "news2.high"

# How far back a vital's values still describe the patient now (seconds).
FRESH_S: dict[str, float] = {"hr": 150.0, "spo2": 150.0, "rr": 150.0, "temp": 900.0, "sbp": 1800.0}
RECENT_N = 5  # usable values kept per vital


@dataclass(frozen=True, slots=True)
class News2Config:
    min_params: int = 3  # fewer measured parameters than this: no score at all
    persist_s: float = 120.0
    clear_total: int = 3
    clear_s: float = 300.0
    fresh_s: dict[str, float] = field(default_factory=lambda: dict(FRESH_S))


def push_recent(recent: dict[str, list[list[float]]], vital: str, ts_ms: int, value: float) -> None:
    buf = recent.setdefault(vital, [])
    buf.append([ts_ms, value])
    if len(buf) > RECENT_N:
        del buf[0]


def current_values(recent: dict[str, list[list[float]]], ts_ms: int, fresh_s: dict[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for vital in PARAMETERS:
        window = fresh_s.get(vital, 150.0) * 1000
        vals = [v for t, v in recent.get(vital, ()) if ts_ms - t <= window]
        if vals:
            out[vital] = _median(vals)
    return out


def news2_now(recent: dict[str, list[list[float]]], ts_ms: int, cfg: News2Config) -> tuple[News2, dict[str, float]] | None:
    values = current_values(recent, ts_ms, cfg.fresh_s)
    if len(values) < cfg.min_params:
        return None
    return news2(**values), values  # type: ignore[arg-type]


def describe(score: News2) -> str:
    return f"NEWS2 {score.total} ({score.risk})"


def news2_step(st: dict[str, Any], cfg: News2Config, ts_ms: int, scored: tuple[News2, dict[str, float]] | None) -> None:
    """Advance the monitor state `st` (a plain dict inside DeviceState) by one scoring;
    `st["active"]`/`st["sev"]` then say whether an alert condition stands."""
    if scored is None:
        # Too few parameters to score: hold whatever was decided, start no timers.
        st.pop("pend", None)
        st.pop("hi", None)
        return
    score, values = scored
    total = score.total
    st["last"] = total
    if total >= 5:
        st.setdefault("pend", ts_ms)
    else:
        st.pop("pend", None)
    if total >= 7:
        st.setdefault("hi", ts_ms)
    else:
        st.pop("hi", None)
    persist = cfg.persist_s * 1000
    if not st.get("active") and "pend" in st and ts_ms - st["pend"] >= persist:
        st.update(active=True, sev="medium", since=st["pend"], max=total)
        st.pop("clr", None)
    if st.get("active"):
        st["max"] = max(st.get("max", total), total)
        if "hi" in st and ts_ms - st["hi"] >= persist:
            st["sev"] = "high"
        if total <= cfg.clear_total:
            st.setdefault("clr", ts_ms)
            if ts_ms - st["clr"] >= cfg.clear_s * 1000:
                for key in ("active", "sev", "since", "max", "clr"):
                    st.pop(key, None)
        else:
            st.pop("clr", None)


def news2_condition(st: dict[str, Any], ts_ms: int, scored: tuple[News2, dict[str, float]] | None) -> Condition:
    score, values = scored if scored is not None else (None, {})
    if not st.get("active"):
        last = st.get("last")
        return Condition(NEWS2_KIND, "news2", False, summary="" if last is None else f"NEWS2 back to {last}")
    if score is None:
        return Condition(NEWS2_KIND, "news2", True, st["sev"], st.get("summary", "NEWS2 elevated"),
                         st.get("evidence", {}), tuple(st.get("vitals", ())))
    drivers = [v for v in PARAMETERS if score.parameter_scores.get(v, 0) > 0]
    drivers.sort(key=lambda v: -score.parameter_scores[v])
    parts = ", ".join(fmt_value(v, values[v]) for v in drivers[:3])
    summary = f"{describe(score)} for {fmt_duration((ts_ms - st['since']) / 1000)}" + (f": {parts}" if parts else "")
    evidence = {"news2": score.total, "risk": score.risk, "max_news2": st["max"],
                "parameter_scores": dict(score.parameter_scores), "values": values,
                "missing": list(score.missing), "since_ms": st["since"]}
    st["summary"], st["evidence"], st["vitals"] = summary, evidence, drivers
    return Condition(NEWS2_KIND, "news2", True, st["sev"], summary, evidence, tuple(drivers))


def _median(xs: list[float]) -> float:
    # statistics.median is ~10x slower for these 5-15 element lists, and this runs per sample.
    s = sorted(xs)
    n = len(s)
    return float(s[n // 2]) if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2.0
