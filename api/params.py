"""Query/body parameter parsing: each reader returns a typed value or raises a 400 naming
the parameter. Handlers never touch raw strings.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from storage import queries

from .errors import bad_param

DEVICE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # INTERFACE §1
BUCKETS: dict[str, timedelta] = dict(queries.BUCKETS)  # what storage can aggregate
ALERT_STATUSES = ("open", "acknowledged", "resolved")
SEVERITIES = ("low", "medium", "high")
# Epoch-ms bounds accepted anywhere a time is given: 2000-01-01 .. 2100-01-01.
_MIN_MS, _MAX_MS = 946_684_800_000, 4_102_444_800_000


def parse_time(name: str, raw: str) -> datetime:
    """RFC 3339 with a zone, or epoch milliseconds; always returned tz-aware UTC."""
    text = raw.strip()
    if re.fullmatch(r"-?\d{1,16}", text):
        ms = int(text)
        if not _MIN_MS <= ms <= _MAX_MS:
            raise bad_param(name, "epoch milliseconds out of range (2000..2100)")
        return datetime.fromtimestamp(ms / 1000, tz=UTC)
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise bad_param(name, "expected an RFC 3339 time with a zone or epoch milliseconds") from None
    if value.tzinfo is None:
        raise bad_param(name, "the time needs a zone (e.g. 2026-01-01T00:00:00Z)")
    if not 2000 <= value.year < 2100:
        raise bad_param(name, "time out of range (2000..2100)")
    return value.astimezone(UTC)


def opt_time(query: Mapping[str, str], name: str) -> datetime | None:
    raw = query.get(name)
    return None if raw is None or raw == "" else parse_time(name, raw)


def opt_int(query: Mapping[str, str], name: str, *, lo: int, hi: int) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    if not re.fullmatch(r"-?\d{1,18}", raw.strip()):
        raise bad_param(name, "expected an integer")
    value = int(raw)
    if not lo <= value <= hi:
        raise bad_param(name, f"expected an integer in [{lo}, {hi}]")
    return value


def opt_choice(query: Mapping[str, str], name: str, choices: Sequence[str]) -> str | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    if raw not in choices:
        raise bad_param(name, f"expected one of {', '.join(choices)}")
    return raw


def device_id(name: str, raw: str | None) -> str:
    if raw is None or not DEVICE_ID_RE.fullmatch(raw):
        raise bad_param(name, "expected a device id matching ^[A-Za-z0-9_-]{1,64}$")
    return raw


def opt_device_id(query: Mapping[str, str], name: str) -> str | None:
    raw = query.get(name)
    return None if raw is None or raw == "" else device_id(name, raw)


def path_int(name: str, raw: str) -> int:
    if not re.fullmatch(r"\d{1,18}", raw):
        raise bad_param(name, "expected a positive integer id")
    return int(raw)


def page_limit(query: Mapping[str, str], default: int, maximum: int) -> int:
    value = opt_int(query, "limit", lo=1, hi=maximum)
    return default if value is None else value


def only_known(query: Mapping[str, str], known: Sequence[str]) -> None:
    """Reject unknown query parameters: a typo (`devce_id=`) must not silently widen a query."""
    for key in query:
        if key not in known:
            raise bad_param(key, f"unknown parameter (accepted: {', '.join(known) or 'none'})")


# Cursors are opaque to clients: base64url of a small JSON list (the last row's sort key).
def encode_cursor(key: Sequence[Any]) -> str:
    raw = json.dumps(list(key), default=lambda v: v.isoformat(), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(query: Mapping[str, str], types: Sequence[type], name: str = "cursor") -> list[Any] | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        doc = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        if not isinstance(doc, list) or len(doc) != len(types):
            raise ValueError("shape")
        return [_cursor_field(t, v) for t, v in zip(types, doc, strict=True)]
    except (ValueError, TypeError, json.JSONDecodeError):
        raise bad_param(name, "not a cursor returned by this API") from None


def _cursor_field(kind: type, value: Any) -> Any:
    if kind is datetime:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("naive")
        return parsed
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("int")
        return value
    if not isinstance(value, kind):
        raise ValueError("type")
    return value
