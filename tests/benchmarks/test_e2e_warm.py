"""The end-to-end benchmark's aged states: read back as any checkpoint, the LSTM due at
the next minute, and nothing that would make a fleet sample look like a redelivery."""

from __future__ import annotations

from benchmarks.e2e_warm import warm_states
from detectors import plugins
from detectors.pipeline import Pipeline, PipelineConfig
from detectors.state import state_from_bytes
from vitalstream.records import Sample

END_MS = 1_795_000_000_000 // 60_000 * 60_000 + 30_000  # half a minute into a minute


def test_aged_states_score_at_the_next_minute_and_keep_every_fleet_sample():
    ids = [f"sim-{i:05d}" for i in range(5)]
    blobs = warm_states(ids, END_MS, histories=2)
    assert set(blobs) == set(ids)
    pipeline = Pipeline(PipelineConfig(), lstm=plugins.load_lstm(None), early_warning=False)
    for device_id, blob in blobs.items():
        state = state_from_bytes(blob)
        assert state.device_id == device_id
        assert state.last_ts is None and not state.seqs  # no sample of the fleet is 'already seen'
        # The first fleet sample closes the history's last minute: due at once, and scored.
        def observe(seq: int, ts_ms: int) -> bool:
            sample = Sample(device_id, seq, ts_ms, hr=70.0 + seq % 2, spo2=97.0, rr=15.0, temp=36.8)
            result = pipeline.observe(state, [sample])
            assert len(state.seqs) == seq  # scored, not taken for a redelivery
            return result.lstm_due

        assert observe(1, END_MS)
        [scored] = pipeline.score_lstm([state])
        assert [s.detector for s in scored.scores] == ["lstm"]
        assert not observe(2, END_MS + 1000)  # same minute: nothing new to score
        assert observe(3, END_MS + 60_000)  # the next minute closes this one
