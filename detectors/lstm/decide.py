"""From a window's score to an alert candidate: smoothing, threshold, persistence, clear.

Per scoring (once a minute per device):
1. the raw score and its per-vital contributions are EWMA-smoothed (Hundman §3.2);
2. the threshold is the calibrated one (artefact), raised for a device whose own recent
   normal errors run high (Hundman's dynamic threshold over that device's history);
3. the smoothed error must stay above it for OPEN_AFTER scorings in a row and the run's
   peak must clear the device's largest normal error by PRUNE_P (Hundman pruning) before
   an alert opens: one noisy window never alarms (its score is also capped, SCORE_CAP);
   and it opens only while the current score is at least the smoothed level: the decaying
   tail of an excursion that has already passed (the window remembers an hour) stays quiet;
4. departure gate: it opens only while the patient is departed from their own baseline
   *now*, in the way deterioration departs (`departed_now`): over the last GATE_STEPS grid
   steps, one vital's mean z is >= GATE_ONE_Z in its deterioration direction, or two
   vitals' are >= GATE_TWO_Z in theirs, or one vital is >= GATE_ANY_Z either way. The
   deterioration directions are those in which an early warning score climbs first (HR,
   RR and temperature up, SpO2 and BP down); BP falling while HR is below its baseline is
   the nocturnal dip, not shock (where the baroreflex raises HR), and does not count; HR
   and RR rising while the wearer moves do not count either (exertion). The window
   remembers an hour, so without the gate the error of a short episode that has already
   ended (a desaturation, an arrhythmia run), a young baseline, exertion the model only
   half explains, or the night's slow fall of HR, BP, RR and skin temperature (which the
   8-hour baseline follows late) would still open an alert;
5. an open alert clears after CLEAR_AFTER scorings below CLEAR_RATIO x threshold
   (hysteresis), emitting a candidate with active=False; a rise in severity re-emits.

The threshold is calibrated on normal data without the gate (calibrate.py passes
gate=False): the gate can only remove alerts, so the calibrated alarm budget still holds.
"""

from __future__ import annotations

import numpy as np

from detectors.candidate import AlertCandidate
from vitalstream.records import METRICS

from .features import ACTIVITY, ACTIVITY_SCALE, CLINICAL
from .state import REF_LEN, LstmState
from .thresholds import PRUNE_P, ewma, ewma_vec, hundman_epsilon, is_pruned

ALPHA = 0.1  # EWMA weight per scoring: ~10-minute memory at one scoring a minute
# A raw score enters the EWMA capped at SCORE_CAP x threshold: one absurd window (a
# motion artefact) moves the smoothed error by at most 0.4 x threshold, so it cannot
# alarm alone, while a sustained excess still crosses within a few scorings.
SCORE_CAP = 4.0
OPEN_AFTER = 5  # consecutive scorings above threshold before an alert opens (5 min)
CLEAR_AFTER = 10  # consecutive scorings below the clear level before it clears
CLEAR_RATIO = 0.8  # hysteresis: clear below 0.8 x threshold
MIN_REF = 60  # device history needed before its own dynamic threshold is used
# The newest REF_LAG reference errors are left out of the device's reference: they may be
# the quiet onset of the very excursion being judged, which would otherwise prune itself.
REF_LAG = 30
SEVERITY_RATIOS = (("high", 3.0), ("medium", 1.6))  # smoothed error / threshold
DRIVER_SHARE = 0.2  # a vital is named as a driver at >= 20 % of the error
RECENT_STEPS = 10  # direction of a driving vital: mean z over the last 10 grid steps
LABELS = {"hr": "heart rate", "spo2": "SpO2", "rr": "respiratory rate", "temp": "temperature",
          "sbp": "systolic BP", "dbp": "diastolic BP", "activity": "activity"}
