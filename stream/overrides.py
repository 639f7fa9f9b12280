"""Per-patient alarm thresholds, from the API's patient records to the detectors' rules.

Clinicians set thresholds per patient through the API as {"spo2": {"low": 88}}; the
rules take overrides per rule kind with their own hysteresis. A patient's threshold moves
the rule's `on` level and keeps the default gap to its `off` level, so a COPD patient at
88 % still needs 90 % to clear. The worker reloads the mapping every few seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from detectors.rules import DEFAULT_RULES, Rule

log = logging.getLogger(__name__)

_RULES: dict[str, Rule] = {r.kind: r for r in DEFAULT_RULES}

ACTIVE_THRESHOLDS_SQL = """
SELECT a.device_id, p.thresholds
FROM device_assignments a JOIN patients p ON p.id = a.patient_id
WHERE a.unassigned_at IS NULL AND p.thresholds <> '{}'::jsonb
"""


def rule_overrides(thresholds: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """{"spo2": {"low": 88}} → {"spo2.low": {"on": 88.0, "off": 90.0, "high_at": 85.0}}."""
    out: dict[str, dict[str, float]] = {}
    for vital, sides in thresholds.items():
        for side, level in sides.items():
            rule = _RULES.get(f"{vital}.{side}")
            if rule is None:
                log.debug("no %s.%s rule; threshold ignored", vital, side)
                continue
            level = float(level)
            gap = abs(rule.off - rule.on)
            if side == "low":
                high_at = None if rule.high_at is None else min(rule.high_at, level)
                out[rule.kind] = {"on": level, "off": level + gap, "high_at": high_at}
            else:
                high_at = None if rule.high_at is None else max(rule.high_at, level)
                out[rule.kind] = {"on": level, "off": level - gap, "high_at": high_at}
    return out


async def load_overrides(conn: Any) -> dict[str, dict[str, dict[str, float]]]:
    """device_id → rule overrides, for every device assigned to a patient with thresholds."""
    cur = await conn.execute(ACTIVE_THRESHOLDS_SQL)
    return {device_id: rule_overrides(thresholds or {}) for device_id, thresholds in await cur.fetchall()}
