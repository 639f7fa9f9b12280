"""The checkpointed detector state: seqs stored as runs, version 1 states still read."""

from __future__ import annotations

import json
import zlib
from collections import deque

import pytest

from detectors.state import (
    DeviceState,
    StateError,
    _encode_np,
    encode_doc,
    seq_runs,
    seqs_from_runs,
    state_doc,
    state_from_bytes,
    state_to_bytes,
)


@pytest.mark.parametrize("seqs", [[], [5], list(range(100, 612)), [1, 2, 3, 10, 11, 4, 5, 99, 7], [3, 3, 4], [1, 3, 2, 4], [4, 3, 2, 1]])
def test_seq_runs_round_trip_in_arrival_order(seqs):
    runs = seq_runs(seqs)
    assert list(seqs_from_runs(runs)) == seqs
    if seqs == list(range(100, 612)):
        assert runs == [[100, 512]]


def test_state_round_trip_and_version_1_still_reads():
    st = DeviceState("dev-1", last_ts=1_790_000_000_000, seqs=deque([7, 8, 9, 20, 21]))
    back = state_from_bytes(state_to_bytes(st))
    assert list(back.seqs) == [7, 8, 9, 20, 21] and back.seen(20) and not back.seen(10)
    doc = json.loads(zlib.decompress(state_to_bytes(st)))
    assert doc["seq_runs"] == [[7, 3], [20, 2]] and "seqs" not in doc
    # a checkpoint written by a version-1 worker (plain seq list) is continued, not reset
    doc["v"] = 1
    doc["seqs"] = [7, 8, 9, 20, 21]
    del doc["seq_runs"]
    old = state_from_bytes(zlib.compress(json.dumps(doc).encode()))
    assert list(old.seqs) == [7, 8, 9, 20, 21] and old.last_ts == st.last_ts
    doc["v"] = 99
    with pytest.raises(StateError, match="version 99"):
        state_from_bytes(zlib.compress(json.dumps(doc).encode()))


@pytest.mark.parametrize("scenario", ["default", "consumer"])
def test_orjson_writes_the_bytes_stdlib_json_would_on_simulated_days(scenario):
    """state_to_bytes encodes with orjson, which writes NaN as null (stdlib json writes NaN):
    harmless only while no JSON part of a state holds NaN. Simulated patients with events,
    dropouts, detachments and cuff gaps, every detector on, checked every few hours."""
    from detectors import plugins
    from detectors.pipeline import Pipeline
    from simulators.patient import generate_patient
    from vitalstream.records import METRICS, Sample

    lstm = plugins.load_lstm(None) if plugins.HAVE_LSTM else None
    pipeline = Pipeline(lstm=lstm)
    checked = 0
    for index in range(3):
        trace = generate_patient(index, hours=8, rate_hz=1 / 5, seed=11, scenario=scenario)
        state = pipeline.new_state(trace.device_id)
        values = [[None if v != v else float(v) for v in row] for row in trace.values.tolist()]
        chunk = 240
        for start in range(0, len(values), chunk):
            samples = [Sample(trace.device_id, int(trace.seq[i]), int(trace.ts_ms[i]), **dict(zip(METRICS, values[i])))
                       for i in range(start, min(start + chunk, len(values)))]
            step = pipeline.observe(state, samples)
            if step.lstm_due:
                pipeline.score_lstm([state])
            if (start // chunk) % 10 == 9:
                doc = state_doc(state)
                stdlib = json.dumps(doc, separators=(",", ":"), default=_encode_np).encode()
                assert encode_doc(doc) == stdlib
                assert b"NaN" not in stdlib and b"Infinity" not in stdlib
                checked += 1
    assert checked >= 6
