"""The MIMIC-II Waveform Database numerics sample (shipped in data/mimic2_numerics_sample/).

One device per file, one row per minute. A 0 means the monitor had no valid signal and
becomes a missing value, never a zero. Blood pressure comes from the arterial line
(ABPSys/ABPDias) when it reads non-zero, else from the intermittent cuff (NBPSys/NBPDias,
empty between readings). PULSE_bpm (the oximeter's pulse) duplicates HR and is not used.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from vitalstream.records import Sample


class _Stats(Protocol):
    skipped_empty: int


def is_mimic_header(line: str) -> bool:
    return line.startswith("t_min,timestamp_deid,")


def mimic_device_id(path: str) -> str:
    """'s00001-2896-10-10-00-31n.csv' -> 'mimic-s00001' (the record's subject)."""
    stem = Path(path).name.split(".")[0]
    subject = re.sub(r"[^A-Za-z0-9_-]", "", stem.split("-")[0])[:50] or "record"
    return f"mimic-{subject}"


def _val(cells: dict[str, str], name: str) -> float | None:
    raw = (cells.get(name) or "").strip()
    if not raw:
        return None
    v = float(raw)
    return None if v == 0.0 else v  # 0 = no valid signal


def read_mimic(
    f: Any, path: str, header_line: str, report: Callable[[int, str], None], stats: _Stats
) -> Iterator[Sample]:
    header = next(csv.reader([header_line]))
    dev = mimic_device_id(path)
    for lineno, cells in enumerate(csv.reader(f), 2):
        if not cells:
            continue
        try:
            if len(cells) != len(header):
                raise ValueError(f"expected {len(header)} cells, got {len(cells)}")
            row = dict(zip(header, cells))
            seq = int(float(row["t_min"]))
            # De-identified dates (years 2704, 2896) are naive; read them as UTC.
            ts = int(round(datetime.fromisoformat(row["timestamp_deid"]).replace(tzinfo=UTC).timestamp() * 1000))
            sbp, dbp = _val(row, "ABPSys_mmHg"), _val(row, "ABPDias_mmHg")
            if sbp is None or dbp is None:
                sbp, dbp = _val(row, "NBPSys_mmHg"), _val(row, "NBPDias_mmHg")
            s = Sample(dev, seq, ts, _val(row, "HR_bpm"), _val(row, "SpO2_%"), _val(row, "RESP_pm"), None, sbp, dbp)
        except (ValueError, KeyError) as exc:
            report(lineno, str(exc))
            continue
        if all(v is None for v in s.metrics()):
            stats.skipped_empty += 1  # nothing measured this minute: no sample to send
            continue
        yield s
