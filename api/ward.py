"""The ward view's clinical logic, pure: NEWS2 of a latest sample and the sickest-first order."""

from __future__ import annotations

from typing import Any

from detectors.news2 import news2

# Acuity on one scale for both sources. NEWS2 risk bands: RCP NEWS2 (2017) Chart 4
# (high ≥7 emergency, medium 5-6 urgent, a single red parameter → low-medium).
NEWS2_ACUITY = {"high": 3, "medium": 2, "low-medium": 1, "low": 0}
ALERT_ACUITY = {"high": 3, "medium": 2, "low": 1}


def news2_of(sample: dict[str, Any] | None) -> dict[str, Any] | None:
    """NEWS2 from a wearable sample (no oxygen/consciousness: partial, `missing` says what)."""
    if not sample:
        return None
    score = news2(rr=sample.get("rr"), spo2=sample.get("spo2"), sbp=sample.get("sbp"), hr=sample.get("hr"),
                  temp=sample.get("temp"))
    if len(score.missing) == 5:
        return None
    return {"total": score.total, "risk": score.risk, "parameters": score.parameter_scores,
            "missing": list(score.missing)}


def acuity(tile: dict[str, Any]) -> int:
    score = tile.get("news2")
    from_score = NEWS2_ACUITY[score["risk"]] if score else 0
    from_alerts = max((ALERT_ACUITY.get(a["severity"], 0) for a in tile.get("alerts", ())
                       if a.get("status") == "open"), default=0)
    return max(from_score, from_alerts)


def sort_key(tile: dict[str, Any]) -> tuple:
    score = tile.get("news2")
    open_alerts = [a for a in tile.get("alerts", ()) if a.get("status") != "resolved"]
    return (-acuity(tile), -(score["total"] if score else -1), -len(open_alerts),
            str(tile.get("ward") or ""), str(tile.get("bed") or ""), tile.get("patient_id") or 0)


def sickest_first(tiles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for tile in tiles:
        tile["acuity"] = acuity(tile)
    return sorted(tiles, key=sort_key)
