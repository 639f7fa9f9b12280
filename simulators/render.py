"""Vitals from a plan, for any range of sample indices (random access, see noise.py).

value = baseline x circadian rhythm - sleep dip + activity response + slow drifts
        + breathing-linked HR variability + event effects, then sensor imperfections
        (noise, motion artefacts, flatlines, detachment, dropouts, cuff schedule),
        then device quantisation.
"""

from __future__ import annotations

import numpy as np

from .events import DAY, EventSpec
from .noise import sample_noise, slow_noise
from .plan import Plan

# Per-sensor white measurement noise (SD): wrist PPG HR/SpO2, impedance/PPG RR, skin
# thermistor, oscillometric cuff (AAMI/ISO 81060-2 allows 8 mmHg SD against reference).
MEAS_SD = np.array([1.0, 0.45, 0.7, 0.03, 3.5, 2.5])
FAST_SD = np.array([1.5, 0.35, 0.8, 0.05, 2.0])  # hr, spo2, rr, temp, sbp drifts over ~5 min
SLOW_SD = np.array([1.5, 0.3, 0.6, 0.10, 3.0])  # ... over ~2 h
DROPOUT_P = np.array([0.004, 0.012, 0.006, 0.003, 0.004])  # hr, spo2, rr, temp, activity per sample
HR, SPO2, RR, TEMP, SBP, DBP, ACT = range(7)
AMBIENT_C = 27.0  # a detached skin sensor cools toward room/bed temperature


def render(plan: Plan, i0: int, i1: int) -> tuple[np.ndarray, np.ndarray]:
    """(values (m, 7) quantised with NaN = missing, keep (m,) False where no sample is sent)."""
    if i1 <= i0:
        return np.empty((0, 7)), np.empty(0, bool)
    t, v, uz = signal(plan, i0, i1)
    _artefacts(plan, t, v, uz)
    for e in plan.events:
        if e.kind == "sensor_off" and e.start < t[-1] + 1 and e.end > t[0]:
            j0, j1 = np.searchsorted(t, [e.start, e.end])
            v[j0:j1, [HR, SPO2, RR]] = np.nan
            tau = t[j0:j1] - e.start
            v[j0:j1, TEMP] = AMBIENT_C + (v[j0:j1, TEMP] - AMBIENT_C) * np.exp(-tau / 400.0)
            v[j0:j1, ACT] = 0.0
    # Uniform columns 0-4 decide dropouts, 5-6 motion-artefact values, 7 failed cuff cycles.
    for u, c, p in zip(range(5), (HR, SPO2, RR, TEMP, ACT), DROPOUT_P * plan.scenario.artefacts):
        v[uz[:, u] < p, c] = np.nan
    _cuff(plan, t, v, uz)
    _quantise(v)
    keep = plan.gaps.index(t) < 0
    keep &= ~np.all(np.isnan(v), axis=1)
    return v, keep


