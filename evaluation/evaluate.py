"""Candidates → alerts through the alert engine's own policy → figures per detector.

`combined` is every candidate through one `alerts.policy.AlertPolicy`, exactly what the
live alert engine does. A single detector is judged the same way on its own candidates;
`signal.lost` candidates are fed alongside (and not counted) so the policy's suppression
during signal loss applies to every detector as it does live.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from detectors.candidate import AlertCandidate

from .matching import Alert, Truth, metrics

SIGNAL_KIND = "signal.lost"


def _policy() -> Any:
    from alerts.policy import AlertPolicy

    return AlertPolicy()


def alerts_from_candidates(candidates: Iterable[AlertCandidate], detector: str | None = None,
                           policy_factory: Callable[[], Any] = _policy) -> list[Alert]:
    """Alerts opened by the policy for one detector's candidates (None: all of them).
    `candidates` must be in time order per device."""
    policy = policy_factory()
    detector_of: dict[str, str] = {}
    alerts: list[Alert] = []
    last_ts = 0
    for c in candidates:
        counted = detector is None or c.detector == detector
        if not counted and c.kind != SIGNAL_KIND:
            continue
        detector_of.setdefault(c.kind, c.detector)
        last_ts = max(last_ts, c.ts_ms)
        for a in policy.feed(c):
            _collect(a, alerts, detector_of, detector)
    for a in policy.tick(last_ts + 24 * 3600 * 1000):  # let pending re-opens fire
        _collect(a, alerts, detector_of, detector)
    return alerts


def _collect(action: Any, out: list[Alert], detector_of: dict[str, str], detector: str | None) -> None:
    if action.action != "open":
        return
    det = detector_of.get(action.kind, "")
    if detector is not None and det != detector:
        return  # a signal.lost alert fed only for suppression
    out.append(Alert(action.device_id, action.kind, int(action.ts_ms), action.severity, det))


@dataclass(slots=True)
class Evaluation:
    detectors: dict[str, dict[str, Any]] = field(default_factory=dict)
    alerts: dict[str, list[Alert]] = field(default_factory=dict)
    patient_days: float = 0.0
    devices: int = 0

    def to_json(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {"detectors": {}, "patient_days": self.patient_days, "devices": self.devices}
        for name, figs in self.detectors.items():
            doc["detectors"][name] = {k: v for k, v in figs.items() if k != "delays_s"}
        if extra:
            doc.update(extra)
        return doc


def evaluate_candidates(candidates: Sequence[AlertCandidate], events: Sequence[Truth], patient_days: float,
                        detectors: Sequence[str], devices: int = 0) -> Evaluation:
    ev = Evaluation(patient_days=patient_days, devices=devices)
    for name in [*detectors, "combined"]:
        alerts = alerts_from_candidates(candidates, None if name == "combined" else name)
        ev.alerts[name] = alerts
        ev.detectors[name] = metrics(alerts, events, patient_days)
    return ev


def _fmt(v: Any, pattern: str) -> str:
    return "-" if v is None else pattern.format(v)


def format_table(ev: Evaluation) -> str:
    """The per-detector table (markdown), then recall per event kind for `combined`."""
    lines = [f"{ev.devices} devices, {ev.patient_days:.1f} patient-days", "",
             "| detector | recall | precision | F1 | delay median | delay p90 | false alerts / patient-day | alerts |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, m in ev.detectors.items():
        lines.append(f"| {name} | {_fmt(m['recall'], '{:.3f}')} | {_fmt(m['precision'], '{:.3f}')} | "
                     f"{_fmt(m['f1'], '{:.3f}')} | {_fmt(m['delay_median_s'], '{:.0f} s')} | "
                     f"{_fmt(m['delay_p90_s'], '{:.0f} s')} | {_fmt(m['false_alerts_per_patient_day'], '{:.2f}')} | "
                     f"{m['alerts']} |")
    kinds = sorted({k for m in ev.detectors.values() for k in m["by_kind"]})
    if kinds:
        names = list(ev.detectors)
        lines += ["", "Recall (F1) per event kind:", "",
                  "| event kind | events | " + " | ".join(names) + " |",
                  "| --- | --- | " + " | ".join("---" for _ in names) + " |"]
        for k in kinds:
            n = next(m["by_kind"][k]["events"] for m in ev.detectors.values() if k in m["by_kind"])
            cells = []
            for name in names:
                bk = ev.detectors[name]["by_kind"].get(k)
                cells.append("-" if bk is None else f"{bk['recall']:.2f} ({_fmt(bk['f1'], '{:.2f}')})")
            lines.append(f"| {k} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
