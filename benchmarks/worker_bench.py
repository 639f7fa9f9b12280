"""Worker throughput and latency on real Kafka (tansu) and PostgreSQL.

1. Catch-up: a backlog of simulated 1 Hz samples, packed into v2 records as the gateway
   packs single-sample MQTT messages (--pack-messages consecutive messages per pack
   window, split by partition; the default 100 is 5,000 msg/s × 20 ms, a conservative pack;
   1 = one v1 record per sample, the unpacked wire), is written to `vitals`, then one worker starts;
   sustained samples/s = scored (or stored) samples / time, read from its metrics.
   Run once with all detectors on (default model) and once storage-only.
2. Latency below saturation: samples produced live at --live-rate for --live-seconds;
   Kafka append → score emitted p50/p99 from the worker's metrics.
CPU (% of one core) and peak RSS of the worker are sampled throughout.

    python benchmarks/worker_bench.py [--devices 2000] [--seconds 60] [--live-rate 2000] [--pack-messages 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import replace

import numpy as np
from aiokafka import AIOKafkaProducer

from benchmarks.common import ProcSampler, bench_services, cpu_speed_ms, machine
from vitalstream.records import METRICS, Sample, SampleBatch, encode_batch, pack_by_partition
from vitalstream.services import free_port
from vitalstream.supervise import service_env, start_child, stop_children
from vitalstream.topics import ensure_topics, topic_name


def fleet(devices: int, seconds: int, t0_ms: int, seed: int = 1) -> list[list[Sample]]:
    """Per second, one sample per device (simulated physiology)."""
    from simulators.patient import generate_patient

    traces = [generate_patient(i, hours=seconds / 3600, rate_hz=1.0, seed=seed, scenario="default",
                               start_ms=t0_ms) for i in range(devices)]
    ticks: list[list[Sample]] = [[] for _ in range(seconds)]
    for tr in traces:
        for k in range(min(seconds, len(tr.ts_ms))):
            vals = [None if np.isnan(v) else float(v) for v in tr.values[k]]
            if all(v is None for v in vals[:len(METRICS)]):
                continue
            ticks[k].append(Sample(tr.device_id, int(tr.seq[k]), int(tr.ts_ms[k]), *vals))
    return ticks


async def produce(bootstrap: str, topic: str, ticks: list[list[Sample]], rate: float | None,
                  pack_messages: int = 1) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    n = 0
    try:
        n_partitions = len(await producer.partitions_for(topic))
        started = time.monotonic()
        flat = [s for tick in ticks for s in tick]
        step = max(1, pack_messages)
        for i in range(0, len(flat), step):
            window = [SampleBatch(s.device_id, s.ts_ms, (s,)) for s in flat[i:i + step]]
            if pack_messages <= 1:
                for b in window:
                    await producer.send(topic, encode_batch(b), key=b.device_id.encode())
            else:
                for partition, value in pack_by_partition(window, n_partitions).items():
                    await producer.send(topic, value, partition=partition)
            before, n = n, n + len(window)
            if rate and n // 200 != before // 200:
                ahead = n / rate - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
        await producer.flush()
    finally:
        await producer.stop()
    return n


def metric(port: int, name: str) -> dict[str, float]:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        if line.startswith(name) and line[len(name)] in " {":
            key, value = line.rsplit(" ", 1)
            out[key[len(name):]] = float(value)
    return out


def run_case(settings, ticks, total: int, detectors: bool, live_rate: float, live_seconds: int, log_dir,
             pack_messages: int) -> dict:
    port = free_port()
    app_id = f"bench-{'det' if detectors else 'sto'}-{int(time.time())}"
    env = service_env(settings, VITALSTREAM_WORKER_APP_ID=app_id, VITALSTREAM_WORKER_METRICS_PORT=str(port),
                      VITALSTREAM_WORKER_DETECTORS="true" if detectors else "false", VITALSTREAM_LOG_LEVEL="WARNING")
    asyncio.run(ensure_topics(settings))
    topic = topic_name(settings, "vitals")
    print(f"  producing a backlog of {total:,} samples …", file=sys.stderr, flush=True)
    asyncio.run(produce(settings.core.kafka_bootstrap, topic, ticks, None, pack_messages))
    child = start_child("worker", ["worker"], env, log_dir)
    sampler = ProcSampler()
    sampler.add("worker", child.proc.pid)
    counter = "vitalstream_worker_samples_scored_total" if detectors else "vitalstream_worker_samples_stored_total"
    first_at = None
    done_at = None
    try:
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            time.sleep(1)
            sampler.sample()
            value = sum(metric(port, counter).values())
            if value > 0 and first_at is None:
                first_at, first_value = time.monotonic(), value
            print(f"  {'detectors' if detectors else 'storage-only'}: {int(value):,}/{total:,}", file=sys.stderr,
                  flush=True)
            if value >= total:
                done_at = time.monotonic()
                break
        if first_at is None or done_at is None:
            raise RuntimeError("worker did not finish the backlog; see " + str(child.log_path))
        rate = (total - first_value) / max(done_at - first_at, 1e-9)
        result = {"sustained_samples_per_s": rate, **sampler.summary()["worker"]}
        if detectors and live_rate:
            # Latency below saturation: live production at a fixed rate, fresh device seqs.
            shift = len(ticks)
            live = [[replace(s, seq=s.seq + shift * 10, ts_ms=s.ts_ms + shift * 1000) for s in tick] for tick in ticks]
            per_tick = max(1, len(live[0]))
            live = (live * (1 + int(live_seconds * live_rate / per_tick / len(live))))[: int(live_seconds * live_rate / per_tick)]
            print(f"  live: {live_rate:.0f} samples/s for {live_seconds} s …", file=sys.stderr, flush=True)
            # a 20 ms pack window at this rate (the gateway's default is 50 ms: conservative)
            live_pack = 1 if pack_messages <= 1 else max(1, int(live_rate * 0.02))
            asyncio.run(produce(settings.core.kafka_bootstrap, topic, live, live_rate, live_pack))
            time.sleep(3)
            q = metric(port, "vitalstream_worker_append_to_score_seconds")
            result["live_rate"] = live_rate
            result["append_to_score_p50_s"] = q.get('{quantile="0.5"}')
            result["append_to_score_p99_s"] = q.get('{quantile="0.99"}')
            inf = metric(port, "vitalstream_worker_inference_seconds")
            result["inference_batch_p50_s"] = inf.get('{quantile="0.5"}')
        return result
    finally:
        stop_children([child])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=2000)
    ap.add_argument("--seconds", type=int, default=60, help="seconds of 1 Hz data per device in the backlog")
    ap.add_argument("--live-rate", type=float, default=2000)
    ap.add_argument("--live-seconds", type=int, default=30)
    ap.add_argument("--only", choices=("storage", "detectors"), help="run one case")
    ap.add_argument("--pack-messages", type=int, default=100,
                    help="messages per gateway pack window (1: one v1 record per sample)")
    ap.add_argument("--json", help="write the results here too")
    args = ap.parse_args()
    import tempfile
    from pathlib import Path

    log_dir = Path(tempfile.mkdtemp(prefix="worker-bench-"))
    print(f"worker benchmark on {machine()}, CPU speed {cpu_speed_ms()} ms; logs in {log_dir}", file=sys.stderr)
    t0 = int(time.time() * 1000) - args.seconds * 1000 - 3_600_000
    print(f"  simulating {args.devices} devices × {args.seconds} s …", file=sys.stderr, flush=True)
    ticks = fleet(args.devices, args.seconds, t0)
    total = sum(len(t) for t in ticks)
    results: dict = {"pack_messages": args.pack_messages}
    cases = {"storage": (False,), "detectors": (True,), None: (False, True)}[args.only]
    for detectors in cases:
        with bench_services("wbench") as settings:
            results["detectors" if detectors else "storage_only"] = run_case(
                settings, ticks, total, detectors, args.live_rate, args.live_seconds, log_dir, args.pack_messages)
    print(json.dumps(results, indent=2))
    for name, r in results.items():
        if not isinstance(r, dict):
            continue
        line = f"{name:13s} {r['sustained_samples_per_s']:9,.0f} samples/s  worker CPU {r['cpu_avg_pct']:.0f} %  peak RSS {r['rss_peak_mb']:.0f} MiB"
        if "append_to_score_p99_s" in r and r["append_to_score_p99_s"] is not None:
            line += (f"  append→score p50 {r['append_to_score_p50_s'] * 1000:.0f} ms p99 "
                     f"{r['append_to_score_p99_s'] * 1000:.0f} ms at {r['live_rate']:.0f}/s")
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
