"""The worker's batch step over the real detector pipeline: order, duplicates, late samples, state."""

from __future__ import annotations

import random

from detectors.pipeline import Pipeline, PipelineConfig
from detectors.state import state_from_bytes, state_to_bytes
from stream.scoring import Scorer
from tests.stream.conftest import noisy_samples


def _scorer() -> Scorer:
    return Scorer(Pipeline(PipelineConfig(), lstm=None, early_warning=False), state_to_bytes, state_from_bytes, 64)


def _step(scorer: Scorer, per_device: dict, live: dict | None = None):
    live = {} if live is None else live
    for device_id in per_device:
        live.setdefault(device_id, scorer.state_for(device_id, None))
    return scorer.step(per_device, live), live


def test_shuffled_input_is_scored_in_order_and_duplicates_are_ignored():
    scorer = _scorer()
    samples = noisy_samples("dev-1", 0, 1_795_000_000_000, 120, spo2=86, seed=1)
    shuffled = samples[:]
    random.Random(7).shuffle(shuffled)
    out, _ = _step(scorer, {"dev-1": shuffled + samples[:10]})
    assert out.scored_samples == 120 and out.late_samples == 10
    kinds = {c.kind for c in out.candidates if c.active}
    assert "spo2.low" in kinds  # 120 s below 90 %: the ordered stream reaches the persistence


def test_late_sample_is_not_rescored_and_state_round_trips():
    scorer = _scorer()
    samples = noisy_samples("dev-2", 0, 1_795_000_000_000, 60, spo2=96, seed=2)
    first, live = _step(scorer, {"dev-2": samples[30:]})
    assert first.scored_samples == 30
    # The state survives its byte form (the changelog checkpoint) ...
    blob = scorer.to_bytes(live["dev-2"])
    assert len(blob) < 64 * 1024
    restored = {"dev-2": scorer.state_for("dev-2", blob)}
    # ... and a sample older than what the device already reported is stored by the sink,
    # not re-scored here.
    again = scorer.step({"dev-2": samples[:5]}, restored)
    assert again.scored_samples == 0 and again.late_samples == 5


def test_patient_threshold_moves_the_rule_and_keeps_its_hysteresis():
    from stream.overrides import rule_overrides

    over = rule_overrides({"spo2": {"low": 88}, "hr": {"high": 130}, "dbp": {"low": 40}})
    assert over["spo2.low"]["on"] == 88 and over["spo2.low"]["off"] == 90
    assert over["hr.high"]["on"] == 130 and over["hr.high"]["off"] == 120
    assert "dbp.low" not in over  # no such rule: ignored, not an error


def test_scorer_applies_a_patients_threshold():
    scorer = _scorer()
    samples = noisy_samples("copd-1", 0, 1_795_000_000_000, 120, spo2=88, seed=3)
    plain, _ = _step(scorer, {"copd-1": list(samples)})
    assert any(c.kind == "spo2.low" and c.active for c in plain.candidates)
    from stream.overrides import rule_overrides

    scorer.overrides = {"copd-2": rule_overrides({"spo2": {"low": 85}})}
    tuned, _ = _step(scorer, {"copd-2": noisy_samples("copd-2", 0, 1_795_000_000_000, 120, spo2=88, seed=3)})
    assert not any(c.kind == "spo2.low" for c in tuned.candidates)
