"""Physiologically possible ranges of each metric: the one place they are defined.

A value outside its range cannot come from a living patient wearing a working sensor;
it is a sensor fault, a unit error (°F for °C, kPa for mmHg) or a forged message, and
is dead-lettered instead of reaching the detectors. The bounds are deliberately wide:
clinically alarming values (hr 35, spo2 75, temp 41) must pass so detectors can alert.
Bounds are inclusive. Units follow INTERFACE §1.
"""

from __future__ import annotations

from types import MappingProxyType

# metric -> (lowest possible, highest possible)
_RANGES: dict[str, tuple[float, float]] = {
    # Heart rate, beats/min. Bounds set by issue 4 (the project's clinical spec). Rationale:
    # below 20 a wearable's optical sensor reports no organised rhythm (asystole is a
    # "signal lost" situation, not a number); 300 is about the 1:1-conducted atrial-flutter
    # ceiling and well above sinus tachycardia, so values beyond it are sensor artefacts.
    "hr": (20.0, 300.0),
    # SpO2, %. Issue 4. 100 is the physical maximum of a saturation; pulse oximeters are
    # only specified for accuracy down to 70 % (ISO 80601-2-61 test range), and readings
    # under 50 % are not interpretable, so they are treated as sensor faults.
    "spo2": (50.0, 100.0),
    # Respiratory rate, breaths/min. Issue 4. Above 80 exceeds even neonatal tachypnoea;
    # below 2 is apnoea, which the sensor cannot express as a rate.
    "rr": (2.0, 80.0),
    # Temperature, °C (skin/body). Issue 4. 25 °C covers deep accidental hypothermia at the
    # skin; 45 °C is beyond the highest survivable core temperatures reported. A reading
    # of 98.6 (°F sent as °C) is the typical unit error this catches.
    "temp": (25.0, 45.0),
    # Systolic blood pressure, mmHg. Issue 4. 40 is below profound shock; 300 is the upper
    # end of cuff manometer scales.
    "sbp": (40.0, 300.0),
    # Diastolic blood pressure, mmHg. Issue 4 (also dbp < sbp, checked in validate).
    "dbp": (20.0, 200.0),
    # Activity, g (movement intensity). Issue 4 gives only "≥ 0". The upper bound is ours:
    # consumer wrist accelerometers have full-scale ranges of ±2 to ±16 g, so a derived
    # intensity above 50 g is a unit error (e.g. m/s² sent as g), not movement.
    "activity": (0.0, 50.0),
}

RANGES = MappingProxyType(_RANGES)
