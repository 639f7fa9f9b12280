"""`vitalstream evaluate` end to end on small files (simulated cohort, and the real MIMIC sample)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulators import generate_cohort, write_events_jsonl, write_samples
from vitalstream.cli import main

MIMIC = Path(__file__).resolve().parents[2] / "data" / "mimic2_numerics_sample"
FIGURES = {"recall", "precision", "f1", "delay_median_s", "delay_p90_s", "false_alerts_per_patient_day"}


def _cohort(tmp: Path, rate_hz: float, name: str) -> tuple[Path, Path, int]:
    traces = list(generate_cohort(3, hours=12, rate_hz=rate_hz, seed=11, scenario="default"))
    samples, events = tmp / f"{name}.csv.gz", tmp / f"{name}.events.jsonl"
    write_samples(traces, samples)
    n = write_events_jsonl([e for t in traces for e in t.events], events)
    return samples, events, n


@pytest.mark.parametrize("rate_hz", [0.1, 1 / 60])
def test_evaluate_writes_interface_json_and_plots(tmp_path: Path, rate_hz: float, capsys) -> None:
    samples, events, n_events = _cohort(tmp_path, rate_hz, "c")
    out, plots = tmp_path / "out.json", tmp_path / "plots"
    rc = main(["evaluate", "--samples", str(samples), "--events", str(events), "--json", str(out),
               "--plots", str(plots), "--detectors", "rules,news2,signal"])
    assert rc == 0
    doc = json.loads(out.read_text())
    assert set(doc["detectors"]) == {"rules", "news2", "signal", "combined"}
    for figs in doc["detectors"].values():
        assert FIGURES <= set(figs)
    combined = doc["detectors"]["combined"]
    assert combined["events"] == n_events > 0
    assert combined["alerts"] >= combined["true_alerts"] >= 1  # it finds something in 36 patient-hours
    assert abs(doc["patient_days"] - 1.5) < 0.05
    pngs = sorted(p.name for p in plots.glob("*.png"))
    assert "delays.png" in pngs and any(p.startswith("timeline_") for p in pngs)
    assert all((plots / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    captured = capsys.readouterr()
    assert "| combined |" in captured.out and "replayed" in captured.err


def test_evaluate_runs_on_real_icu_numerics_with_empty_events(tmp_path: Path) -> None:
    empty = tmp_path / "none.jsonl"
    empty.write_text("")
    out = tmp_path / "mimic.json"
    rc = main(["evaluate", "--samples", str(MIMIC), "--events", str(empty), "--json", str(out), "-q",
               "--detectors", "rules,news2,signal"])
    assert rc == 0
    doc = json.loads(out.read_text())
    assert doc["devices"] == 2 and doc["events"] == 0
    combined = doc["detectors"]["combined"]
    assert combined["recall"] is None and combined["alerts"] == combined["false_alerts"]
    assert combined["false_alerts_per_patient_day"] is not None


def test_unknown_detector_is_refused(tmp_path: Path, capsys) -> None:
    empty = tmp_path / "e.jsonl"
    empty.write_text("")
    assert main(["evaluate", "--samples", str(empty), "--events", str(empty), "--detectors", "rules,magic"]) == 2
    assert "magic" in capsys.readouterr().err


def test_missing_samples_file_is_a_clean_error(tmp_path: Path, capsys) -> None:
    empty = tmp_path / "e.jsonl"
    empty.write_text("")
    assert main(["evaluate", "--samples", str(tmp_path / "nope.csv"), "--events", str(empty)]) == 2
    assert "nope.csv" in capsys.readouterr().err
