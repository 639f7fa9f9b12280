"""Readers for recorded streams: INTERFACE §6 JSON Lines / CSV (.gz) and the MIMIC-II numerics CSV.

A malformed row is reported with its line number (MalformedRow) and skipped, or, in
strict mode, raised. Readers yield `vitalstream.records.Sample`s in file order.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from vitalstream.records import METRICS, Sample

from .mimic import is_mimic_header, read_mimic
from .model import Event
from .writers import open_text

log = logging.getLogger(__name__)
DEVICE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
Row = Sample


class MalformedRow(ValueError):
    """A row that cannot become a sample; `line` is 1-based, as an editor shows it."""

    def __init__(self, path: str, line: int, reason: str):
        super().__init__(f"{path}:{line}: {reason}")
        self.path, self.line, self.reason = path, line, reason


ErrorHandler = Callable[[MalformedRow], None]


def _default_handler(err: MalformedRow) -> None:
    log.warning("skipping malformed row %s", err)


@dataclass
class ReadStats:
    rows: int = 0
    bad: int = 0
    skipped_empty: int = 0  # rows without any signal (e.g. MIMIC all-zero minutes)


def parse_ts(value: Any) -> int:
    """Epoch ms from an integer or an RFC 3339 string with a zone."""
    if isinstance(value, bool):
        raise ValueError("ts must be a number or RFC 3339 string")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        dt = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        if dt.tzinfo is None:
            raise ValueError(f"timestamp without a zone: {value!r}")
        return int(round(dt.timestamp() * 1000))
    raise ValueError(f"bad ts {value!r}")


def _metric(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number or null, got {value!r}")
    f = float(value)
    if not math.isfinite(f):
        raise ValueError(f"{name} is not finite")
    return f


def sample_from_doc(doc: Any, device_id: str | None = None) -> Sample:
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    dev = device_id if device_id is not None else doc.get("device_id")
    if not isinstance(dev, str) or not DEVICE_ID.match(dev):
        raise ValueError(f"bad device_id {dev!r}")
    seq = doc.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise ValueError(f"bad seq {seq!r}")
    if "ts" not in doc:
        raise ValueError("missing ts")
    ts = parse_ts(doc["ts"])
    return Sample(dev, seq, ts, *(_metric(m, doc.get(m)) for m in METRICS))


def _jsonl(f: Any, path: str, report: Callable[[int, str], None]) -> Iterator[Sample]:
    for lineno, line in enumerate(f, 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
            if isinstance(doc, dict) and "samples" in doc:  # batch form (INTERFACE §1)
                for s in doc["samples"]:
                    yield sample_from_doc(s, doc.get("device_id"))
            else:
                yield sample_from_doc(doc)
        except (ValueError, TypeError) as exc:
            report(lineno, str(exc))


def _csv(f: Any, path: str, header: list[str], report: Callable[[int, str], None]) -> Iterator[Sample]:
    need = ["device_id", "seq", "ts", *METRICS]
    missing = [c for c in need if c not in header]
    if missing:
        raise MalformedRow(path, 1, f"CSV header lacks {', '.join(missing)}")
    pos = [header.index(c) for c in need]
    for lineno, cells in enumerate(csv.reader(f), 2):
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue
        try:
            if len(cells) != len(header):
                raise ValueError(f"expected {len(header)} cells, got {len(cells)}")
            dev, seq, ts, *ms = (cells[i].strip() for i in pos)
            doc: dict[str, Any] = {"device_id": dev, "seq": int(seq), "ts": int(ts) if ts.lstrip("-").isdigit() else ts}
            for name, cell in zip(METRICS, ms):
                doc[name] = float(cell) if cell else None
            yield sample_from_doc(doc)
        except (ValueError, TypeError) as exc:
            report(lineno, str(exc))


def read_samples(
    path: str | Path,
    *,
    strict: bool = False,
    on_error: ErrorHandler | None = None,
    stats: ReadStats | None = None,
) -> Iterator[Sample]:
    """Samples from JSONL, CSV (either .gz) or a MIMIC-II numerics CSV, chosen by content."""
    p = str(path)
    st = stats if stats is not None else ReadStats()
    handler = on_error or _default_handler

    def report(lineno: int, reason: str) -> None:
        err = MalformedRow(p, lineno, reason)
        st.bad += 1
        if strict:
            raise err
        handler(err)

    with open_text(p, "r") as f:
        first = f.readline()
        stripped = first.lstrip("\ufeff").strip()
        if is_mimic_header(stripped):
            it = read_mimic(f, p, stripped, report, st)
        elif stripped.startswith("{") or not stripped:
            it = _jsonl(_prepend(first, f), p, report)
        else:
            it = _csv(f, p, next(csv.reader([stripped])), report)
        for s in it:
            st.rows += 1
            yield s


def _prepend(first: str, f: Any) -> Iterator[str]:
    yield first
    yield from f


def read_events(path: str | Path, *, strict: bool = False, on_error: ErrorHandler | None = None) -> Iterator[Event]:
    p = str(path)
    handler = on_error or _default_handler
    with open_text(p, "r") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield Event.from_dict(json.loads(line))
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                err = MalformedRow(p, lineno, f"bad event: {exc!r}")
                if strict:
                    raise err from exc
                handler(err)