KIND = "anomaly.lstm"
# Departure gate (step 4). Chosen on labelled *training* cohorts only (default event mix;
# v1: seeds 777/778 at 1 sample/min and 31/32 at 1 per 10 s, false alerts 28 -> 1; v2, the
# directions: seeds 31-37 at 1 per 10 s and 777/778 at 1/min, 420 patient-days, the
# remaining false alerts 2 -> 0 with the same deteriorations found; then seeds 38-41 and
# 779, recorded after that choice, showed single vitals at 2.6-2.7 alone opening: one
# vital alone 2.5 -> 2.75, 3 -> 1 false alerts on all 660 patient-days). z is in units of the
# patient's own scale (features.py), so 2-2.5 is "clearly unusual for this patient", not a
# clinical limit.
GATE_STEPS = 10  # the last 10 grid steps (minutes): "now", not the hour the window remembers
GATE_ONE_Z = 2.75  # one vital this far from baseline, the way deterioration goes, explains the error...
GATE_TWO_Z = 2.0  # ...or two vitals this far (deterioration is a multi-vital drift)...
GATE_ANY_Z = 3.5  # ...or one vital this far either way (a bradycardia, a cold sensor-free skin, ...)
# Direction in which each vital moves as a ward patient deteriorates: the side on which the
# NEWS2 bands (Royal College of Physicians, 2017) rise first from the normal range, and the
# sepsis/shock pattern (tachycardia, tachypnoea, fever, desaturation, falling BP).
ADVERSE = {"hr": 1.0, "spo2": -1.0, "rr": 1.0, "temp": 1.0, "sbp": -1.0, "dbp": -1.0}
# Same level as the pipeline's 'moving' (PipelineConfig.moving_g, 0.15 g), in feature units.
MOVING_ACTIVITY = 0.15 / ACTIVITY_SCALE
EXERTION_VITALS = (METRICS.index("hr"), METRICS.index("rr"))  # rise with exertion


def decision_constants() -> dict[str, object]:
    """Constants the calibrated threshold depends on (checked when an artefact loads)."""
    return {"alpha": ALPHA, "score_cap": SCORE_CAP, "open_after": OPEN_AFTER, "open_on_decay": False, "clear_after": CLEAR_AFTER, "clear_ratio": CLEAR_RATIO,
            "min_ref": MIN_REF, "ref_lag": REF_LAG, "ref_len": REF_LEN, "prune_p": PRUNE_P}


def _reference(ref: list[float]) -> list[float]:
    return ref[:-REF_LAG]


def effective_threshold(ref: list[float], threshold: float, err: float) -> float:
    """max(calibrated, device's dynamic threshold); the dynamic one only matters above the calibrated."""
    past = _reference(ref)
    if err <= threshold or len(past) < MIN_REF:
        return threshold
    return max(threshold, hundman_epsilon(np.asarray(past)))


def signed_departure(ring: np.ndarray) -> np.ndarray:
    """Mean z per clinical vital (CLINICAL order, signed) over the last GATE_STEPS grid steps;
    0 for a vital not observed then; HR and RR rises do not count while the wearer moves."""
    recent = ring[-GATE_STEPS:]
    out = np.zeros(len(CLINICAL))
    act = recent[:, ACTIVITY]
    act = act[~np.isnan(act)]
    moving = bool(act.size) and float(act.mean()) >= MOVING_ACTIVITY
    for j, i in enumerate(CLINICAL):
        col = recent[:, i]
        col = col[~np.isnan(col)]
        if col.size:
            out[j] = min(float(col.mean()), 0.0) if moving and i in EXERTION_VITALS else float(col.mean())
    return out


def departure_z(ring: np.ndarray) -> np.ndarray:
    """|signed_departure|: how far each vital is from the patient's baseline now, either way."""
    return np.abs(signed_departure(ring))


_SIGN = np.array([ADVERSE[METRICS[i]] for i in CLINICAL])
_HR, _SBP, _DBP = (CLINICAL.index(METRICS.index(v)) for v in ("hr", "sbp", "dbp"))


def departed_now(ring: np.ndarray) -> bool:
    """True when the patient is, right now, clearly away from their own baseline the way a
    deteriorating patient goes (or very far either way)."""
    m = signed_departure(ring)
    if float(np.abs(m).max()) >= GATE_ANY_Z:
        return True
    worse = np.maximum(m * _SIGN, 0.0)
    if m[_HR] < 0.0:  # BP falling with a slowing heart: the nocturnal dip, not shock
        worse[_SBP] = worse[_DBP] = 0.0
    dev = np.sort(worse)[::-1]
    return bool(dev[0] >= GATE_ONE_Z or dev[1] >= GATE_TWO_Z)


def severity_for(ratio: float) -> str:
    for name, level in SEVERITY_RATIOS:
        if ratio >= level:
            return name
    return "low"


def drivers(contrib: np.ndarray) -> list[str]:
    order = [i for i in np.argsort(-contrib) if i in CLINICAL]
    picked = [METRICS[i] for i in order[:3] if contrib[i] >= DRIVER_SHARE]
    return picked or [METRICS[order[0]]]


