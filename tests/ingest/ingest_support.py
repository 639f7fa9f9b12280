"""Helpers for the gateway tests: a private Mosquitto, a bounded QoS 1 publisher, and
readers that return what reached a Kafka topic.

`vitals_keys(bootstrap, topic)` returns the set of (device_id, seq) in a `vitals` topic;
the no-loss test compares it with what was published (and can compare the table later).
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import signal
import subprocess
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
from aiokafka import AIOKafkaConsumer, TopicPartition
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from aiokafka.partitioner import murmur2

from vitalstream.records import decode_record
from vitalstream.services import free_port, wait_for_port

MOSQUITTO = next((p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.path.exists(p)), "mosquitto")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def sample(device_id: str, seq: int, ts: int | str | None = None, **metrics: object) -> dict:
    doc: dict = {"device_id": device_id, "seq": seq, "ts": now_ms() if ts is None else ts}
    doc.update(metrics or {"hr": 72, "spo2": 97.5})
    return doc


def payload(doc: dict) -> bytes:
    return json.dumps(doc).encode()


# --- Mosquitto -----------------------------------------------------------------------


@dataclass
class Mosquitto:
    proc: subprocess.Popen
    port: int
    log_path: Path
    conf: Path

    def restart(self) -> None:
        """Stop and start again on the same port and configuration."""
        self.stop()
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT)
        wait_for_port("127.0.0.1", self.port, 20, self.proc)

    def url(self, username: str | None = None, password: str | None = None) -> str:
        auth = f"{username}:{password}@" if username else ""
        return f"mqtt://{auth}127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_mosquitto(directory: Path, extra_conf: str = "allow_anonymous true\n") -> Mosquitto:
    """A Mosquitto on a free loopback port, configured for no loss (queues unbounded)."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = directory / f"mosquitto-{port}.conf"
    log_path = directory / f"mosquitto-{port}.log"
    user = pwd.getpwuid(os.getuid()).pw_name  # as root, mosquitto would switch user and lose the files
    conf.write_text(
        f"user {user}\nlistener {port} 127.0.0.1\npersistence false\nlog_dest file {log_path}\n"
        "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
        "max_queued_messages 0\nset_tcp_nodelay true\n" + extra_conf
    )
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    wait_for_port("127.0.0.1", port, 20, proc)
    return Mosquitto(proc, port, log_path, conf)


# --- publishing ----------------------------------------------------------------------


class Publisher:
    """A paho QoS 1 publisher with a bounded number of unacknowledged messages (paho
    misbehaves past 65,535 outstanding, see CEILINGS.md)."""

    def __init__(self, port: int, *, username: str | None = None, password: str | None = None,
                 client_id: str = "", window: int = 500):
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5)
        if username:
            self.client.username_pw_set(username, password)
        self.window_size = window
        self.window = threading.BoundedSemaphore(window)
        self.connected = threading.Event()
        self.connect_rc: object = None
        self.acked = 0
        self.failed: list[int] = []  # reason codes of refused publishes
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_connect(self, client, userdata, flags, rc, props) -> None:  # noqa: ANN001
        self.connect_rc = rc
        self.connected.set()

    def _on_publish(self, client, userdata, mid, rc, props) -> None:  # noqa: ANN001
        if rc.is_failure:
            self.failed.append(rc.value)
        self.acked += 1
        self.window.release()

    def publish(self, topic: str, data: bytes, qos: int = 1) -> None:
        self.window.acquire()
        self.client.publish(topic, data, qos=qos)

    def publish_all(self, items: Iterable[tuple[str, bytes]]) -> None:
        for topic, data in items:
            self.publish(topic, data)

    def flush(self, timeout_s: float = 60) -> None:
        for _ in range(self.window_size):
            if not self.window.acquire(timeout=timeout_s):
                raise TimeoutError("publishes not acknowledged")
        for _ in range(self.window_size):
            self.window.release()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# --- reading Kafka -------------------------------------------------------------------


