"""Parameter parsing (pure): times, cursors, limits; every failure names its parameter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api import params as P
from api.errors import ApiError


def test_times_rfc3339_and_epoch_ms_agree():
    a = P.parse_time("from", "2026-03-01T12:00:00Z")
    b = P.parse_time("from", "2026-03-01T13:00:00+01:00")
    c = P.parse_time("from", str(int(a.timestamp() * 1000)))
    assert a == b == c and a.tzinfo is UTC


@pytest.mark.parametrize("raw", ["yesterday", "2026-03-01T12:00:00", "1", "2026-13-01T00:00:00Z", "99999999999999"])
def test_bad_times_name_the_parameter(raw):
    with pytest.raises(ApiError) as err:
        P.parse_time("to", raw)
    assert err.value.status == 400 and err.value.param == "to"


def test_cursor_round_trip_and_tamper():
    key = [datetime(2026, 3, 1, tzinfo=UTC), 42]
    cur = P.encode_cursor(key)
    assert P.decode_cursor({"cursor": cur}, (datetime, int)) == key
    for bad in ("zzz", P.encode_cursor(["x", 1]), P.encode_cursor([1]), "eyJ"):
        with pytest.raises(ApiError) as err:
            P.decode_cursor({"cursor": bad}, (datetime, int))
        assert err.value.param == "cursor"


def test_limits_and_unknown_parameters():
    assert P.page_limit({}, 50, 200) == 50
    assert P.page_limit({"limit": "200"}, 50, 200) == 200
    for bad in ("0", "201", "ten", "-1"):
        with pytest.raises(ApiError) as err:
            P.page_limit({"limit": bad}, 50, 200)
        assert err.value.param == "limit"
    with pytest.raises(ApiError) as err:
        P.only_known({"devce_id": "x"}, ("device_id",))
    assert err.value.param == "devce_id"


def test_device_ids_follow_the_interface_pattern():
    assert P.device_id("id", "dev_0001-A") == "dev_0001-A"
    for bad in ("", "a" * 65, "dev 1", "dev/1", None):
        with pytest.raises(ApiError):
            P.device_id("id", bad)
