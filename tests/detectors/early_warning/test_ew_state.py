"""State persistence: JSON round trip mid-stream, bounded size."""

from __future__ import annotations

import json

import pytest

from detectors.early_warning import ew_from_dict, ew_new, ew_to_dict


def test_round_trip_mid_stream_continues_identically(feed_days):
    a = ew_new()
    feed_days(a, 0, 20, seed=21)
    b = ew_from_dict(json.loads(json.dumps(ew_to_dict(a))))
    assert ew_to_dict(b) == ew_to_dict(a)
    ex = lambda t: 10.0 if t >= 21 else 0.0  # noqa: E731
    ca = feed_days(a, 20, 6, seed=22, excess=ex)
    cb = feed_days(b, 20, 6, seed=22, excess=ex)
    assert [(t, c.active, c.severity) for t, c in ca] == [(t, c.active, c.severity) for t, c in cb]
    assert ca  # the continuation did raise something
    assert [c.summary for _, c in ca] == [c.summary for _, c in cb]


def test_state_stays_small_after_months(feed_days):
    st = ew_new()
    feed_days(st, 0, 120, seed=23, excess=lambda t: 9.0 if 60 <= t < 66 else 0.0)
    size = len(json.dumps(ew_to_dict(st), separators=(",", ":")))
    assert size < 6 * 1024, size
    assert len(st.days) <= 28 and len(st.scored) <= 72


def test_fresh_state_round_trips_and_version_is_checked():
    doc = ew_to_dict(ew_new())
    assert ew_to_dict(ew_from_dict(doc)) == doc
    with pytest.raises(ValueError):
        ew_from_dict({**doc, "v": 999})