async def read_topic(bootstrap: str, topic: str, partitions_out: list[int] | None = None) -> list:
    """Every record in `topic` up to its current end, without a consumer group
    (`partitions_out`, when given, receives the topic's partition numbers)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        for _ in range(50):
            if partitions:
                break
            await consumer._client.force_metadata_update()  # noqa: SLF001 - fresh topic
            partitions = consumer.partitions_for_topic(topic)
            await asyncio.sleep(0.1)
        tps = [TopicPartition(topic, p) for p in sorted(partitions or ())]
        if partitions_out is not None:
            partitions_out.extend(tp.partition for tp in tps)
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out = []
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                out.extend(records)
        return out
    finally:
        await consumer.stop()


async def vitals_keys(bootstrap: str, topic: str) -> tuple[set[tuple[str, int]], int]:
    """(distinct (device_id, seq) in a vitals topic, total samples including duplicates)."""
    keys: set[tuple[str, int]] = set()
    total = 0
    partitions: list[int] = []
    records = await read_topic(bootstrap, topic, partitions)
    n_partitions = len(partitions)
    for record in records:
        for batch in decode_record(record.value):
            if record.key is not None:  # v1: keyed by its device
                assert record.key == batch.device_id.encode()
            # every device in the partition Kafka's default partitioner gives it (its state's partition)
            assert n_partitions < 2 or record.partition == (murmur2(batch.device_id.encode()) & 0x7FFFFFFF) % n_partitions
            for s in batch.samples:
                keys.add((s.device_id, s.seq))
                total += 1
    return keys, total


async def wait_for_keys(bootstrap: str, topic: str, expected: int, timeout_s: float) -> tuple[set[tuple[str, int]], int]:
    deadline = time.monotonic() + timeout_s
    while True:
        keys, total = await vitals_keys(bootstrap, topic)
        if len(keys) >= expected or time.monotonic() > deadline:
            return keys, total
        await asyncio.sleep(1)


# --- a gateway subprocess (`vitalstream gateway`) ------------------------------------


class GatewayProcess:
    """`vitalstream gateway` as a child process with its own environment and log file."""

    def __init__(self, env: dict[str, str], log_dir: Path):
        self.env = env
        self.log_dir = log_dir
        self.runs = 0
        self.proc: subprocess.Popen | None = None
        self.log_path: Path | None = None

    def start(self, timeout_s: float = 60) -> None:
        import sys

        self.runs += 1
        self.log_path = self.log_dir / f"gateway-{self.runs}.log"
        out = self.log_path.open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "vitalstream", "gateway"], env=self.env,
                                     stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        deadline = time.monotonic() + timeout_s
        while b"MQTT subscribed" not in self.log_path.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gateway did not start:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)


def gateway_env(*, mqtt_url: str, kafka_bootstrap: str, topic_prefix: str, topic_root: str = "vitals",
                client_id: str = "gw-noloss", **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VITALSTREAM_")}
    env.update({
        "VITALSTREAM_MQTT_URL": mqtt_url,
        "VITALSTREAM_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "VITALSTREAM_TOPIC_PREFIX": topic_prefix,
        "VITALSTREAM_MQTT_TOPIC_ROOT": topic_root,
        "VITALSTREAM_GATEWAY_CLIENT_ID": client_id,
        "VITALSTREAM_LOG_LEVEL": "INFO",
    })
    env.update({f"VITALSTREAM_{k.upper()}": v for k, v in extra.items()})
    return env


def publish_while_killing(gateway: GatewayProcess, port: int, *, samples: int, devices: int, rate_hz: float,
                          kill_at: tuple[float, ...], topic_root: str = "vitals") -> set[tuple[str, int]]:
    """Publish `samples` single-sample QoS 1 messages at about `rate_hz` while SIGKILLing the
    gateway when the given fractions of them are published (restarting it at once).
    Returns the (device_id, seq) published."""
    pub = Publisher(port, window=1000)
    published: set[tuple[str, int]] = set()
    kills = list(kill_at)
    restart: threading.Thread | None = None
    start = time.monotonic()
    for n in range(samples):
        device = f"nl-{n % devices:03d}"
        seq = n // devices
        pub.publish(f"{topic_root}/{device}", payload(sample(device, seq)))
        published.add((device, seq))
        if kills and n >= kills[0] * samples:
            kills.pop(0)
            if restart is not None:
                restart.join()
            gateway.kill()
            # Restart in the background: devices keep publishing while the gateway is down.
            restart = threading.Thread(target=gateway.start)
            restart.start()
        ahead = n / rate_hz - (time.monotonic() - start)
        if ahead > 0.01:
            time.sleep(ahead)
    if restart is not None:
        restart.join()
    pub.flush()
    pub.close()
    return published
