"""Vitals rows → FHIR R4 vital-signs Observations and a searchset Bundle. Pure functions.

Codes follow the FHIR R4 Vital Signs profile (hl7.org/fhir/R4/observation-vitalsigns.html):
LOINC for the observation, UCUM for the unit. Blood pressure is one panel (85354-9) with
systolic (8480-6) and diastolic (8462-4) components, as that profile requires.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CATEGORY = {
    "coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
        "code": "vital-signs",
        "display": "Vital Signs",
    }],
    "text": "Vital Signs",
}
DEVICE_SYSTEM = "urn:vitalstream:device"
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


@dataclass(frozen=True)
class Vital:
    metric: str
    codings: tuple[tuple[str, str], ...]  # (LOINC code, display); the first is the primary code
    text: str
    unit: str  # human unit
    ucum: str  # UCUM code


VITALS: tuple[Vital, ...] = (
    Vital("hr", (("8867-4", "Heart rate"),), "Heart rate", "beats/minute", "/min"),
    # 2708-6 is the profile's required code; 59408-5 says it came from pulse oximetry.
    Vital("spo2", (("2708-6", "Oxygen saturation in Arterial blood"),
                   ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry")),
          "Oxygen saturation", "%", "%"),
    Vital("rr", (("9279-1", "Respiratory rate"),), "Respiratory rate", "breaths/minute", "/min"),
    Vital("temp", (("8310-5", "Body temperature"),), "Body temperature", "Cel", "Cel"),
)
BP_PANEL = ("85354-9", "Blood pressure panel with all children optional")
BP_PARTS = (("sbp", "8480-6", "Systolic blood pressure"), ("dbp", "8462-4", "Diastolic blood pressure"))
MMHG = ("mmHg", "mm[Hg]")


def _code(codings: tuple[tuple[str, str], ...], text: str) -> dict[str, Any]:
    return {"coding": [{"system": LOINC, "code": c, "display": d} for c, d in codings], "text": text}


def _quantity(value: float, unit: str, ucum: str) -> dict[str, Any]:
    return {"value": round(float(value), 3), "unit": unit, "system": UCUM, "code": ucum}


def _obs_id(device_id: str, seq: int, code: str) -> str:
    # Deterministic: the same sample exports to the same ids every time (safe re-imports).
    return hashlib.sha256(f"{device_id}|{seq}|{code}".encode()).hexdigest()[:40]


def device_reference(device_id: str) -> dict[str, Any]:
    ref: dict[str, Any] = {"identifier": {"system": DEVICE_SYSTEM, "value": device_id}, "display": device_id}
    if _FHIR_ID.fullmatch(device_id):  # FHIR ids allow no '_': such devices are named by identifier only
        ref["reference"] = f"Device/{device_id}"
    return ref


def observations(row: dict[str, Any]) -> list[dict[str, Any]]:
    """One vitals row (device_id, seq, ts, metrics, patient_id or None) → its Observations."""
    device_id, seq, ts = row["device_id"], row["seq"], row["ts"]
    base: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": [CATEGORY],
        "effectiveDateTime": _instant(ts),
        "device": device_reference(device_id),
    }
    if row.get("patient_id") is not None:
        base["subject"] = {"reference": f"Patient/{row['patient_id']}"}
    out = []
    for v in VITALS:
        if row.get(v.metric) is None:
            continue
        obs = {**base, "id": _obs_id(device_id, seq, v.codings[0][0]), "code": _code(v.codings, v.text),
               "valueQuantity": _quantity(row[v.metric], v.unit, v.ucum)}
        out.append(obs)
    parts = [(code, disp, row.get(m)) for m, code, disp in BP_PARTS]
    if any(value is not None for _, _, value in parts):
        components = [{"code": _code(((code, disp),), disp), "valueQuantity": _quantity(value, *MMHG)}
                      for code, disp, value in parts if value is not None]
        out.append({**base, "id": _obs_id(device_id, seq, BP_PANEL[0]), "code": _code((BP_PANEL,), "Blood pressure"),
                    "component": components})
    return out


def _instant(ts: datetime) -> str:
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def bundle(base_url: str, rows: list[dict[str, Any]], self_url: str, next_url: str | None) -> dict[str, Any]:
    entries = []
    for row in rows:
        for obs in observations(row):
            entries.append({"fullUrl": f"{base_url}/fhir/Observation/{obs['id']}", "resource": obs,
                            "search": {"mode": "match"}})
    links = [{"relation": "self", "url": self_url}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    return {"resourceType": "Bundle", "type": "searchset", "link": links, "entry": entries}
