"""What the LSTM sees: a fixed 1-minute grid, normalised against the device's own baseline.

Devices report from 1 Hz down to 1/min and the target condition (deterioration) drifts
over hours, so samples are averaged onto a 1-minute grid and the model looks at the last
WINDOW grid steps: the same model then serves every sample rate.

Each clinical vital is turned into a z-value against a per-device EWMA baseline (mean and
scale), so the model learns "unusual for this patient", not population norms. The
baseline is slow (time constant BASELINE_TAU_STEPS) and its updates are clipped, so an
hours-long drift is not absorbed before it is seen. Activity is an explanatory input
(exertion explains a raised HR), transformed on a fixed scale, never scored.

Everything here is versioned by FEATURE_VERSION; an artefact trained under other
constants is refused at load (see artefact.py), because its weights would be fed inputs
they never saw.
"""

from __future__ import annotations

import math

import numpy as np

from vitalstream.records import METRICS

FEATURE_VERSION = 2

GRID_MS = 60_000  # one grid step = one minute
WINDOW = 60  # grid steps per window (one hour)
N_VITALS = len(METRICS)  # 7, column order of vitalstream.records.METRICS
ACTIVITY = METRICS.index("activity")
CLINICAL = tuple(i for i in range(N_VITALS) if i != ACTIVITY)  # the 6 scored vitals
N_FEATURES = 2 * N_VITALS  # 7 values + 7 missing masks

# Baseline: EWMA with alpha = max(1/n, 1/TAU) (a running mean while young, then an
# 8-hour memory). 8 h is longer than the deterioration ramps we want to see (2-6 h),
# so at most ~20 % of a 4-hour ramp is absorbed by the time it ends.
BASELINE_TAU_STEPS = 480
# An update moves the baseline by at most CLIP_Z scales: a spike or a drift pulls it slowly.
CLIP_Z = 3.0
# Prior scale (variance seeded at PRIOR_SCALE**2, weighted like PRIOR_N steps) and a floor,
# per vital in METRICS order (activity unused). Engineering constants, not clinical
# thresholds: typical minute-mean variability of a resting adult and roughly the
# sensor resolution, so a very stable patient does not turn sensor noise into z = 10.
PRIOR_SCALE = np.array([5.0, 1.0, 2.0, 0.2, 8.0, 6.0, 1.0])
SCALE_FLOOR = np.array([2.0, 0.5, 1.0, 0.1, 3.0, 2.0, 1.0])
PRIOR_N = 30.0
Z_CLIP = 8.0  # z-values are clipped so one wild minute cannot dominate an error
ACTIVITY_SCALE = 0.5  # g; activity feature = activity / 0.5, clipped to [0, 8]
WARMUP_STEPS = 60  # grid steps with data before the first window (one full window)
# Readings outside these ranges are not the patient's physiology but a sensor that is off or
# broken (skin temperature falling to ambient after a detachment, SpO2 0): they become missing
# and are left to the signal-quality detector. Wide on purpose: any survivable value passes.
PLAUSIBLE_LO = np.array([25.0, 50.0, 3.0, 33.0, 50.0, 25.0, 0.0])
PLAUSIBLE_HI = np.array([250.0, 100.0, 70.0, 43.0, 260.0, 160.0, 20.0])
OPTICAL = (0, 1, 2)  # hr, spo2, rr: all missing at once = the wearable is off the skin
TEMP = 3


def feature_constants() -> dict[str, object]:
    """The constants an artefact records and load compares (any change => new FEATURE_VERSION)."""
    return {
        "feature_version": FEATURE_VERSION,
        "metrics": list(METRICS),
        "grid_ms": GRID_MS,
        "window": WINDOW,
        "n_features": N_FEATURES,
        "baseline_tau_steps": BASELINE_TAU_STEPS,
        "clip_z": CLIP_Z,
        "prior_scale": PRIOR_SCALE.tolist(),
        "scale_floor": SCALE_FLOOR.tolist(),
        "prior_n": PRIOR_N,
        "z_clip": Z_CLIP,
        "activity_scale": ACTIVITY_SCALE,
        "plausible_lo": PLAUSIBLE_LO.tolist(),
        "plausible_hi": PLAUSIBLE_HI.tolist(),
        "detached_masks_temp": True,
    }


