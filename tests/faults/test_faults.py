"""Fault injection under load (issue 10): SIGKILL a gateway, a worker, the dispatcher;
restart PostgreSQL; pause Kafka; malformed payloads mixed into the stream.

Each test publishes ~400 messages/s from 40 devices (6 with an injected desaturation)
for ~24 s through a private Mosquitto → gateway → tansu → worker → private PostgreSQL →
alert engine/dispatcher → a local webhook receiver, injects its fault about a third of
the way in, and checks: every published (device_id, seq) is in `vitals` exactly once,
every injected device's spo2.low alert reached the receiver (signature verified), and
every spo2.low alert on those devices was delivered at least once. The recovery time
printed is from the component being back until everything published before that
moment is stored.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import psycopg
import pytest

from benchmarks.e2e_stack import Stack
from tests.faults.conftest import Supervisor
from tests.faults.load import Load
from tests.helpers import wait_until

pytestmark = pytest.mark.slow


class Watcher:
    """Polls the number of stored rows of one test's devices every 0.25 s."""

    def __init__(self, st: Stack, prefix: str):
        self.st, self.like = st, f"{prefix}-%"
        self.series: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Watcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            try:
                with psycopg.connect(self.st.db_url, connect_timeout=2) as conn:
                    while not self._stop.wait(0.25):
                        row = conn.execute("SELECT count(*) FROM vitals WHERE device_id LIKE %s", (self.like,)).fetchone()
                        self.series.append((time.monotonic(), int(row[0])))
            except psycopg.Error:
                pass  # the database is being restarted: try again

    def reached(self, n: int, after: float) -> float | None:
        return next((t for t, c in self.series if t >= after and c >= n), None)


def keys(st: Stack, prefix: str) -> tuple[int, set[tuple[str, int]]]:
    with psycopg.connect(st.db_url) as conn:
        rows = conn.execute("SELECT device_id, seq FROM vitals WHERE device_id LIKE %s", (f"{prefix}-%",)).fetchall()
    return len(rows), {(d, s) for d, s in rows}


def check_alerts(st: Stack, load: Load, timeout_s: float = 150) -> None:
    wanted = set(load.injected_devices)
    wait_until(lambda: wanted <= {d for d, k in st.receiver.opened() if k == "spo2.low"}, timeout_s,
               what=f"a spo2.low webhook for each of {sorted(wanted)}")
    with psycopg.connect(st.db_url) as conn:
        ids = {str(r[0]) for r in conn.execute(
            "SELECT id FROM alerts WHERE device_id = ANY(%s) AND kind = 'spo2.low'", (list(wanted),)).fetchall()}
    received = {str(h.alert_id) for h in list(st.receiver.hooks) if h.type == "alert.opened"}
    assert ids and ids <= received, f"alerts never delivered: {ids - received}"
    assert st.receiver.bad_signatures == 0


def diagnose(st: Stack, prefix: str, load: Load) -> str:
    """What a timed-out wait needs to be understood: which samples are missing (by device and
    seq range), how the row count moved, and the processes' logs."""
    _, stored = keys(st, prefix)
    missing = sorted(load.published - stored)
    by_device: dict[str, list[int]] = {}
    for device, seq in missing:
        by_device.setdefault(device, []).append(seq)
    ranges = {d: (min(s), max(s), len(s)) for d, s in sorted(by_device.items())[:8]}
    return (f"{len(missing)} of {len(load.published)} missing; first devices (min seq, max seq, n): {ranges}\n"
            f"in Kafka: {in_kafka(st, set(missing[:200]))}\n"
            f"supervisor restarts: {st_restarts(st)}\n{st.log_tail(6000)}")


def in_kafka(st: Stack, wanted: set[tuple[str, int]]) -> str:
    """Where the missing samples are in the `vitals` topic (partition → offsets), or that
    they are not there: tells a gateway loss from a worker loss."""
    from tests.ingest.ingest_support import read_topic
    from vitalstream.records import decode_record

    try:
        records = asyncio.run(read_topic(st.settings.core.kafka_bootstrap or "", f"{st.prefix}vitals"))
    except Exception as exc:  # noqa: BLE001 - a diagnosis must not hide the failure
        return f"could not read the topic: {exc!r}"
    found: dict[int, set[int]] = {}
    for r in records:
        for batch in decode_record(r.value):
            if any((batch.device_id, s.seq) in wanted for s in batch.samples):
                found.setdefault(r.partition, set()).add(r.offset)
    return "not in the topic" if not found else "; ".join(
        f"partition {p}: offsets {sorted(o)}" for p, o in sorted(found.items()))


def st_restarts(st: Stack) -> dict[str, int]:
    return dict(st.starts)


