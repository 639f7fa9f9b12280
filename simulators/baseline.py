"""Per-patient baselines drawn from plausible adult distributions.

Sources for the distributions (means and spreads are rounded; tails are clipped so that a
patient at rest sits inside normal clinical limits, as the detectors' false-alert target needs):
- Resting HR: Quer et al., PLoS One 2020;15:e0227709 (92,457 wearable users: mean daily
  resting HR 65.5 bpm, between-person SD 7.7 bpm; within-person day-to-day SD ~2-3 bpm).
  Hospital patients run a little higher, hence mean 68.
- SpO2: healthy adults at sea level 95-99 % (Crapo et al., Am J Respir Crit Care Med
  1999;160:1525; BTS oxygen guideline 2017, O'Driscoll et al., Thorax 72:i1).
- Respiratory rate: 12-20 /min normal (RCP NEWS2 2017 chart; Fieselmann et al., J Gen Intern
  Med 1993;8:354).
- Temperature: mean 36.6 °C, 95 % range 35.7-37.3 (Obermeyer et al., BMJ 2017;359:j5468).
- Blood pressure: US adults mean SBP ~122, DBP ~72 mmHg (Ostchega et al., NCHS Data Brief
  364, 2020); nocturnal dip 10-20 % (O'Brien et al., Lancet 1988;2:397, "dippers").
- Sleep: adults sleep ~7-8 h, mid-sleep ~03:30-04:00 (Roenneberg et al., Curr Biol 2007;17:R44).
- Sleep lowers HR by ~10 % (Trinder et al., J Sleep Res 2001;10:253); core temperature has a
  circadian amplitude of ~0.3-0.5 °C with its nadir ~04:00-05:00 (Refinetti & Menaker, Physiol
  Behav 1992;51:613).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Baseline:
    hr: float  # resting HR awake (bpm)
    spo2: float  # %
    rr: float  # breaths/min
    temp: float  # °C
    sbp: float  # mmHg
    dbp: float  # mmHg
    hr_sleep_drop: float  # fraction of resting HR lost in deep sleep
    bp_dip: float  # fraction of BP lost in sleep
    rsa_bpm: float  # respiratory sinus arrhythmia amplitude
    hr_gain: float  # bpm per g of activity
    rr_gain: float  # breaths/min per g of activity
    chrono_h: float  # chronotype: hours later (+) or earlier (-) than a 23:00-07:00 sleeper
    sleep_h: float  # usual sleep duration
    bouts_per_h: float  # activity bouts per waking hour
    cuff_phase_s: float  # when in the cuff cycle this patient's BP is taken


def _clipped_normal(rng: np.random.Generator, mean: float, sd: float, lo: float, hi: float) -> float:
    return float(np.clip(rng.normal(mean, sd), lo, hi))


def draw_baseline(rng: np.random.Generator) -> Baseline:
    sbp = _clipped_normal(rng, 122.0, 11.0, 110.0, 145.0)
    pulse_pressure = _clipped_normal(rng, 46.0, 7.0, 34.0, 60.0)
    return Baseline(
        hr=_clipped_normal(rng, 69.0, 7.0, 58.0, 86.0),
        spo2=_clipped_normal(rng, 97.4, 0.8, 96.0, 99.3),
        rr=_clipped_normal(rng, 14.5, 1.6, 12.0, 17.5),
        temp=_clipped_normal(rng, 36.6, 0.2, 36.2, 37.0),
        sbp=sbp,
        dbp=max(60.0, sbp - pulse_pressure),
        hr_sleep_drop=float(rng.uniform(0.06, 0.11)),
        bp_dip=float(rng.uniform(0.05, 0.12)),
        rsa_bpm=float(rng.uniform(1.0, 3.0)),
        hr_gain=float(rng.uniform(30.0, 45.0)),
        rr_gain=float(rng.uniform(5.0, 8.0)),
        chrono_h=_clipped_normal(rng, 0.0, 0.8, -2.0, 2.0),
        sleep_h=_clipped_normal(rng, 7.6, 0.6, 6.0, 9.0),
        bouts_per_h=float(rng.uniform(0.6, 1.6)),
        cuff_phase_s=float(rng.uniform(0.0, 3600.0)),
    )
