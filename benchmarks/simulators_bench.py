"""Simulator benchmark: offline generation rate (samples/s) and the live publish rate sustained.

    python -m benchmarks.simulators_bench [--patients 100] [--hours 24] [--devices 5000]
                                          [--duration 30] [--batch 1] [--skip-live] [--json OUT]

Offline: a cohort at 1 Hz (default 100 patient-days, the issue's target: under a minute)
generated and written as JSON Lines to a temporary file; generation alone is timed too.
Live: `run_fleet` with --devices at 1 Hz for --duration seconds against the broker in
VITALSTREAM_MQTT_URL (default mqtt://127.0.0.1:1883), on a private topic root so that no
gateway consumes it; the figure is messages acknowledged per second and whether the fleet
kept up with real time (max lag). A raw paho publisher (the same bounded window, no
simulation) is timed in the same run as the ceiling of this machine at this moment: on a
shared 2-core machine both figures are noisy, compare them with each other.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from simulators.fleet import run_fleet
from simulators.offline import run_offline
from simulators.patient import generate_cohort
from vitalstream.mqtturl import parse_mqtt_url


def offline(patients: int, hours: float) -> dict[str, float]:
    t0 = time.perf_counter()
    n_gen = 0
    sample = max(1, patients // 10)
    for tr in generate_cohort(sample, hours=hours, rate_hz=1.0, seed=1):
        n_gen += len(tr)
    gen_rate = n_gen / (time.perf_counter() - t0)
    with tempfile.TemporaryDirectory() as d:
        st = run_offline(
            devices=patients, hours=hours, rate_hz=1.0, seed=1, scenario="default",
            samples_out=Path(d) / "s.jsonl", events_out=Path(d) / "e.jsonl", progress=sys.stderr.isatty(),
        )
        size = (Path(d) / "s.jsonl").stat().st_size
    return {
        "patient_days": patients * hours / 24, "samples": st.samples, "seconds": round(st.elapsed_s, 2),
        "samples_per_s": round(st.samples_per_s), "generate_only_samples_per_s": round(gen_rate),
        "bytes": size,
    }


def raw_paho(url: str, n: int, window: int) -> float:
    """Acked msgs/s of a bare paho QoS 1 publisher with the simulator's window: this machine's ceiling now."""
    import paho.mqtt.client as mqtt

    t = parse_mqtt_url(url)
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-raw-{uuid.uuid4().hex[:8]}")
    if t.username:
        c.username_pw_set(t.username, t.password)
    c.max_inflight_messages_set(0)  # as the simulator: paho's limit off, our window bounds it
    acked = [0]
    lock = threading.Lock()

    def on_publish(*_a: object) -> None:
        with lock:
            acked[0] += 1

    c.on_publish = on_publish
    c.connect(t.host, t.port)
    c.loop_start()
    root = f"bench-raw-{uuid.uuid4().hex[:8]}"
    payload = (
        b'{"device_id":"sim-00001","seq":1795000000,"ts":1795000000000,"hr":70,"spo2":97,"rr":14,'
        b'"temp":36.61,"sbp":null,"dbp":null,"activity":0.021}'
    )
    t0 = time.perf_counter()
    for i in range(n):
        while i - acked[0] >= window:
            time.sleep(0.0005)
        c.publish(f"{root}/sim-{i % 5000:05d}", payload, qos=1)
    while acked[0] < n and time.perf_counter() - t0 < 120:
        time.sleep(0.002)
    rate = acked[0] / (time.perf_counter() - t0)
    c.disconnect()
    c.loop_stop()
    return rate


def live(url: str, devices: int, duration: float, batch: int) -> dict[str, float]:
    def show(st, outstanding: int) -> None:  # type: ignore[no-untyped-def]
        print(f"  live: {st.published:,} msgs, {st.acked:,} acked, {st.msg_rate:,.0f} msg/s, lag {st.max_lag_s:.1f} s",
              file=sys.stderr, flush=True)

    root = f"bench-sim-{uuid.uuid4().hex[:8]}/vitals"
    st = asyncio.run(run_fleet(url, root, devices, 1.0, duration, seed=1, batch=batch, progress=show))
    return {
        "devices": devices, "rate_hz": 1.0, "batch": batch, "duration_s": duration,
        "messages": st.published, "acked": st.acked, "samples": st.samples,
        "elapsed_s": round(st.elapsed_s, 2), "msgs_per_s": round(st.acked / st.elapsed_s),
        "samples_per_s": round(st.sample_rate), "target_samples_per_s": devices,
        "max_lag_s": round(st.max_lag_s, 2), "kept_up": st.max_lag_s < 2.0,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--patients", type=int, default=100)
    p.add_argument("--hours", type=float, default=24.0)
    p.add_argument("--devices", type=int, default=5000)
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--skip-live", action="store_true")
    p.add_argument("--skip-offline", action="store_true")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    out: dict[str, object] = {"cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0]}
    if not args.skip_offline:
        out["offline"] = off = offline(args.patients, args.hours)
        print(f"offline: {off['patient_days']:g} patient-days at 1 Hz, {off['samples']:,} samples in "
              f"{off['seconds']} s = {off['samples_per_s']:,} samples/s written "
              f"(generation alone {off['generate_only_samples_per_s']:,} samples/s)")
    if not args.skip_live:
        url = os.environ.get("VITALSTREAM_MQTT_URL") or "mqtt://127.0.0.1:1883"
        out["live"] = lv = live(url, args.devices, args.duration, args.batch)
        out["raw_paho_msgs_per_s"] = raw = round(raw_paho(url, 30_000, 5_000))
        print(f"live: {lv['devices']} devices at 1 Hz (batch {lv['batch']}): {lv['msgs_per_s']:,} msgs/s acked, "
              f"{lv['samples_per_s']:,} samples/s of {lv['target_samples_per_s']:,} wanted, "
              f"max lag {lv['max_lag_s']} s ({'kept up' if lv['kept_up'] else 'fell behind'}); "
              f"bare paho publisher now: {raw:,} msgs/s")
    print(f"(load average at start {out['load_avg_1m']:.1f} on {out['cpus']} CPUs: shared machine, numbers are noisy)")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