def _directions(state: LstmState, names: list[str]) -> dict[str, str]:
    recent = state.ring[-RECENT_STEPS:]
    out = {}
    for name in names:
        col = recent[:, METRICS.index(name)]
        col = col[~np.isnan(col)]
        out[name] = "up" if col.size and col.mean() > 0.5 else "down" if col.size and col.mean() < -0.5 else "irregular"
    return out


def _candidate(state: LstmState, device_id: str, ts_ms: int, score: float, eps: float, threshold: float,
               active: bool) -> AlertCandidate:
    d = state.decision
    contrib = np.asarray(d.contrib_s)
    names = drivers(contrib)
    dirs = _directions(state, names)
    ratio = (d.err_s or 0.0) / eps
    what = ", ".join(f"{LABELS[n]} {dirs[n]}" for n in names)
    if active:
        summary = f"Vitals departing from this patient's baseline ({what}); LSTM anomaly score {ratio:.1f}x threshold"
    else:
        summary = f"LSTM anomaly cleared: vitals back near this patient's baseline ({what} had driven it)"
    evidence = {
        "score": float(score),
        "smoothed_score": float(d.err_s or 0.0),
        "threshold": float(eps),
        "calibrated_threshold": float(threshold),
        "ratio": float(ratio),
        "peak": float(d.peak),
        "contributions": {METRICS[i]: round(float(contrib[i]), 4) for i in CLINICAL},
        "drivers": names,
        "directions": dirs,
        "baseline": {METRICS[i]: round(float(state.mean[i]), 2) for i in CLINICAL},
        "departure_z": {METRICS[i]: round(float(z), 2) for i, z in zip(CLINICAL, signed_departure(state.ring))},
        "opened_ms": d.opened_ms,
    }
    return AlertCandidate(device_id=device_id, kind=KIND, severity=d.severity, ts_ms=int(ts_ms), active=active,
                          summary=summary, evidence=evidence, vitals=tuple(names), detector="lstm")


def lstm_decide(state: LstmState, device_id: str, ts_ms: int, score: float, contributions: np.ndarray,
                threshold: float, gate: bool = True) -> AlertCandidate | None:
    """Fold one scoring into the device's decision state; a candidate when an alert opens,
    escalates or clears, else None. gate=False skips the departure gate (calibration)."""
    d = state.decision
    first = d.err_s is None
    d.err_s = ewma(d.err_s, min(float(score), SCORE_CAP * threshold), ALPHA)
    d.contrib_s = ewma_vec(np.asarray(d.contrib_s), np.asarray(contributions, dtype=float), ALPHA, first).tolist()
    eps = effective_threshold(d.ref, threshold, d.err_s)
    if not d.active:
        if d.err_s <= eps:
            d.above, d.peak = 0, 0.0
            d.ref.append(round(d.err_s, 5))
            del d.ref[:-REF_LEN]
            return None
        d.above += 1
        d.peak = max(d.peak, d.err_s)
        capped = min(float(score), SCORE_CAP * threshold)
        if d.above < OPEN_AFTER or capped < d.err_s or is_pruned(d.peak, max(_reference(d.ref), default=0.0)):
            return None
        if gate and not departed_now(state.ring):
            return None  # the error is the hour's memory, not the patient now
        d.active, d.below, d.opened_ms = True, 0, int(ts_ms)
        d.severity = severity_for(d.err_s / eps)
        return _candidate(state, device_id, ts_ms, score, eps, threshold, True)
    d.peak = max(d.peak, d.err_s)
    eps = effective_threshold(d.ref, threshold, float("inf"))
    d.below = d.below + 1 if d.err_s < CLEAR_RATIO * eps else 0
    if d.below >= CLEAR_AFTER:
        cand = _candidate(state, device_id, ts_ms, score, eps, threshold, False)
        d.active, d.above, d.below, d.peak, d.severity = False, 0, 0, 0.0, "low"
        return cand
    sev = severity_for(d.err_s / eps)
    if SEVERITIES_ORDER[sev] > SEVERITIES_ORDER[d.severity]:
        d.severity = sev
        return _candidate(state, device_id, ts_ms, score, eps, threshold, True)
    return None


SEVERITIES_ORDER = {"low": 0, "medium": 1, "high": 2}
