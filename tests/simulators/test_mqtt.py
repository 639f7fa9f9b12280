"""Replay and the live fleet through a real MQTT broker, checked by a real paho subscriber."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from simulators.fleet import run_fleet
from simulators.readers import read_events
from simulators.replay import load_recording, replay
from vitalstream.mqtturl import parse_mqtt_url

MIMIC = Path(__file__).resolve().parents[2] / "data" / "mimic2_numerics_sample"


class Subscriber:
    """Collects (arrival monotonic s, topic, payload dict) for everything under root/#."""

    def __init__(self, url: str, root: str):
        t = parse_mqtt_url(url)
        self.got: list[tuple[float, str, dict]] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{uuid.uuid4().hex[:8]}")
        if t.username:
            self.client.username_pw_set(t.username, t.password)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(f"{root}/#", qos=1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self._ready.set()
        self.client.on_message = self._on_message
        self.client.connect(t.host, t.port)
        self.client.loop_start()
        assert self._ready.wait(10), "subscription not acknowledged"

    def _on_message(self, client, userdata, msg) -> None:
        with self._lock:
            self.got.append((time.monotonic(), msg.topic, json.loads(msg.payload)))

    def wait_for(self, n: int, timeout_s: float = 30) -> list[tuple[float, str, dict]]:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end and len(self.got) < n:
            time.sleep(0.02)
        return list(self.got)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def root() -> str:
    return f"simtest-{uuid.uuid4().hex[:8]}/vitals"


@pytest.fixture
def sub(mqtt_url: str, root: str):
    s = Subscriber(mqtt_url, root)
    yield s
    s.close()


def _recording_file(tmp_path: Path) -> Path:
    """3 devices, 30 samples over 2.9 s, written out of order per file (replay sorts by ts)."""
    lines = []
    for dev in ("rp-a", "rp-b", "rp-c"):
        for k in range(10):
            ts = 1_795_000_000_000 + k * 300 + {"rp-a": 0, "rp-b": 100, "rp-c": 200}[dev]
            lines.append(json.dumps({"device_id": dev, "seq": k, "ts": ts, "hr": 60 + k, "spo2": 97}))
    lines.insert(5, '{"device_id": "rp-a", "seq": "broken"')
    path = tmp_path / "rec.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("speed", [1.0, 2.0])
async def test_replay_preserves_order_and_scaled_timing(tmp_path, mqtt_url, root, sub, speed: float) -> None:
    rec = load_recording(_recording_file(tmp_path), on_error=lambda e: None)
    assert rec.stats.bad == 1 and len(rec) == 30
    t_pub = time.monotonic()
    stats = await replay(mqtt_url, root, rec, speed=speed)
    assert stats.published == 30 and stats.acked == 30
    got = sub.wait_for(30)
    assert len(got) == 30
    ts = [p["ts"] for _, _, p in got]
    assert ts == sorted(ts)  # global order follows the recording's clock
    for dev in ("rp-a", "rp-b", "rp-c"):
        seqs = [p["seq"] for _, topic, p in got if topic == f"{root}/{dev}"]
        assert seqs == list(range(10))  # per-device order, original seq kept
        assert all(p["device_id"] == dev for _, topic, p in got if topic.endswith(dev))
    # Arrival offsets follow the recorded offsets divided by speed.
    arrive = [a - got[0][0] for a, _, _ in got]
    expect = [(t - ts[0]) / 1000.0 / speed for t in ts]
    assert abs(arrive[-1] - expect[-1]) < 0.25 * expect[-1] + 0.1, (arrive[-1], expect[-1])
    assert max(abs(a - e) for a, e in zip(arrive, expect)) < 0.35
    assert got[0][0] - t_pub < 2.0


async def test_replay_as_fast_as_possible_with_rewritten_timestamps(tmp_path, mqtt_url, root, sub) -> None:
    rec = load_recording(_recording_file(tmp_path), on_error=lambda e: None)
    now_ms = time.time() * 1000
    stats = await replay(mqtt_url, root, rec, speed=0, rewrite_ts=True)
    assert stats.elapsed_s < 2.0
    got = sub.wait_for(30)
    assert len(got) == 30
    assert all(abs(p["ts"] - now_ms) < 10_000 for _, _, p in got)
    assert all(p["seq"] >= now_ms - 10_000 for _, _, p in got)  # offset: a second replay is not a duplicate


async def test_replay_mimic_record(mqtt_url, root, sub) -> None:
    rec = load_recording(MIMIC / "s25047-2704-05-04-10-44n.csv", strict=True)
    stats = await replay(mqtt_url, root, rec, speed=0)
    got = sub.wait_for(len(rec))
    assert stats.published == len(rec) == len(got)
    assert all(topic == f"{root}/mimic-s25047" for _, topic, _ in got)
    first = got[0][2]
    assert first["spo2"] is None and first["hr"] == 101.3  # the record's 0 arrives as null
    assert abs(first["ts"] - time.time() * 1000) < 60_000  # de-identified year 2704 rewritten to now


async def test_fleet_publishes_every_device_every_tick(tmp_path, mqtt_url, root, sub) -> None:
    events = tmp_path / "ev.jsonl"
    stats = await run_fleet(mqtt_url, root, 20, 2.0, 2.0, seed=1, scenario="normal", events_out=events)
    got = sub.wait_for(stats.published)
    assert stats.published == stats.acked == len(got)
    assert 70 <= stats.samples <= 80  # 20 devices x 4 ticks, minus a rare dropped sample
    now = time.time() * 1000
    for _, topic, p in got:
        assert topic == f"{root}/{p['device_id']}"
        assert abs(p["ts"] - now) < 30_000
        assert any(isinstance(p[m], (int, float)) for m in ("hr", "spo2", "rr", "temp", "activity"))
    per_dev = {}
    for _, _, p in got:
        per_dev.setdefault(p["device_id"], []).append((p["seq"], p["ts"]))
    assert len(per_dev) == 20
    for rows in per_dev.values():
        assert rows == sorted(rows) and len({s for s, _ in rows}) == len(rows)
    assert list(read_events(events)) == []


async def test_fleet_batched_payloads(mqtt_url, root, sub) -> None:
    stats = await run_fleet(mqtt_url, root, 5, 2.0, 3.0, seed=2, scenario="normal", batch=3)
    got = sub.wait_for(stats.published)
    assert len(got) == stats.published == 10  # 6 ticks / batch 3 per device
    assert all(len(p["samples"]) == 3 and p["device_id"] in topic for _, topic, p in got)
    assert stats.samples == sum(len(p["samples"]) for _, _, p in got)


async def test_fleet_stops_cleanly_on_cancellation(mqtt_url, root, sub) -> None:
    task = asyncio.create_task(run_fleet(mqtt_url, root, 10, 5.0, 600.0, seed=3))
    await asyncio.sleep(1.5)
    t0 = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - t0 < 5.0
    await asyncio.sleep(0.5)  # let the last acknowledged messages arrive
    n = len(sub.got)
    await asyncio.sleep(1.0)
    assert n >= 10 and len(sub.got) == n  # it published, then nothing more after the cancel


async def test_replay_loop_repeats_with_fresh_seq(tmp_path, mqtt_url, root, sub) -> None:
    rec = load_recording(_recording_file(tmp_path), on_error=lambda e: None)
    task = asyncio.create_task(replay(mqtt_url, root, rec, speed=20.0, loop=True))
    got = await asyncio.to_thread(sub.wait_for, 75, 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(got) >= 75  # more than two passes of 30
    keys = [(topic, p["seq"]) for _, topic, p in got]
    assert len(set(keys)) == len(keys)  # every pass gets new seq: nothing looks like a redelivery
    ts = [p["ts"] for _, _, p in got]
    assert ts == sorted(ts) and abs(ts[-1] - time.time() * 1000) < 10_000  # looping rewrites ts to now


async def test_publisher_counts_every_puback_once_on_its_fast_path(mqtt_url, root, sub) -> None:
    """The publisher reads PUBACKs off the wire itself (paho's per-ack objects cost a third
    of its CPU): every message acknowledged exactly once, paho's table emptied, the window
    refilled, and paho's own on_publish never needed for MQTT 3.1.1."""
    from simulators.publisher import BoundedPublisher

    pub = BoundedPublisher(mqtt_url, max_outstanding=50)
    slow_path: list[int] = []
    pub.client.on_publish = lambda c, u, mid, rc, p: slow_path.append(mid)
    await pub.connect()
    try:
        for k in range(600):  # 12x the window: publish() must be woken by acks to get through
            await pub.publish(f"{root}/pub-1", json.dumps({"device_id": "pub-1", "seq": k, "ts": 1, "hr": 60}))
        assert await pub.drain(timeout_s=20)
    finally:
        await pub.close()
    assert pub.published == pub.acked == 600
    assert not pub.client._out_messages and pub.client._inflight_messages == 0
    assert slow_path == []
    got = sub.wait_for(600)
    assert sorted(m[2]["seq"] for m in got) == list(range(600))


async def test_fleet_devices_publish_in_phases_across_each_tick(mqtt_url, root, sub) -> None:
    """Unsynchronised wearables: a tick's samples are stamped and published across the tick
    (20 phases of 50 ms at 1 Hz), not in one burst, and each device keeps one phase."""
    stats = await run_fleet(mqtt_url, root, 40, 1.0, 3.0, seed=4, scenario="normal")
    got = sub.wait_for(stats.published)
    assert len(got) == stats.published >= 110
    by_seq: dict[int, list[tuple[float, int]]] = {}
    offsets: dict[str, set[int]] = {}
    for arrived, _, p in got:
        by_seq.setdefault(p["seq"], []).append((arrived, p["ts"]))
        offsets.setdefault(p["device_id"], set()).add(p["ts"] % 1000)
    for rows in by_seq.values():
        stamps = sorted(ts for _, ts in rows)
        assert len(set(stamps)) >= 15 and 900 <= stamps[-1] - stamps[0] < 1000  # spread over the tick
        arrivals = sorted(a for a, _ in rows)
        assert arrivals[-1] - arrivals[0] > 0.6  # and published that way, not in a burst
    assert all(len(o) == 1 for o in offsets.values())  # a device keeps its phase
