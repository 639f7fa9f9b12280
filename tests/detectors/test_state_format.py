"""The checkpointed detector state: seqs stored as runs, version 1 states still read."""

from __future__ import annotations

import json
import zlib
from collections import deque

import pytest

from detectors.state import DeviceState, StateError, seq_runs, seqs_from_runs, state_from_bytes, state_to_bytes


@pytest.mark.parametrize("seqs", [[], [5], list(range(100, 612)), [1, 2, 3, 10, 11, 4, 5, 99, 7], [3, 3, 4]])
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
