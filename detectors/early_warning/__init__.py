"""Early warning over days: personal resting-heart-rate baselines for consumer wearables.

Public contract (issue 11):
    ew_new() -> EwState
    ew_update(state, device_id, ts_ms, hr, activity) -> AlertCandidate | None
    ew_to_dict(state) -> dict      (JSON-able, a few KiB)
    ew_from_dict(doc) -> EwState
Candidates have kind "early_warning", severity "low"/"medium", detector "early_warning".
"""

from .config import DEFAULT_CONFIG, EwConfig
from .state import EwState, ew_from_dict, ew_new, ew_to_dict
from .update import ew_update

__all__ = ["DEFAULT_CONFIG", "EwConfig", "EwState", "ew_from_dict", "ew_new", "ew_to_dict", "ew_update"]
