"""Writers for INTERFACE §6 labelled data: samples as JSON Lines or CSV, events as JSON Lines.

A path ending in .gz is gzip-compressed (level 1: these files are large and written often;
the higher levels cost 3-5x the time for ~20 % less size).
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO

from vitalstream.records import METRICS

from .fmt import format_values
from .model import Event, PatientTrace

CSV_HEADER = "device_id,seq,ts," + ",".join(METRICS)
JSON_TEMPLATE = '{"device_id":"%s","seq":%d,"ts":%d,' + ",".join(f'"{m}":%s' for m in METRICS) + "}\n"
CSV_TEMPLATE = "%s,%d,%d," + ",".join(["%s"] * len(METRICS)) + "\n"


def open_text(path: str | Path, mode: str) -> IO[str]:
    """Open for text reading ('r') or writing ('w'), through gzip when the name ends in .gz."""
    p = str(path)
    if p.endswith(".gz"):
        if mode == "w":
            # mtime=0: the same data gives the same bytes (reproducible data sets)
            gz = gzip.GzipFile(p, "wb", compresslevel=1, mtime=0)
            return io.TextIOWrapper(gz, encoding="utf-8", newline="\n")
        return io.TextIOWrapper(gzip.open(p, "rb"), encoding="utf-8", newline="")
    if mode == "w":
        return open(p, "w", encoding="utf-8", newline="\n", buffering=1 << 20)
    return open(p, encoding="utf-8", newline="", buffering=1 << 20)


def trace_lines(trace: PatientTrace, csv: bool = False) -> str:
    """All of one trace's samples as JSON Lines (or CSV rows), one string."""
    cols = format_values(trace.values, "" if csv else "null")
    tmpl = CSV_TEMPLATE if csv else JSON_TEMPLATE
    dev = [trace.device_id] * len(trace)
    return "".join([tmpl % row for row in zip(dev, trace.seq.tolist(), trace.ts_ms.tolist(), *cols)])


def _write(
    traces: PatientTrace | Iterable[PatientTrace],
    path: str | Path,
    csv: bool,
    on_trace: Callable[[PatientTrace], None] | None,
) -> int:
    if isinstance(traces, PatientTrace):
        traces = [traces]
    rows = 0
    with open_text(path, "w") as f:
        if csv:
            f.write(CSV_HEADER + "\n")
        for tr in traces:
            f.write(trace_lines(tr, csv))
            rows += len(tr)
            if on_trace is not None:
                on_trace(tr)
    return rows


def write_samples_jsonl(
    traces: PatientTrace | Iterable[PatientTrace],
    path: str | Path,
    on_trace: Callable[[PatientTrace], None] | None = None,
) -> int:
    """Write samples (device by device, each in time order); returns the number of rows."""
    return _write(traces, path, False, on_trace)


def write_samples_csv(
    traces: PatientTrace | Iterable[PatientTrace],
    path: str | Path,
    on_trace: Callable[[PatientTrace], None] | None = None,
) -> int:
    return _write(traces, path, True, on_trace)


def write_samples(traces: PatientTrace | Iterable[PatientTrace], path: str | Path, **kw: object) -> int:
    """JSON Lines or CSV chosen by the file name (.csv / .csv.gz -> CSV)."""
    csv = str(path).removesuffix(".gz").endswith(".csv")
    return _write(traces, path, csv, kw.get("on_trace"))  # type: ignore[arg-type]


def write_events_jsonl(events: Iterable[Event], path: str | Path) -> int:
    n = 0
    with open_text(path, "w") as f:
        for ev in events:
            f.write(ev.to_json() + "\n")
            n += 1
    return n
