"""Gateway benchmark: sustained accepted samples/s of ONE `vitalstream gateway` process,
MQTT → Kafka, with single-sample and batched payloads; its CPU and peak memory.

    python -m benchmarks.gateway_bench [--duration 30] [--batch 20] [--json OUT]

Services: VITALSTREAM_MQTT_URL / VITALSTREAM_KAFKA_BOOTSTRAP when set, else embedded ones
(Mosquitto with unbounded session queues, tansu) through vitalstream.services. The
publisher runs in its own process (paho, QoS 1, 1,000 unacknowledged at most) so that it
does not share the gateway's GIL; the gateway is measured from its /metrics endpoint
(samples acknowledged by Kafka) and with psutil (CPU seconds, RSS).
Targets (issue 4): ≥ 5,000 single-sample msgs/s and ≥ 20,000 samples/s batched, memory
flat. On a shared 2-core machine the publisher, Mosquitto, Kafka and the gateway all
compete for the same cores: the figures are a floor, and noisy.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from tempfile import mkdtemp

import psutil

from benchmarks.common import cpu_speed_ms
from vitalstream.config import load_settings
from vitalstream.services import free_port, resolved, services


@dataclass
class PhaseResult:
    phase: str
    samples_per_msg: int
    duration_s: float
    messages_acked: int
    samples_accepted: int
    msgs_per_s: float  # sustained: steady-state window, see measure()
    samples_per_s: float
    gateway_cpu_cores: float  # CPU seconds of the gateway per wall second
    cpu_us_per_msg: float  # gateway CPU per message: the figure least disturbed by a busy machine
    samples_per_cpu_s: float  # what one fully available core would sustain at that cost
    rss_start_mb: float
    rss_end_mb: float
    rss_peak_mb: float
    max_in_flight_seen: int


def publisher(port: int, root: str, per_msg: int, duration_s: float, devices: int, counter) -> None:  # noqa: ANN001
    import threading

    import paho.mqtt.client as paho

    window = threading.BoundedSemaphore(1000)  # paho misbehaves past 65,535 outstanding
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.on_publish = lambda *a: window.release()
    client.connect("127.0.0.1", port)
    client.loop_start()
    seqs = [0] * devices
    n = 0
    end = time.monotonic() + duration_s
    while time.monotonic() < end:
        d = n % devices
        dev = f"bench-{d:04d}"
        now = time.time_ns() // 1_000_000
        samples = []
        for _ in range(per_msg):
            samples.append({"seq": seqs[d], "ts": now, "hr": 72, "spo2": 97.5, "rr": 14, "temp": 36.7, "activity": 0.1})
            seqs[d] += 1
        doc = {"device_id": dev, **samples[0]} if per_msg == 1 else {"device_id": dev, "samples": samples}
        window.acquire()
        client.publish(f"{root}/{dev}", json.dumps(doc, separators=(",", ":")), qos=1)
        n += 1
        if n % 1000 == 0:
            counter.value = n
    counter.value = n
    for _ in range(1000):
        window.acquire(timeout=30)
    client.disconnect()
    client.loop_stop()


def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        m = re.match(r"vitalstream_gateway_(\w+?)(\{[^}]*\})? (\S+)$", line)
        if m:
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def measure(gw: psutil.Process, metrics_port: int, pub: mp.Process, pub_count, duration_s: float,  # noqa: ANN001
            per_msg: int, phase: str) -> PhaseResult:
    series: list[tuple[float, float, float, float]] = []  # (t, acked msgs, accepted samples, cpu s)
    rss: list[float] = []
    in_flight = 0
    cpu0 = sum(gw.cpu_times()[:2])
    start = time.monotonic()
    while pub.is_alive() or time.monotonic() - start < duration_s + 120:  # then drain, 2 min at most
        time.sleep(1)
        m = scrape(metrics_port)
        cpu = sum(gw.cpu_times()[:2]) - cpu0
        series.append((time.monotonic() - start, m["messages_acked_total"], m["samples_accepted_total"], cpu))
        rss.append(gw.memory_info().rss / 2**20)
        in_flight = max(in_flight, int(m["in_flight"]))
        print(f"  [{phase}] t={series[-1][0]:5.1f}s published={pub_count.value} acked={int(m['messages_acked_total'])} "
              f"in_flight={int(m['in_flight'])} rss={rss[-1]:.0f} MB", flush=True)
        if not pub.is_alive() and m["in_flight"] == 0 and m["messages_received_total"] >= pub_count.value:
            break
    # Sustained rate: the steady middle of the run (skip the first 20 %, ramp-up, and stop
    # at the publisher's end so the drain of a backlog does not flatter the figure).
    steady = [s for s in series if s[0] >= 0.2 * duration_s and s[0] <= duration_s] or series
    t0, m0, s0, c0 = steady[0]
    t1, m1, s1, c1 = steady[-1]
    dt = max(t1 - t0, 1e-9)
    return PhaseResult(
        phase=phase, samples_per_msg=per_msg, duration_s=duration_s, messages_acked=int(series[-1][1]),
        samples_accepted=int(series[-1][2]), msgs_per_s=(m1 - m0) / dt, samples_per_s=(s1 - s0) / dt,
        gateway_cpu_cores=(c1 - c0) / dt, cpu_us_per_msg=(c1 - c0) / max(m1 - m0, 1) * 1e6,
        samples_per_cpu_s=(s1 - s0) / max(c1 - c0, 1e-9), rss_start_mb=rss[0], rss_end_mb=rss[-1], rss_peak_mb=max(rss),
        max_in_flight_seen=in_flight,
    )


def run_phase(settings, phase: str, per_msg: int, duration_s: float, devices: int) -> PhaseResult:  # noqa: ANN001
    from vitalstream.mqtturl import parse_mqtt_url

    metrics_port = free_port()
    root = f"bench{os.getpid()}{phase}/vitals"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VITALSTREAM_")}
    env.update({
        "VITALSTREAM_MQTT_URL": settings.core.mqtt_url, "VITALSTREAM_KAFKA_BOOTSTRAP": settings.core.kafka_bootstrap,
        "VITALSTREAM_TOPIC_PREFIX": f"bench{os.getpid()}{phase}.", "VITALSTREAM_MQTT_TOPIC_ROOT": root,
        "VITALSTREAM_GATEWAY_CLIENT_ID": f"bench-{os.getpid()}-{phase}",
        "VITALSTREAM_GATEWAY_METRICS_PORT": str(metrics_port), "VITALSTREAM_LOG_LEVEL": "WARNING",
    })
    gw_proc = subprocess.Popen([sys.executable, "-m", "vitalstream", "gateway"], env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if scrape(metrics_port).get("mqtt_subscribed") == 1:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or gw_proc.poll() is not None:
                raise RuntimeError("gateway did not start")
            time.sleep(0.2)
        counter = mp.Value("q", 0)
        port = parse_mqtt_url(settings.core.mqtt_url).port
        pub = mp.Process(target=publisher, args=(port, root, per_msg, duration_s, devices, counter))
        pub.start()
        result = measure(psutil.Process(gw_proc.pid), metrics_port, pub, counter, duration_s, per_msg, phase)
        pub.join(30)
        return result
    finally:
        gw_proc.terminate()
        gw_proc.wait(30)


@contextlib.contextmanager
def _removed(path: str | None) -> Iterator[None]:
    try:
        yield
    finally:
        if path:
            shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30, help="seconds of publishing per phase")
    parser.add_argument("--batch", type=int, default=20, help="samples per batched payload")
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--phases", default="single,batched")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    # SIGTERM as an exception, so the embedded brokers are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    env = dict(os.environ)
    state_dir = None
    if "VITALSTREAM_STATE_DIR" not in env:
        state_dir = env["VITALSTREAM_STATE_DIR"] = mkdtemp(prefix="vs-bench-")
    env.setdefault("VITALSTREAM_DATABASE_URL", "postgresql://unused@127.0.0.1/unused")  # not needed here
    base = load_settings(env)
    with services(base) as svc, _removed(state_dir):
        settings = resolved(base, svc)
        settings = replace(settings, core=replace(settings.core, topic_partitions=4))
        results = []
        for phase in args.phases.split(","):
            per_msg = 1 if phase == "single" else args.batch
            print(f"phase {phase}: {per_msg} sample(s)/message for {args.duration:.0f} s", flush=True)
            results.append(run_phase(settings, phase, per_msg, args.duration, args.devices))
    print()
    print(f"{'phase':8} {'msgs/s':>9} {'samples/s':>10} {'gw CPU':>7} {'µs CPU/msg':>10} {'samples/CPU-s':>13} "
          f"{'RSS start/end/peak MB':>22} {'max held':>9}")
    for r in results:
        print(f"{r.phase:8} {r.msgs_per_s:9.0f} {r.samples_per_s:10.0f} {r.gateway_cpu_cores:7.2f} "
              f"{r.cpu_us_per_msg:10.0f} {r.samples_per_cpu_s:13.0f} "
              f"{f'{r.rss_start_mb:.0f}/{r.rss_end_mb:.0f}/{r.rss_peak_mb:.0f}':>22} {r.max_in_flight_seen:9d}")
    load = os.getloadavg()[0]
    print(f"(machine: {psutil.cpu_count()} cores, CPU speed {cpu_speed_ms()} ms, load average {load:.1f} at the end; "
          "the brokers, the publisher and anything else running share them: noisy)")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
