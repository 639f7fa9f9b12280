"""Detector settings (the `detectors` section; read by detectors.pipeline.PipelineConfig)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .env import ConfigError, Env, PREFIX


@dataclass(frozen=True)
class DetectorSettings:
    model_dir: Path | None  # None: the default model shipped with the package
    lstm_enabled: bool = True
    early_warning_enabled: bool = True
    window_s: float = 300.0  # samples older than the newest minus this are dropped unscored
    refresh_s: float = 60.0  # an ongoing alert condition is re-sent at most this often
    # Ward-wide rule changes, e.g. {"spo2.low": {"on": 88, "off": 90}}; per-patient ones go
    # through Pipeline.set_overrides.
    rule_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Env) -> DetectorSettings:
        value = env.str("MODEL_DIR")
        raw = env.str("RULE_OVERRIDES")
        overrides: dict[str, dict[str, Any]] = {}
        if raw:
            try:
                overrides = json.loads(raw)
            except ValueError:
                raise ConfigError(f"{PREFIX}RULE_OVERRIDES: expected a JSON object, got {raw!r}") from None
            if not isinstance(overrides, dict) or not all(isinstance(v, dict) for v in overrides.values()):
                raise ConfigError(f"{PREFIX}RULE_OVERRIDES: expected {{\"rule.kind\": {{field: value}}}}, got {raw!r}")
            from detectors.rules import DEFAULT_RULES, RuleOverrideError, apply_overrides

            try:
                apply_overrides(DEFAULT_RULES, overrides)
            except RuleOverrideError as exc:
                raise ConfigError(f"{PREFIX}RULE_OVERRIDES: {exc}") from None
        return cls(
            model_dir=Path(value) if value else None,
            lstm_enabled=env.bool("LSTM_ENABLED", True),
            early_warning_enabled=env.bool("EARLY_WARNING_ENABLED", True),
            window_s=env.float("DETECTOR_WINDOW_S", 300.0, lo=0, hi=86400),
            refresh_s=env.float("ALERT_REFRESH_S", 60.0, lo=1, hi=3600),
            rule_overrides=overrides,
        )
