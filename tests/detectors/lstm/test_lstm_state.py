"""Per-device state: resampling onto the minute grid, gaps, out-of-order samples, persistence."""

from __future__ import annotations

import json

import numpy as np
import pytest

from detectors.lstm import (
    N_FEATURES,
    WINDOW,
    lstm_feed,
    lstm_state_from_dict,
    lstm_state_new,
    lstm_state_to_dict,
    lstm_update,
    lstm_window,
)
from detectors.lstm.dataset import Trace, minute_means, trace_windows
from detectors.lstm.state import REF_LEN

MIN = 60_000


def _feed_all(ts, vals):
    st, due = lstm_state_new(), []
    for t, v in zip(ts, vals):
        if lstm_update(st, int(t), v):
            due.append(lstm_window(st))
    return st, due


def test_warmup_returns_none_then_windows_of_the_right_shape(synth):
    ts, vals = synth(1, hours=3, rate_hz=1 / 30)
    st = lstm_state_new()
    first_due = None
    for i, (t, v) in enumerate(zip(ts, vals)):
        if lstm_update(st, int(t), v) and first_due is None:
            first_due = i
        if st.observed < 60:
            assert lstm_window(st) is None
    assert first_due is not None and (ts[first_due] - ts[0]) >= 60 * MIN
    w = lstm_window(st)
    assert w.shape == (WINDOW, N_FEATURES) and w.dtype == np.float32


def test_minute_means_average_samples_within_a_minute(synth):
    st = lstm_state_new()
    nan = np.nan
    lstm_update(st, synth.T0 + 1_000, np.array([60, 97, nan, nan, nan, nan, 0.0]))
    lstm_update(st, synth.T0 + 30_000, np.array([80, nan, nan, nan, nan, nan, 0.0]))
    lstm_update(st, synth.T0 + MIN + 5, np.array([70, 97, nan, nan, nan, nan, 0.0]))  # closes minute 0
    assert st.steps == 1
    # first observation seeds the baseline, so the first step's z is 0 for observed vitals
    assert st.ring[-1, 0] == 0.0 and np.isnan(st.ring[-1, 2])
    assert st.mean[0] == 70.0 and st.mean[1] == 97.0  # mean of 60 and 80


def test_gap_pushes_empty_masked_steps(synth):
    ts, vals = synth(2, hours=2, rate_hz=1 / 20)
    st, _ = _feed_all(ts, vals)
    steps = st.steps
    lstm_update(st, int(ts[-1]) + 10 * MIN, vals[-1])  # 10 minutes of silence
    assert st.steps == steps + 1 + 9
    w = lstm_window(st)
    assert w is not None
    assert np.all(w[-9:, 7:13] == 1.0) and np.all(w[-9:, :7] == 0.0)  # masked, zero-filled


def test_late_sample_is_dropped_and_counted_but_within_minute_disorder_is_fine(synth):
    st = lstm_state_new()
    v = np.array([70, 97, 14, 36.6, np.nan, np.nan, 0.1])
    lstm_update(st, synth.T0 + 50_000, v)
    lstm_update(st, synth.T0 + 10_000, v + 10)  # same minute, earlier: still counted
    assert st.counts[0] == 2
    lstm_update(st, synth.T0 + MIN + 1, v)  # closes minute 0
    assert lstm_update(st, synth.T0 + 20_000, v) is False  # minute 0 is closed
    assert st.late == 1 and st.counts[0] == 1


def test_feed_chunk_equals_sample_by_sample_including_disorder(synth):
    ts, vals = synth(3, hours=3, rate_hz=1 / 5)
    ts = ts.copy()
    ts[500], ts[501] = ts[501], ts[500]  # local disorder
    ts[900] = ts[900] - 5 * MIN  # a late straggler
    a, _ = _feed_all(ts, vals)
    b = lstm_state_new()
    for i in range(0, len(ts), 97):  # odd chunk sizes across minute boundaries
        lstm_feed(b, ts[i : i + 97], vals[i : i + 97])
    assert lstm_state_to_dict(a) == lstm_state_to_dict(b)
    assert a.late == 1


@pytest.mark.parametrize("chunk", [1, 2, 4])  # the scalar path: exactly equal (same summation order)
def test_small_chunks_take_the_scalar_path_with_the_same_result(synth, chunk):
    """Live traffic feeds one or two samples per call (the per-sample path); the state, the
    due flags and the late count must equal sample-by-sample feeding, gaps and NaNs included."""
    ts, vals = synth(5, hours=2, rate_hz=1 / 3)
    ts = ts.copy()
    ts[300], ts[301] = ts[301], ts[300]
    ts[700] = ts[700] - 4 * MIN
    vals = vals.copy()
    vals[::7, 2] = np.nan
    a, due_a = _feed_all(ts, vals)
    b = lstm_state_new()
    due_b = []
    for i in range(0, len(ts), chunk):
        rows = [list(r) for r in vals[i:i + chunk]]  # plain lists, as the pipeline passes them
        if lstm_feed(b, [int(t) for t in ts[i:i + chunk]], rows):
            due_b.append(i)
    assert lstm_state_to_dict(a) == lstm_state_to_dict(b) and a.late == b.late == 1
    if chunk == 1:
        assert len(due_b) == len(due_a) > 0


