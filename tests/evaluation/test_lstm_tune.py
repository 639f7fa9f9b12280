"""The offline decision replay reproduces the live pipeline's LSTM candidates."""

from __future__ import annotations

import argparse

import pytest

pytest.importorskip("torch")

from detectors.lstm import decide  # noqa: E402
from evaluation import lstm_tune  # noqa: E402


@pytest.fixture(scope="module")
def rec() -> lstm_tune.Recording:
    # The deterioration scenario at 1/min: a small cohort that does raise LSTM alerts.
    args = argparse.Namespace(patients=3, hours=30.0, rate=1 / 60, seed=1007, scenario="deterioration",
                              model_dir=None)
    return lstm_tune.record(args)


def _key(c):
    return (c.device_id, c.ts_ms, c.active, c.severity, c.vitals)


def test_replay_reproduces_the_recorded_lstm_candidates(rec):
    assert rec.lstm, "the cohort should raise at least one LSTM candidate"
    assert sum(len(s["ts"]) for s in rec.scorings.values()) > 1000
    assert [_key(c) for c in lstm_tune.lstm_candidates(rec)] == [_key(c) for c in rec.lstm]
    ev = lstm_tune.evaluate(rec, rec.lstm)
    assert set(ev.detectors) == {"rules", "lstm", "combined"}


def test_a_decision_variant_changes_the_replay(rec):
    with lstm_tune.patched(decide, departed_now=lambda ring: False):
        assert lstm_tune.lstm_candidates(rec) == []  # a gate that never opens: no alert at all
    assert lstm_tune.lstm_candidates(rec, threshold_x=100.0) == []  # nor above an unreachable threshold
