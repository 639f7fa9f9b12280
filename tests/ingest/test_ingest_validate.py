"""Unit and property tests of ingest.validate (pure, no services)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.ranges import RANGES
from ingest.validate import MAX_PAYLOAD_BYTES, Limits, Reason, ValidationResult, validate
from vitalstream.records import METRICS

NOW = 1_795_000_000_000
LIMITS = Limits(max_past_ms=7 * 24 * 3600 * 1000, max_future_ms=300_000, topic_root="vitals")
GOOD = {"device_id": "dev-0001", "seq": 1234, "ts": NOW - 1000, "hr": 72, "spo2": 97.5, "rr": 14,
        "temp": 36.7, "sbp": 121, "dbp": 79, "activity": 0.12}


def check(doc: object, topic: str = "vitals/dev-0001") -> ValidationResult:
    raw = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return validate(topic, raw, now_ms=NOW, limits=LIMITS)


def reasons(result: ValidationResult) -> list[str]:
    return [r.reason.value for r in result.rejections]


def test_interface_example_is_accepted() -> None:
    result = check(GOOD)
    assert result.rejections == () and result.batch is not None
    (s,) = result.batch.samples
    assert (s.device_id, s.seq, s.ts_ms, s.hr, s.spo2, s.dbp, s.activity) == ("dev-0001", 1234, NOW - 1000, 72.0, 97.5, 79.0, 0.12)
    assert result.batch.received_at_ms == NOW


def test_rfc3339_timestamps() -> None:
    assert check({**GOOD, "ts": "2026-11-18T11:06:39Z"}).batch.samples[0].ts_ms == NOW - 1000
    assert check({**GOOD, "ts": "2026-11-18T12:06:39.250+01:00"}).batch.samples[0].ts_ms == NOW - 750
    assert check({**GOOD, "ts": "2026-11-18 11:06:39.123456789Z"}).batch.samples[0].ts_ms == NOW - 877
    assert check({**GOOD, "ts": "2026-11-18t11:06:39z"}).batch.samples[0].ts_ms == NOW - 1000
    for bad in ["2026-11-18T09:46:39", "2026-11-18", "yesterday", "2026-13-18T09:46:39Z", "2026-11-18T09:46:60Z"]:
        assert reasons(check({**GOOD, "ts": bad})) == ["ts_invalid"], bad


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"ts": NOW + 301_000}, "ts_future"),
        ({"ts": 0}, "ts_too_old"),  # 1970
        ({"ts": NOW - 8 * 24 * 3600 * 1000}, "ts_too_old"),
        ({"ts": 1.5e12}, "ts_invalid"),
        ({"ts": None}, "ts_missing"),
        ({"seq": -1}, "seq_invalid"),
        ({"seq": 1.0}, "seq_invalid"),
        ({"seq": "7"}, "seq_invalid"),
        ({"seq": True}, "seq_invalid"),
        ({"seq": 2**63}, "seq_invalid"),
        ({"seq": 2**70}, "seq_invalid"),  # past 64 bits: orjson refuses it, the reason must still be exact
        ({"hr": 10**400}, "out_of_range"),
        ({"seq": None}, "seq_missing"),
        ({"hr": 900}, "out_of_range"),
        ({"spo2": 130}, "out_of_range"),
        ({"temp": 98.6}, "out_of_range"),
        ({"activity": -0.1}, "out_of_range"),
        ({"hr": "72"}, "metric_invalid"),
        ({"hr": True}, "metric_invalid"),
        ({"hr": [72]}, "metric_invalid"),
        ({"sbp": 80, "dbp": 80}, "bp_inconsistent"),
        ({"sbp": 80, "dbp": 90}, "bp_inconsistent"),
        ({"device_id": "dev-0002"}, "device_id_mismatch"),
        ({"device_id": "dev 0001"}, "device_id_invalid"),
        ({"device_id": 1}, "device_id_invalid"),
        ({"device_id": None}, "device_id_missing"),
        ({"samples": {}}, "samples_invalid"),
        ({"samples": []}, "samples_empty"),
    ],
)
def test_single_sample_rules(change: dict, reason: str) -> None:
    result = check({**GOOD, **change})
    assert result.batch is None and reasons(result) == [reason]
    assert result.rejections[0].message


def test_at_least_one_metric() -> None:
    bare = {k: v for k, v in GOOD.items() if k not in METRICS}
    assert reasons(check(bare)) == ["no_metrics"]
    assert reasons(check({**bare, "hr": None, "spo2": None})) == ["no_metrics"]
    assert check({**bare, "activity": 0}).batch is not None  # zero is a number


def test_unknown_keys_and_nulls_are_fine() -> None:
    result = check({**GOOD, "firmware": "1.2", "rr": None, "battery": {"pct": 40}})
    assert result.rejections == () and result.batch.samples[0].rr is None


def test_range_bounds_are_inclusive() -> None:
    for name, (lo, hi) in RANGES.items():
        for value in (lo, hi):
            doc = {**GOOD, name: value}
            if name == "dbp":
                doc["sbp"] = 250
            if name == "sbp":
                doc["dbp"] = None
            assert check(doc).rejections == (), (name, value)


@pytest.mark.parametrize(
    ("raw", "topic", "reason"),
    [
        (b"", "vitals/dev-0001", "payload_empty"),
        (b"{" + b" " * MAX_PAYLOAD_BYTES + b"}", "vitals/dev-0001", "payload_too_large"),
        (b"{not json", "vitals/dev-0001", "json_invalid"),
        (b'{"device_id": "dev-0001", "seq": 1, "ts": 1, "hr": NaN}', "vitals/dev-0001", "json_invalid"),
        ("\ufeff{}".encode(), "vitals/dev-0001", "json_invalid"),
        (json.dumps(GOOD).encode("utf-16"), "vitals/dev-0001", "json_invalid"),
        (b"\xff\xfe", "vitals/dev-0001", "json_invalid"),
        (b"[1, 2]", "vitals/dev-0001", "not_an_object"),
        (b"null", "vitals/dev-0001", "not_an_object"),
        (b"[" * 100_000, "vitals/dev-0001", "payload_too_large"),
        (b"[" * 60_000, "vitals/dev-0001", "json_invalid"),
        (json.dumps(GOOD).encode(), "vitals/", "topic_invalid"),
        (json.dumps(GOOD).encode(), "other/dev-0001", "topic_invalid"),
        (json.dumps(GOOD).encode(), "vitals/dev/0001", "topic_invalid"),
        (json.dumps(GOOD).encode(), "vitals/" + "a" * 65, "topic_invalid"),
    ],
)
def test_payload_level_rules(raw: bytes, topic: str, reason: str) -> None:
    result = validate(topic, raw, now_ms=NOW, limits=LIMITS)
    assert result.batch is None and reasons(result) == [reason]
    assert result.rejections[0].index is None


def test_exactly_64_kib_is_allowed() -> None:
    raw = json.dumps({**GOOD, "pad": ""}).encode()
    raw = raw[:-2] + b" " * (MAX_PAYLOAD_BYTES - len(raw)) + raw[-2:]
    assert len(raw) == MAX_PAYLOAD_BYTES and check(raw).batch is not None


def test_batch_passes_valid_samples_and_rejects_each_invalid_one() -> None:
    samples = [
        {"seq": 1, "ts": NOW, "hr": 70},
        {"seq": 2, "ts": NOW, "hr": 900},
        "oops",
        {"seq": 3, "ts": NOW, "spo2": 95, "device_id": "dev-0001"},
        {"seq": 4, "ts": NOW, "spo2": 95, "device_id": "dev-0009"},
        {"seq": 1, "ts": NOW, "hr": 71},
        {"seq": 5, "ts": NOW},
    ]
    result = check({"device_id": "dev-0001", "samples": samples})
    assert [s.seq for s in result.batch.samples] == [1, 3]
    got = [(r.index, r.reason.value, r.field) for r in result.rejections]
    assert got == [(1, "out_of_range", "hr"), (2, "sample_not_object", None), (4, "device_id_mismatch", "device_id"),
                   (5, "seq_duplicate", "seq"), (6, "no_metrics", None)]
    assert result.total == 7 and result.accepted == 2


def test_batch_of_only_invalid_samples_has_no_batch() -> None:
    result = check({"device_id": "dev-0001", "samples": [{"seq": 1, "ts": NOW, "hr": 1000}]})
    assert result.batch is None and reasons(result) == ["out_of_range"]


def test_topic_root_with_levels() -> None:
    limits = Limits(max_past_ms=10**9, max_future_ms=10**6, topic_root="t1/vitals")
    assert validate("t1/vitals/dev-0001", json.dumps(GOOD).encode(), now_ms=NOW, limits=limits).batch is not None


# --- properties: never raises, always accepted or rejected with a reason ------------------


def assert_well_formed(result: ValidationResult) -> None:
    assert isinstance(result, ValidationResult)
    assert result.batch is not None or result.rejections
    for r in result.rejections:
        assert isinstance(r.reason, Reason) and r.reason is not Reason.INTERNAL_ERROR and r.message
    # every sample is either accepted or rejected, never both, never neither
    rejected = {r.index for r in result.rejections}
    if result.batch is not None:
        assert result.accepted + len(rejected) == result.total
    for s in result.batch.samples if result.batch else ():
        assert s.device_id == result.device_id
        for name, value in zip(METRICS, s.metrics(), strict=True):
            lo, hi = RANGES[name]
            assert value is None or lo <= value <= hi


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048), st.text(max_size=80))
def test_arbitrary_bytes_and_topics(raw: bytes, topic: str) -> None:
    assert_well_formed(validate(topic, raw, now_ms=NOW, limits=LIMITS))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
keys = st.sampled_from(["device_id", "seq", "ts", "samples", *METRICS, "extra"])


@st.composite
def mutated_payloads(draw: st.DrawFn) -> bytes:
    doc: dict = dict(GOOD)
    if draw(st.booleans()):
        doc = {"device_id": "dev-0001", "samples": [dict(GOOD, seq=i) for i in range(draw(st.integers(1, 4)))]}
    target = doc if "samples" not in doc or draw(st.booleans()) else draw(st.sampled_from(doc["samples"]))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["set", "delete", "number"]))
        key = draw(keys)
        if op == "delete":
            target.pop(key, None)
        elif op == "number":
            target[key] = draw(st.integers(-(10**15), 10**15) | st.floats(allow_nan=False, allow_infinity=True))
        else:
            target[key] = draw(json_values)
    raw = json.dumps(doc).encode()  # allow_infinity: json.dumps writes Infinity, which must be rejected
    if draw(st.booleans()):  # byte-level damage too
        pos = draw(st.integers(0, len(raw)))
        raw = raw[:pos] + draw(st.binary(max_size=4)) + raw[pos + draw(st.integers(0, 3)):]
    return raw


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_payloads())
def test_mutated_valid_payloads(raw: bytes) -> None:
    assert_well_formed(validate("vitals/dev-0001", raw, now_ms=NOW, limits=LIMITS))


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from(METRICS), st.floats(-1e3, 1e3, allow_nan=False) | st.none(), min_size=1))
def test_metrics_accepted_exactly_when_in_range(metrics: dict) -> None:
    doc = {"device_id": "dev-0001", "seq": 1, "ts": NOW, **metrics}
    result = check(doc)
    numbers = {k: v for k, v in metrics.items() if v is not None}
    in_range = all(RANGES[k][0] <= v <= RANGES[k][1] for k, v in numbers.items())
    bp_ok = not ("sbp" in numbers and "dbp" in numbers) or numbers["dbp"] < numbers["sbp"]
    assert (result.batch is not None) == (bool(numbers) and in_range and bp_ok)


def test_fast_enough() -> None:
    import time

    raw = json.dumps(GOOD).encode()
    start = time.perf_counter()
    for _ in range(20_000):
        validate("vitals/dev-0001", raw, now_ms=NOW, limits=LIMITS)
    per_call_us = (time.perf_counter() - start) / 20_000 * 1e6
    assert per_call_us < 200, per_call_us  # ~15 µs here; generous for a shared 2-core machine