def clean_step(x: np.ndarray) -> np.ndarray:
    """One grid step's minute-means with sensor-off values turned into missing.

    Implausible readings go; and when the optical vitals are all missing the skin
    temperature is dropped too: a detached wearable cools towards room temperature.
    """
    x = np.where((x >= PLAUSIBLE_LO) & (x <= PLAUSIBLE_HI), x, np.nan)
    if np.all(np.isnan(x[list(OPTICAL)])):
        x[TEMP] = np.nan
    return x


def baseline_step(
    mean: np.ndarray, var: np.ndarray, n: np.ndarray, x: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Normalise one grid step x (7,) (NaN = missing) and update the baseline.

    Returns (z, mean, var, n): z is computed against the baseline *before* this step
    is absorbed, so a value is judged by what came before it. Pure: inputs untouched.
    The readable reference: the state runs `baseline_step_py`, tested equal to it bit for bit.
    """
    x = clean_step(np.asarray(x, dtype=float))
    seen = ~np.isnan(x)
    first = seen & (n == 0)
    mean = np.where(first, x, mean)
    scale = np.maximum(np.sqrt(var), SCALE_FLOOR)
    z = np.where(seen, np.clip((x - mean) / scale, -Z_CLIP, Z_CLIP), np.nan)
    innov = np.where(seen, np.clip(x - mean, -CLIP_Z * scale, CLIP_Z * scale), 0.0)
    n = n + seen
    alpha = np.where(seen, np.maximum(1.0 / np.maximum(n, 1.0), 1.0 / BASELINE_TAU_STEPS), 0.0)
    alpha_v = np.where(seen & ~first, np.maximum(1.0 / (n + PRIOR_N), 1.0 / BASELINE_TAU_STEPS), 0.0)
    var = var + alpha_v * (innov * innov - var)
    mean = mean + alpha * innov
    act = x[ACTIVITY]
    z[ACTIVITY] = np.nan if np.isnan(act) else min(max(act / ACTIVITY_SCALE, 0.0), Z_CLIP)
    return z, mean, var, n


_LO, _HI = PLAUSIBLE_LO.tolist(), PLAUSIBLE_HI.tolist()
_FLOOR = SCALE_FLOOR.tolist()
_NAN = float("nan")


def baseline_step_py(mean: list[float], var: list[float], n: list[float],
                     x: list[float]) -> tuple[list[float], bool]:
    """baseline_step for one step on plain floats, updating mean/var/n in place; returns
    (z, whether a clinical vital had a value). The same IEEE operations in the same order,
    so bit for bit the same result (tests/detectors/lstm/test_lstm_state.py checks it):
    at 5,000 devices every minute's close ran ~30 numpy calls on 7-element arrays per
    device, ~1 s of CPU at once at each minute boundary."""
    x = [v if lo <= v <= hi else _NAN for v, lo, hi in zip(x, _LO, _HI)]
    if all(x[i] != x[i] for i in OPTICAL):
        x[TEMP] = _NAN
    z = [_NAN] * N_VITALS
    for k in range(N_VITALS):
        v = x[k]
        if v != v:  # missing: baseline untouched (alpha 0)
            continue
        m, nk = mean[k], n[k]
        first = nk == 0
        if first:
            m = v
        s = math.sqrt(var[k])
        scale = _FLOOR[k] if s < _FLOOR[k] else s
        z[k] = min(max((v - m) / scale, -Z_CLIP), Z_CLIP)
        innov = min(max(v - m, -CLIP_Z * scale), CLIP_Z * scale)
        nk = nk + 1.0
        alpha = max(1.0 / max(nk, 1.0), 1.0 / BASELINE_TAU_STEPS)
        if not first:
            alpha_v = max(1.0 / (nk + PRIOR_N), 1.0 / BASELINE_TAU_STEPS)
            var[k] = var[k] + alpha_v * (innov * innov - var[k])
        mean[k], n[k] = m + alpha * innov, nk
    act = x[ACTIVITY]
    z[ACTIVITY] = _NAN if act != act else min(max(act / ACTIVITY_SCALE, 0.0), Z_CLIP)
    return z, any(x[i] == x[i] for i in CLINICAL)


def initial_baseline() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.zeros(N_VITALS), PRIOR_SCALE.astype(float) ** 2, np.zeros(N_VITALS)


def window_features(z_ring: np.ndarray) -> np.ndarray:
    """(W, 7) z-values with NaN for missing -> (W, 14) float32: values (0 where missing) + masks."""
    missing = np.isnan(z_ring)
    out = np.empty((z_ring.shape[0], N_FEATURES), dtype=np.float32)
    out[:, :N_VITALS] = np.where(missing, 0.0, z_ring)
    out[:, N_VITALS:] = missing
    return out
