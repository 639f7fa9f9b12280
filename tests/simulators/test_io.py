"""Writers and readers: round trips, malformed rows with line numbers, MIMIC zeros as missing."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from simulators import (
    MalformedRow,
    ReadStats,
    generate_cohort,
    read_events,
    read_samples,
    write_events_jsonl,
    write_samples_csv,
    write_samples_jsonl,
)
from simulators.writers import CSV_HEADER

MIMIC = Path(__file__).resolve().parents[2] / "data" / "mimic2_numerics_sample"


@pytest.fixture(scope="module")
def traces():
    return list(generate_cohort(2, hours=1, rate_hz=1, seed=3, scenario="default"))


@pytest.mark.parametrize("name", ["s.jsonl", "s.jsonl.gz", "s.csv", "s.csv.gz"])
def test_samples_round_trip(tmp_path, traces, name: str) -> None:
    path = tmp_path / name
    writer = write_samples_csv if ".csv" in name else write_samples_jsonl
    assert writer(traces, path) == sum(len(t) for t in traces)
    if name.endswith(".gz"):
        with gzip.open(path) as f:
            assert f.read(10)
    rows = list(read_samples(path, strict=True))
    assert [r.device_id for r in rows[:1]] == [traces[0].device_id]
    got = np.array([r.metrics() for r in rows], dtype=float)
    assert np.array_equal(got, np.concatenate([t.values for t in traces]), equal_nan=True)
    assert [r.ts_ms for r in rows] == np.concatenate([t.ts_ms for t in traces]).tolist()


def test_jsonl_lines_are_interface_payloads(tmp_path, traces) -> None:
    path = tmp_path / "s.jsonl"
    write_samples_jsonl(traces, path)
    doc = json.loads(path.read_text().splitlines()[0])
    assert set(doc) == {"device_id", "seq", "ts", "hr", "spo2", "rr", "temp", "sbp", "dbp", "activity"}
    assert isinstance(doc["ts"], int) and isinstance(doc["seq"], int)


def test_events_round_trip(tmp_path) -> None:
    trs = list(generate_cohort(3, hours=24, rate_hz=1 / 60, seed=1, scenario="default"))
    events = [e for t in trs for e in t.events]
    assert events
    path = tmp_path / "e.jsonl.gz"
    write_events_jsonl(events, path)
    assert list(read_events(path, strict=True)) == events


BAD_JSONL = """\
{"device_id":"d1","seq":1,"ts":1795000000000,"hr":70}
{"device_id":"d1","seq":2,"ts":1795000001000,"hr":"fast"}
not json at all
{"device_id":"d 1","seq":3,"ts":1795000002000,"hr":70}

{"device_id":"d1","seq":-4,"ts":1795000003000,"hr":70}
{"device_id":"d1","seq":5,"ts":"2026-11-18T11:06:45.000Z","hr":71}
{"device_id":"d1","seq":6,"ts":"2026-11-18T11:06:46","hr":71}
"""


def test_malformed_jsonl_rows_reported_with_line_numbers(tmp_path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(BAD_JSONL)
    errors: list[MalformedRow] = []
    stats = ReadStats()
    rows = list(read_samples(path, on_error=errors.append, stats=stats))
    assert [r.seq for r in rows] == [1, 5]
    assert rows[1].ts_ms == 1795000005000
    assert [e.line for e in errors] == [2, 3, 4, 6, 8]
    assert "hr" in errors[0].reason and "device_id" in errors[2].reason
    assert stats.bad == 5 and stats.rows == 2
    with pytest.raises(MalformedRow) as info:
        list(read_samples(path, strict=True))
    assert info.value.line == 2 and f"{path}:2:" in str(info.value)


def test_malformed_csv_rows_reported_with_line_numbers(tmp_path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        CSV_HEADER + "\n"
        "d1,1,1795000000000,70,97,14,36.6,,,0.01\n"
        "d1,2,1795000001000,seventy,97,14,36.6,,,0.01\n"
        "d1,3,1795000002000,70,97\n"
        "d1,4,1795000003000,,,,,,,\n"
    )
    errors: list[MalformedRow] = []
    rows = list(read_samples(path, on_error=errors.append))
    assert [r.seq for r in rows] == [1, 4]
    assert rows[0].sbp is None and rows[0].temp == 36.6
    assert [e.line for e in errors] == [3, 4]


def test_malformed_event_rows(tmp_path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text(
        '{"device_id":"d1","kind":"fever","start":1,"end":5,"severity":"high"}\n'
        '{"device_id":"d1","kind":"fever","start":9,"end":5,"severity":"high"}\n'
        '{"device_id":"d1","kind":"fever","start":1,"end":5,"severity":"extreme"}\n'
    )
    errors: list[MalformedRow] = []
    assert len(list(read_events(path, on_error=errors.append))) == 1
    assert [e.line for e in errors] == [2, 3]


def test_mimic_zeros_become_missing_values() -> None:
    path = MIMIC / "s00001-2896-10-10-00-31n.csv"
    stats = ReadStats()
    rows = list(read_samples(path, strict=True, stats=stats))
    raw = path.read_text().splitlines()
    header = raw[0].split(",")
    first = dict(zip(header, raw[1].split(",")))
    assert float(first["HR_bpm"]) == 0.0 and float(first["SpO2_%"]) == 0.0
    r0 = rows[0]
    assert r0.device_id == "mimic-s00001" and r0.seq == 0
    assert r0.hr is None and r0.spo2 is None and r0.rr == 23.0  # zeros are "no signal", not 0
    assert all(r.hr != 0 and r.spo2 != 0 and r.sbp != 0 for r in rows)
    assert sum(r.spo2 is None for r in rows) >= 300  # SpO2 probe off ~363 minutes
    assert sum(r.sbp is not None for r in rows) >= 100  # cuff / arterial readings
    assert stats.rows + stats.skipped_empty == len(raw) - 1
    assert all(b.ts_ms - a.ts_ms == 60_000 for a, b in zip(rows, rows[1:]) if b.seq == a.seq + 1)


def test_mimic_second_record_uses_cuff_pressure() -> None:
    rows = list(read_samples(MIMIC / "s25047-2704-05-04-10-44n.csv", strict=True))
    r = next(r for r in rows if r.seq == 2)
    assert (r.hr, r.spo2, r.rr, r.sbp, r.dbp) == (89.5, 95.7, 21.2, 87.0, 46.0)
    assert rows[0].spo2 is None and rows[0].hr == 101.3