def test_training_windows_equal_streaming_windows(synth):
    ts, vals = synth(4, hours=3, rate_hz=1 / 15)
    _, due = _feed_all(ts, vals)
    tw = trace_windows(Trace("d", ts, vals))
    assert len(due) == len(tw.windows) > 0
    np.testing.assert_array_equal(np.stack(due), tw.windows)
    grid, means = minute_means(ts, vals)
    assert grid[0] == ts[0] // MIN and means.shape[1] == 7


def test_round_trip_is_exact_and_behaviour_continues_identically(synth):
    ts, vals = synth(5, hours=3, rate_hz=1 / 10)
    half = len(ts) // 2
    st, _ = _feed_all(ts[:half], vals[:half])
    st.decision.ref = [0.1] * 5
    doc = json.loads(json.dumps(lstm_state_to_dict(st)))
    st2 = lstm_state_from_dict(doc)
    assert lstm_state_to_dict(st2) == lstm_state_to_dict(st)
    for t, v in zip(ts[half:], vals[half:]):
        assert lstm_update(st, int(t), v) == lstm_update(st2, int(t), v)
    np.testing.assert_array_equal(lstm_window(st), lstm_window(st2))


def test_state_size_stays_under_64_kib_when_full(synth):
    ts, vals = synth(6, hours=3, rate_hz=1 / 10)
    st, _ = _feed_all(ts, vals)
    st.decision.ref = [123.45678] * REF_LEN
    st.decision.err_s = 1.2345678901234
    size = len(json.dumps(lstm_state_to_dict(st)).encode())
    assert size <= 64 * 1024
    assert size < 16 * 1024  # and comfortably so


def test_unknown_state_version_is_refused():
    doc = lstm_state_to_dict(lstm_state_new())
    doc["v"] = 99
    try:
        lstm_state_from_dict(doc)
    except ValueError as exc:
        assert "version" in str(exc)
    else:
        raise AssertionError("accepted a foreign state version")


def test_detached_sensor_values_become_missing(synth):
    """A wearable off the skin: optical vitals missing, skin temperature cooling to ambient."""
    st = lstm_state_new()
    nan = np.nan
    for i in range(70):
        lstm_update(st, synth.T0 + i * MIN, np.array([70, 97, 14, 36.6, nan, nan, 0.1]))
    temp_mean = st.mean[3]
    for i in range(70, 80):
        lstm_update(st, synth.T0 + i * MIN, np.array([nan, nan, nan, 36.6 - (i - 69), nan, nan, 0.0]))
    lstm_update(st, synth.T0 + 80 * MIN, np.array([250.5, 20, 14, 20.0, nan, nan, 0.0]))  # implausible
    lstm_update(st, synth.T0 + 81 * MIN, np.array([70, 97, 14, 36.6, nan, nan, 0.1]))
    assert st.mean[3] == temp_mean  # the baseline never saw the cooling
    w = lstm_window(st)
    assert np.all(w[-11:, 7 + 3] == 1.0)  # temperature masked during the detachment
    assert w[-1, 7 + 0] == 1.0 and w[-1, 7 + 1] == 1.0 and w[-1, 7 + 2] == 0.0  # hr, spo2 out; rr kept


def test_the_per_step_baseline_matches_the_numpy_reference_bit_for_bit():
    """push_step runs a plain-float copy of features.baseline_step (speed); the model was
    trained on the numpy one, so the two must agree exactly, missing, implausible and
    detached steps included, over a long run where the baseline moves."""
    from detectors.lstm.features import baseline_step, initial_baseline
    from detectors.lstm.state import push_step

    rng = np.random.default_rng(7)
    st = lstm_state_new()
    mean, var, n = initial_baseline()
    normal = np.array([75.0, 96.0, 16.0, 36.5, 120.0, 75.0, 0.1])
    spread = np.array([15.0, 3.0, 5.0, 0.8, 25.0, 15.0, 0.3])
    for i in range(3000):
        x = normal + rng.normal(size=7) * spread * (3.0 if i % 97 == 0 else 1.0)
        x[rng.random(7) < 0.15] = np.nan  # missing vitals
        if i % 41 == 0:
            x[:3] = np.nan  # wearable off the skin: temperature must go too
        if i % 53 == 0:
            x[rng.integers(0, 7)] = -5.0  # implausible reading
        if i % 301 == 0:
            x[:] = np.nan  # an empty grid step
        z, mean, var, n = baseline_step(mean, var, n, x)
        push_step(st, x)
        want_ring = np.round(z, 4)
        assert st.ring[-1].tobytes() == want_ring.tobytes(), f"step {i}"  # NaN and -0.0 included
        assert st.mean.tobytes() == mean.tobytes() and st.var.tobytes() == var.tobytes()
        assert st.n.tobytes() == n.tobytes()
