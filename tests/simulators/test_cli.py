"""The `vitalstream simulate` / `replay` commands, through the real CLI entry point."""

from __future__ import annotations

import json

from simulators import read_events, read_samples
from vitalstream.cli import main


def test_offline_cli_writes_a_labelled_cohort(tmp_path, capsys) -> None:
    s, e = tmp_path / "s.csv.gz", tmp_path / "e.jsonl"
    rc = main(["simulate", "--offline", "--devices", "3", "--hours", "24", "--rate", "0.05", "--seed", "3",
               "--samples-out", str(s), "--events-out", str(e), "--device-prefix", "ward7-"])
    assert rc == 0
    out = capsys.readouterr()
    assert "samples/s" in out.out and "3/3 patients" in out.err  # summary and progress bar
    rows = list(read_samples(s, strict=True))
    assert {r.device_id for r in rows} == {"ward7-00000", "ward7-00001", "ward7-00002"}
    assert 3 * 4320 * 0.9 < len(rows) <= 3 * 4320
    events = list(read_events(e, strict=True))
    assert events and all(ev.device_id.startswith("ward7-") for ev in events)


def test_offline_cli_event_rates_override(tmp_path) -> None:
    s, e = tmp_path / "s.jsonl", tmp_path / "e.jsonl"
    rc = main(["simulate", "--offline", "--devices", "2", "--hours", "24", "--rate", "0.02", "--scenario", "normal",
               "--event-rates", "fever=3", "--samples-out", str(s), "--events-out", str(e)])
    assert rc == 0
    kinds = {json.loads(line)["kind"] for line in e.read_text().splitlines()}
    assert kinds == {"fever"}


def test_live_without_broker_says_what_to_set(monkeypatch, capsys) -> None:
    monkeypatch.delenv("VITALSTREAM_MQTT_URL", raising=False)
    assert main(["simulate", "--devices", "1", "--duration", "1"]) == 2
    assert "VITALSTREAM_MQTT_URL" in capsys.readouterr().err


def test_replay_strict_refuses_bad_file(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("VITALSTREAM_MQTT_URL", "mqtt://127.0.0.1:1")  # never reached: refused before publishing
    path = tmp_path / "bad.jsonl"
    path.write_text('{"device_id":"d1","seq":1,"ts":1795000000000,"hr":70}\n{"oops": 1}\n')
    assert main(["replay", str(path), "--strict"]) == 1
    assert ":2:" in capsys.readouterr().err
