"""SharedDecoder: both agents get the same batches, each record decoded once."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from stream import decoded
from stream.decoded import SharedDecoder
from vitalstream.records import RecordError, Sample, SampleBatch, encode_pack


def _event(offset: int, batches: list[SampleBatch]) -> SimpleNamespace:
    return SimpleNamespace(value=encode_pack(batches), message=SimpleNamespace(topic="vitals", partition=0, offset=offset))


def test_second_reader_gets_the_first_readers_decode_then_it_is_dropped(monkeypatch):
    calls = []
    real = decoded.decode_record
    monkeypatch.setattr(decoded, "decode_record", lambda v: calls.append(v) or real(v))
    b = [SampleBatch("d1", 5, (Sample("d1", 1, 1000, hr=70.0),))]
    dec = SharedDecoder(readers=2)
    ev = _event(7, b)
    first, second = dec.decode(ev), dec.decode(ev)
    assert first == second == b and first is second and len(calls) == 1
    assert dec.decode(ev) == b and len(calls) == 2  # a third read (a redelivery) decodes again


def test_bounded_and_errors_propagate():
    dec = SharedDecoder(readers=2, max_held=3)
    b = [SampleBatch("d1", 5, (Sample("d1", 1, 1000, hr=70.0),))]
    for k in range(10):
        dec.decode(_event(k, b))
    assert len(dec._held) == 3
    bad = SimpleNamespace(value=b"nope", message=SimpleNamespace(topic="vitals", partition=0, offset=99))
    with pytest.raises(RecordError):
        dec.decode(bad)
