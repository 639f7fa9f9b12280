"""Decode each `vitals` record once for both agents that read it.

The storage and scoring agents consume the same records; decoding (JSON and one Sample
per row) was ~10 % of a worker's CPU, half of it repeated. The first agent to see a
record decodes it and leaves the result here; the second takes it out. Bounded: a
record one agent never reaches (a rebalance) ages out.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from vitalstream.records import SampleBatch, decode_record

MAX_HELD = 50_000  # records; a few seconds of traffic at most, a few tens of MB


class SharedDecoder:
    def __init__(self, readers: int = 2, max_held: int = MAX_HELD):
        self.readers = readers
        self.max_held = max_held
        self._held: OrderedDict[tuple[str, int, int], list[Any]] = OrderedDict()  # key → [batches, readers left]

    def decode(self, event: Any) -> list[SampleBatch]:
        """The record's batches (raises RecordError like decode_record)."""
        if self.readers < 2:
            return decode_record(event.value)
        msg = event.message
        key = (msg.topic, msg.partition, msg.offset)
        entry = self._held.get(key)
        if entry is not None:
            entry[1] -= 1
            if entry[1] <= 0:
                del self._held[key]
            return entry[0]
        batches = decode_record(event.value)
        self._held[key] = [batches, self.readers - 1]
        while len(self._held) > self.max_held:
            self._held.popitem(last=False)
        return batches