def signal(plan: Plan, i0: int, i1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t seconds, what the sensors measure (m, 7) before any sensor fault, uniforms for the faults)."""
    b = plan.base
    t = np.arange(i0, i1, dtype=np.float64) / plan.rate_hz
    m = t.size
    nz, uz = sample_noise(plan.key, i0, i1)
    tod = (plan.start_ms / 1000.0 + t) % DAY

    infection = [e for e in plan.events if e.kind == "infection"]
    p_inf = np.zeros(m)
    for e in infection:
        p_inf = np.maximum(p_inf, e.profile(t - e.start))
    sleep = plan.sleep.envelope(t, rise=1200.0, fall=600.0)
    if infection:  # broken sleep: shallower dips
        sleep = sleep * (1.0 - infection[0].params["sleep"] * p_inf)
    act_env = plan.bouts.envelope(t, rise=20.0, fall=20.0)
    resp = plan.bouts.envelope(t, rise=90.0, fall=180.0, tail=180.0)  # HR lags movement, recovers slower

    # Circadian: HR peaks mid-afternoon, temperature nadir ~04:30 and peak ~16:30 (Refinetti 1992).
    circ_hr = np.cos(2 * np.pi * (tod - (15.0 + b.chrono_h) * 3600) / DAY)
    circ_t = np.cos(2 * np.pi * (tod - (16.5 + b.chrono_h) * 3600) / DAY)
    fast = slow_noise(plan.key, 0, t, 300.0, 5) * FAST_SD
    slow = slow_noise(plan.key, 1, t, 7200.0, 5) * SLOW_SD
    daily = slow_noise(plan.key, 2, t, DAY, 2) * np.array([1.5, 0.08])  # day-to-day resting HR / temp

    v = np.empty((m, 7))
    rsa = b.rsa_bpm * (1.0 + 0.2 * sleep) * np.sin(2 * np.pi * b.rr * t / 60.0 + plan.key[1])
    v[:, HR] = (
        b.hr * (1.0 + 0.03 * circ_hr - b.hr_sleep_drop * sleep) + b.hr_gain * resp + fast[:, 0] + slow[:, 0]
        + daily[:, 0] + rsa
    )
    v[:, SPO2] = b.spo2 - 0.6 * sleep - 0.3 * resp + np.minimum(fast[:, 1] + slow[:, 1], 1.0)
    v[:, RR] = b.rr - 1.0 * sleep + b.rr_gain * resp + fast[:, 2] + slow[:, 2]
    v[:, TEMP] = b.temp + 0.3 * circ_t - 0.1 * sleep + fast[:, 3] + slow[:, 3] + daily[:, 1]
    v[:, SBP] = b.sbp * (1.0 - b.bp_dip * sleep) + 15.0 * resp + fast[:, 4] + slow[:, 4]
    v[:, DBP] = b.dbp * (1.0 - b.bp_dip * sleep) + 5.0 * resp + 0.5 * (fast[:, 4] + slow[:, 4])
    awake_act = np.where(sleep > 0.5, 0.004, 0.025)
    v[:, ACT] = awake_act * (1.0 + 0.6 * np.abs(nz[:, 6])) + act_env * np.clip(1.0 + 0.25 * nz[:, 8], 0.3, 2.0)

    for e in plan.events:
        if e.start < t[-1] + 1 and e.end > t[0] and e.kind not in ("sensor_off", "infection"):
            j0, j1 = np.searchsorted(t, [e.start, e.end])
            _apply_event(e, v[j0:j1], t[j0:j1] - e.start, b, nz[j0:j1, 7])
    for e in infection:
        v[:, HR] += e.params["hr"] * p_inf
        v[:, TEMP] += e.params["temp"] * p_inf * (t > e.start + e.on_s)  # mild fever after symptom onset

    v[:, :6] += nz[:, :6] * MEAS_SD
    return t, v, uz


def _apply_event(e: EventSpec, v: np.ndarray, tau: np.ndarray, b, irregular: np.ndarray) -> None:
    p = e.profile(tau)
    k, q = e.kind, e.params
    if k == "desaturation":
        _toward(v, SPO2, q["spo2"], b.spo2, p, 0.5)
        v[:, HR] += 8.0 * p
        v[:, RR] += 4.0 * p
    elif k in ("tachycardia", "bradycardia"):
        _toward(v, HR, q["hr"], b.hr, p, 0.3)
        v[:, RR] += (2.0 if k == "tachycardia" else -1.0) * p
    elif k == "fever":
        dt = p * (q["temp"] - b.temp)
        v[:, TEMP] += dt
        v[:, HR] += 10.0 * dt  # ~10 bpm per °C (Liebermeister's rule)
        v[:, RR] += 1.5 * dt
    elif k == "hypotension":
        _toward(v, SBP, q["sbp"], b.sbp, p, 0.3)
        _toward(v, DBP, q["dbp"], b.dbp, p, 0.3)
        v[:, HR] += 15.0 * p  # baroreflex
    elif k == "deterioration":
        v[:, HR] += q["hr"] * p
        v[:, RR] += q["rr"] * p
        v[:, TEMP] += q["temp"] * p
        v[:, SBP] -= q["sbp"] * p
        v[:, DBP] -= q["dbp"] * p
        v[:, SPO2] -= q["spo2"] * p
    elif k == "arrhythmia":
        # AF-like: faster and irregularly irregular, sample to sample.
        v[:, HR] += p * (q["hr"] + q["sd"] * np.clip(irregular, -2.0, 2.0))


def _toward(v: np.ndarray, c: int, target: float, base: float, p: np.ndarray, keep: float) -> None:
    """Blend column c toward `target` by p, keeping a fraction of its own variability around `base`."""
    v[:, c] = (1.0 - p) * v[:, c] + p * (target + keep * (v[:, c] - base))


def _artefacts(plan: Plan, t: np.ndarray, v: np.ndarray, uz: np.ndarray) -> None:
    for j in np.nonzero(plan.flat.overlaps(t[0], t[-1] + 1e-9))[0]:
        j0, j1 = np.searchsorted(t, [plan.flat.start[j], plan.flat.end[j]])
        if j1 <= j0:
            continue
        c = int(plan.flat.level[j])
        if j0 == 0 and plan.flat.start[j] < t[0]:
            # Began before this range: hold the flatline's first sample, so any chunking agrees.
            k = int(np.ceil(plan.flat.start[j] * plan.rate_hz - 1e-9))
            v[j0:j1, c] = signal(plan, k, k + 1)[1][0, c]
        else:
            v[j0:j1, c] = v[j0, c]  # a stuck sensor repeats its last value
    burst = plan.motion.index(t) >= 0
    if burst.any():  # motion corrupts the PPG: implausible, jumpy HR and SpO2
        v[burst, HR] = 40.0 + 170.0 * uz[burst, 5]
        v[burst, SPO2] = 72.0 + 18.0 * uz[burst, 6]


def _cuff(plan: Plan, t: np.ndarray, v: np.ndarray, uz: np.ndarray) -> None:
    cuff = plan.scenario.cuff_interval_s
    if cuff is None:
        v[:, [SBP, DBP]] = np.nan
        return
    ph = plan.base.cuff_phase_s
    taken = np.floor((t - ph) / cuff) != np.floor((t - 1.0 / plan.rate_hz - ph) / cuff)
    taken &= uz[:, 7] >= 0.03 * plan.scenario.artefacts  # a few cuff cycles fail
    v[~taken, SBP] = np.nan
    v[~taken, DBP] = np.nan


def _quantise(v: np.ndarray) -> None:
    """Device resolution: HR/SpO2/RR/BP integers, temperature 0.01 °C, activity 0.001 g."""
    for c in (HR, SPO2, RR, SBP, DBP):
        v[:, c] = np.round(v[:, c])
    v[:, HR] = np.clip(v[:, HR], 25, 250)
    v[:, SPO2] = np.clip(v[:, SPO2], 50, 100)
    v[:, RR] = np.clip(v[:, RR], 4, 60)
    v[:, TEMP] = np.round(v[:, TEMP], 2)
    v[:, ACT] = np.round(np.maximum(v[:, ACT], 0.0), 3)
