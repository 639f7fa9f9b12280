"""The detectors settings section and how the pipeline reads it."""

from __future__ import annotations

import pytest

from detectors.pipeline import Pipeline, PipelineConfig
from vitalstream.config import ConfigError, load_settings


def test_defaults() -> None:
    s = load_settings({}).detectors
    assert s.model_dir is None and s.lstm_enabled and s.early_warning_enabled
    cfg = PipelineConfig.from_settings(s)
    assert cfg.window_s == 300.0 and cfg.refresh_s == 60.0
    assert {"rules", "news2", "signal", "lstm", "early_warning"} == set(cfg.detectors)


def test_switches_and_ward_overrides() -> None:
    s = load_settings({"VITALSTREAM_LSTM_ENABLED": "false", "VITALSTREAM_EARLY_WARNING_ENABLED": "0",
                       "VITALSTREAM_ALERT_REFRESH_S": "120",
                       "VITALSTREAM_RULE_OVERRIDES": '{"spo2.low": {"on": 88, "off": 90}}'}).detectors
    p = Pipeline(s)
    assert "lstm" not in p.config.detectors and "early_warning" not in p.config.detectors
    assert p.config.refresh_s == 120.0
    spo2 = next(r for r in p.config.rules if r.kind == "spo2.low")
    assert (spo2.on, spo2.off) == (88.0, 90.0)
    assert p.lstm is None and not p.early_warning


@pytest.mark.parametrize("raw", ["not json", "[1, 2]", '{"spo2.low": 5}', '{"x.y": {"on": 1}}',
                                 '{"spo2.low": {"bogus": 1}}'])
def test_bad_rule_overrides_name_the_variable(raw: str) -> None:
    with pytest.raises(ConfigError, match="VITALSTREAM_RULE_OVERRIDES"):
        load_settings({"VITALSTREAM_RULE_OVERRIDES": raw})
