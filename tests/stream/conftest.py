"""Fixtures for worker tests: produce vitals records straight to Kafka, run real workers."""

from __future__ import annotations

import json
import random
import urllib.request
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from vitalstream.config import Settings
from vitalstream.records import Sample, SampleBatch, encode_batch, pack_by_partition
from vitalstream.services import free_port
from vitalstream.supervise import Child, service_env, start_child, stop_children
from vitalstream.topics import topic_name


def noisy_samples(device_id: str, start_seq: int, start_ms: int, n: int, *, spo2: float, seed: int) -> list[Sample]:
    """1 Hz samples with sensor-like noise (a flat signal would read as a flatline)."""
    rng = random.Random(f"{device_id}-{start_seq}-{seed}")
    out = []
    for i in range(n):
        out.append(Sample(device_id, start_seq + i, start_ms + i * 1000, hr=float(72 + rng.randint(-3, 3)),
                          spo2=float(round(spo2 + rng.uniform(-1, 1))), rr=float(15 + rng.randint(-1, 1)),
                          temp=round(36.8 + rng.uniform(-0.1, 0.1), 2), activity=round(rng.uniform(0, 0.03), 3)))
    return out


async def produce(settings: Settings, samples: list[Sample], per_record: int = 1, *, packed: bool = False) -> None:
    """`per_record` samples at a time: one keyed v1 record per device, or (packed) one v2
    pack per partition, as the gateway sends them."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.core.kafka_bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        topic = topic_name(settings, "vitals")
        futures = []
        for i in range(0, len(samples), per_record):
            chunk = samples[i:i + per_record]
            by_device: dict[str, list[Sample]] = {}
            for s in chunk:
                by_device.setdefault(s.device_id, []).append(s)
            batches = [SampleBatch(d, g[-1].ts_ms, tuple(g)) for d, g in by_device.items()]
            if packed:
                n = len(await producer.partitions_for(topic))
                for partition, value in pack_by_partition(batches, n).items():
                    futures.append(await producer.send(topic, value, partition=partition))
                continue
            for batch in batches:
                futures.append(await producer.send(topic, encode_batch(batch), key=batch.device_id.encode()))
        for f in futures:
            await f
    finally:
        await producer.stop()


async def candidates(settings: Settings, timeout_ms: int = 3000) -> list[dict]:
    """Every alert candidate on the topic so far."""
    consumer = AIOKafkaConsumer(topic_name(settings, "alert.candidates"), bootstrap_servers=settings.core.kafka_bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        found = []
        while True:
            batch = await consumer.getmany(timeout_ms=timeout_ms)
            if not batch:
                return found
            for records in batch.values():
                found.extend(json.loads(r.value) for r in records)
    finally:
        await consumer.stop()


def metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as resp:
        text = resp.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and line[len(name)] in " {")


class Workers:
    def __init__(self, settings: Settings, log_dir, app_id: str):
        self.settings = settings
        self.log_dir = log_dir
        self.app_id = app_id
        self.children: dict[str, Child] = {}
        self.ports: dict[str, int] = {}

    def start(self, name: str, *extra: str, **env_extra: str) -> Child:
        port = self.ports.setdefault(name, free_port())
        env = service_env(self.settings, VITALSTREAM_WORKER_APP_ID=self.app_id,
                          VITALSTREAM_WORKER_METRICS_PORT=str(port), VITALSTREAM_WORKER_SESSION_TIMEOUT_S="6",
                          **env_extra)
        self.children[name] = start_child(name, ["worker", *extra], env, self.log_dir)
        return self.children[name]

    def stop(self, name: str) -> None:
        stop_children([self.children[name]])

    def stop_all(self) -> None:
        stop_children(list(self.children.values()))


@pytest.fixture
def workers(scoped_settings, tmp_path) -> Iterator[Workers]:
    group = Workers(scoped_settings, tmp_path, f"w-{scoped_settings.core.topic_prefix.rstrip('.')}")
    yield group
    group.stop_all()
    for child in group.children.values():
        text = child.log_path.read_text()
        print(f"--- {child.name} log (tail) ---\n{text[-2500:]}")
