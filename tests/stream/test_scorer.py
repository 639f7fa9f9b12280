"""The worker's batch step over the real detector pipeline: order, duplicates, late samples, state."""

from __future__ import annotations

import random

from detectors.pipeline import Pipeline, PipelineConfig
from detectors.state import state_from_bytes, state_to_bytes
from stream.scoring import Scorer
from tests.stream.conftest import noisy_samples
from vitalstream.records import Sample


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


def _aged_fleet(scorer: Scorer, n: int, end_ms: int) -> dict:
    """n devices whose LSTM has seen 70 minutes (it scores after an hour)."""
    from detectors import plugins

    nan = float("nan")
    live = {}
    for i in range(n):
        state = scorer.pipeline.new_state(f"dev-{i}")
        ts = [end_ms - (70 - k) * 60_000 for k in range(70)]
        plugins.lstm_feed(state.lstm, ts, [[70.0 + (k + i) % 3, 97.0, 15.0, 36.8, nan, nan, 0.02] for k in range(70)])
        live[state.device_id] = state
    return live


def _lstm_scores_per_batch(spread_s: float, devices: int = 300, batches: int = 30) -> list[list[str]]:
    """Every device's minute closes in the first batch; then a batch every 0.5 s."""
    from detectors import plugins

    now = [0.0]
    scorer = Scorer(Pipeline(PipelineConfig(), lstm=plugins.load_lstm(None), early_warning=False), state_to_bytes,
                    state_from_bytes, 64, lstm_spread_s=spread_s, clock=lambda: now[0])
    t0 = 1_795_000_020_000 // 60_000 * 60_000  # a minute boundary
    live = _aged_fleet(scorer, devices, t0 - 1000)
    out = []
    for b in range(batches):
        per_device = {d: [Sample(d, 10_000 + b, t0 + b * 500, hr=71.0, spo2=97.0, rr=15.0, temp=36.8, activity=0.02)]
                      for d in live}
        result = scorer.step(per_device, live)
        out.append([s["device_id"] for s in result.scores if s["detector"] == "lstm"])
        now[0] += 0.5
    return out


def test_lstm_scorings_due_together_are_spread_over_lstm_spread_s():
    per_batch = _lstm_scores_per_batch(spread_s=10.0)
    scored = [d for batch in per_batch for d in batch]
    assert len(scored) == len(set(scored)) == 300  # every device once, none twice
    assert max(len(b) for b in per_batch) <= 2 * 300 * 0.5 / 10  # ~15 a batch, not 300 at once
    assert sum(len(b) for b in per_batch[:21]) == 300  # all within the spread (10 s = 20 batches)
    # At once when spreading is off (VITALSTREAM_WORKER_LSTM_SPREAD_S=0).
    assert [len(b) for b in _lstm_scores_per_batch(spread_s=0.0, batches=2)] == [300, 0]


def test_queued_lstm_scorings_drain_without_new_samples():
    """A fleet that falls due and then goes quiet (the end of a replay): steps with no
    samples, as the worker's one-second timer runs them, score what is still queued."""
    from detectors import plugins

    now = [0.0]
    scorer = Scorer(Pipeline(PipelineConfig(), lstm=plugins.load_lstm(None), early_warning=False), state_to_bytes,
                    state_from_bytes, 64, lstm_spread_s=10.0, clock=lambda: now[0])
    t0 = 1_795_000_020_000 // 60_000 * 60_000
    live = _aged_fleet(scorer, 100, t0 - 1000)
    first = scorer.step({d: [Sample(d, 1, t0, hr=71.0, spo2=97.0, rr=15.0, temp=36.8)] for d in live}, live)
    scored = [s["device_id"] for s in first.scores if s["detector"] == "lstm"]
    assert len(scored) < 100 and len(scorer.lstm_queue) == 100 - len(scored)
    for _ in range(11):
        now[0] += 1.0
        scored += [s["device_id"] for s in scorer.step({}, live).scores if s["detector"] == "lstm"]
    assert sorted(scored) == sorted(live) and not scorer.lstm_queue
