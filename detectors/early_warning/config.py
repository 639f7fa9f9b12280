"""Tunable constants of the early-warning detector, with where each one comes from.

Sources:
- Mishra T. et al., "Pre-symptomatic detection of COVID-19 from smartwatch data",
  Nat Biomed Eng 4:1208-1220 (2020): resting HR = HR while steps were zero for the
  preceding 12 minutes; hourly averaging; personal baseline; standardised residuals
  (RHR-Diff) and an online CuSum over them.
- Bogu G.K. & Snyder M.P., "Deep learning-based detection of COVID-19 using wearables
  data" (LAAD), medRxiv 2021: LSTM autoencoder on hourly resting HR, the alternative we
  measured against (see docs/early_warning.md).
- Alavi A. et al., "Real-time alerting system for COVID-19 and other stress events using
  wearable data", Nat Med 28:175-184 (2022): median-based baselines over the preceding
  weeks and multi-night persistence before alerting.
"""

from __future__ import annotations

from dataclasses import dataclass

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class EwConfig:
    # --- resting-HR extraction (per sample; Mishra 2020: 12 min without steps) ---
    rest_ms: int = 12 * MINUTE_MS
    # Activity (g) at or below which the wearer counts as still; consumer devices report
    # ~0 at rest; anything above a slow shuffle resets the rest timer.
    rest_activity_max: float = 0.1
    # A gap longer than this means we do not know whether the wearer moved: restart the timer.
    max_gap_ms: int = 5 * MINUTE_MS
    # Each sample weighs the time since the previous one, capped, so 1 Hz and 1/min agree.
    max_weight_ms: int = MINUTE_MS
    hr_min: float = 25.0
    hr_max: float = 220.0
    # An hour yields a resting-HR value only with at least this much resting time in it.
    min_rest_per_hour_ms: int = 5 * MINUTE_MS

    # --- baseline (robust: medians and MADs over weeks; Mishra 2020, Alavi 2022) ---
    baseline_days: int = 28  # trailing accepted days kept
    # No scoring before two weeks of baseline: with one week the early false alarms doubled
    # (docs/early_warning.md); Mishra 2020 and Alavi 2022 also used weeks of history.
    min_baseline_days: int = 14
    min_hours_per_day: int = 6  # a day with fewer resting hours adds nothing
    profile_max_weight_days: int = 14  # circadian profile: running mean over ~2 weeks
    scale_floor_bpm: float = 1.5  # avoids huge z-scores for very steady wearers
    # Re-baseline guard: after this many consecutive excluded days accept days again, so a
    # lasting change (new medication, fitness) stops alerting instead of alerting forever.
    max_excluded_run_days: int = 10
    # Also exclude days with >= half their hours above z_elevated? Off: cutting the upper tail of
    # ordinary days biases the median down and the MAD in, which raised false alarms by ~10 %
    # (docs/early_warning.md). Days with an alert open are always excluded.
    exclude_elevated_days: bool = False

    # --- detector on hourly standardised resting HR ---
    method: str = "cusum"  # "cusum" (chosen by measurement) or "fraction"
    z_cap: float = 4.0  # one extreme hour cannot trigger alone
    # CuSum (Page 1954; as used online by Mishra 2020): S = max(0, S + min(z, cap) - k)
    # k = 1 sd allowance: detects shifts of ~2 sd fastest; h = 10 sd·h ≈ half a day at z ≈ 2.
    # Chosen by measurement on the simulated cohort (docs/early_warning.md).
    cusum_k: float = 1.0
    cusum_h: float = 10.0
    # "fraction": most of the trailing day elevated
    window_hours: int = 12  # trailing window for the excess gate (24 h lagged ~0.3 day)
    z_elevated: float = 1.0
    min_observed_hours: int = 8
    min_fraction: float = 0.66
    # Both methods: the median excess over the trailing window must reach this, so a clinician
    # sees a visible change (Mishra 2020 report presymptomatic RHR rises of a few bpm).
    min_excess_bpm: float = 3.0
    # Persistence: at least this many hours above z_elevated in the trailing 24 h, so one bad
    # night (alcohol, late training: <= ~8 h) cannot raise it; cut false alarms ~10 % at no lead cost.
    min_elevated_hours_24h: int = 12
    min_window_z: float = 0.0  # optional: median z over the window must also reach this (0 = off)
    # clearing (hysteresis): median excess over the trailing window back under this
    clear_excess_bpm: float = 1.5
    clear_min_open_hours: int = 24
    # severity: medium when the excess is large or lasts two days
    medium_excess_bpm: float = 8.0
    medium_hours: int = 48
    # hours of scored history kept for evidence and windows
    history_hours: int = 72
    tz_offset_ms: int = 0  # local-day/night split; device clocks are UTC


DEFAULT_CONFIG = EwConfig()