def run_fault(fault_stack: tuple[Stack, Supervisor], prefix: str, fault: Callable[[Stack, Supervisor], float],
              *, at: float = 0.35, **load_kw) -> tuple[dict, Load]:
    """Publish, call `fault` when `at` of the load is out (it returns the monotonic time the
    component was back), then check storage and alerts; returns the figures printed and the load."""
    st, sup = fault_stack
    began = time.time()
    port = urlsplit(st.settings.core.mqtt_url).port
    load = Load(port, st.settings.core.mqtt_topic_root, prefix, **load_kw)
    total = int(load.seconds * load.rate / load.devices) * load.devices
    watcher = Watcher(st, prefix).start()
    load.start()
    try:
        wait_until(lambda: load.sent >= at * total or load.done.is_set(), 60, 0.05, what="load under way")
        t_fault = time.monotonic()
        t_back = fault(st, sup)
        published_at_back = len(load.published)
        load.wait(180)
        try:
            wait_until(lambda: st.count("device_id LIKE %s", (f"{prefix}-%",))[0] >= len(load.published), 180,
                       what=f"{len(load.published)} samples stored")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{diagnose(st, prefix, load)}") from None
        time.sleep(2)  # a late duplicate would show up now
        n_rows, stored = keys(st, prefix)
        missing = load.published - stored
        assert not missing, f"{len(missing)} accepted samples missing, e.g. {sorted(missing)[:5]}"
        assert n_rows == len(stored) == len(load.published), "a sample stored twice, or one never published"
        check_alerts(st, load)
        back_to_current = watcher.reached(published_at_back, t_back)
        figures = {
            "published": len(load.published), "stored": n_rows, "down_s": round(t_back - t_fault, 1),
            "recovery_s": None if back_to_current is None else round(back_to_current - t_back, 1),
            "restarts_by_supervisor": [r[1] for r in sup.unexpected(began)],
        }
        print(f"\n{prefix}: {figures}")
        return figures, load
    finally:
        watcher.stop()
        if not load.done.is_set():
            load.wait(180)


def _kill_restart(name: str, down_s: float) -> Callable[[Stack, Supervisor], float]:
    def fault(st: Stack, sup: Supervisor) -> float:
        sup.kill(name)
        time.sleep(down_s)
        return sup.restart(name)

    return fault


def test_gateway_sigkill(fault_stack) -> None:
    figures, _ = run_fault(fault_stack, "gwk", _kill_restart("gateway", 1.0))
    assert figures["restarts_by_supervisor"] == []


def test_worker_sigkill(fault_stack) -> None:
    figures, _ = run_fault(fault_stack, "wkk", _kill_restart("worker", 1.0))
    assert figures["restarts_by_supervisor"] == []


def test_dispatcher_sigkill(fault_stack) -> None:
    # Killed just before the injected desaturations reach the rule's 60 s (device time),
    # so their candidates wait in Kafka and their webhooks in the outbox.
    figures, _ = run_fault(fault_stack, "dsk", _kill_restart("dispatcher", 4.0), at=0.4)
    assert figures["restarts_by_supervisor"] == []


def test_postgres_restart(fault_stack) -> None:
    def fault(st: Stack, sup: Supervisor) -> float:
        return st.restart_postgres(down_s=3.0)

    figures, _ = run_fault(fault_stack, "pgr", fault)
    assert figures["restarts_by_supervisor"] == []  # the writers and the engine ride it out


def test_kafka_paused_ten_seconds(fault_stack) -> None:
    def fault(st: Stack, sup: Supervisor) -> float:
        st.pause_kafka()
        try:
            time.sleep(10)
        finally:
            st.resume_kafka()
        return time.monotonic()

    figures, _ = run_fault(fault_stack, "kfp", fault)
    assert figures["restarts_by_supervisor"] == []


def test_malformed_payloads_go_to_the_dlq_without_restarts(fault_stack) -> None:
    from ingest.dlq import decode_dlq
    from tests.ingest.ingest_support import read_topic

    st, sup = fault_stack
    pids = {n: c.proc.pid for n, c in st.children.items()}

    def nothing(st: Stack, sup: Supervisor) -> float:
        return time.monotonic()

    # Every 4th message is malformed (12 kinds in turn); the valid ones must all be stored.
    figures, load = run_fault(fault_stack, "bad", nothing, bad_every=4)
    records = asyncio.run(read_topic(st.settings.core.kafka_bootstrap or "", f"{st.prefix}vitals.dlq"))
    ours = [d for d in (decode_dlq(r.value) for r in records)
            if d.mqtt_topic.startswith(f"{st.settings.core.mqtt_topic_root}/bad-")]
    reasons = sorted({d.reason for d in ours})
    print(f"bad: {load.bad} malformed published, {len(ours)} DLQ records, reasons {reasons}")
    assert load.bad > 500
    assert len(ours) == load.bad
    assert len(reasons) >= 10
    assert {n: c.proc.pid for n, c in st.children.items()} == pids, "a process restarted"
    assert figures["restarts_by_supervisor"] == []
