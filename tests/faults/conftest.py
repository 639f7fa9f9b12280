"""One private stack for the fault-injection tests (module scope: starting a worker costs
tens of seconds), with a supervisor that restarts any process that exits on its own, as
systemd `Restart=always` would, and records it. Each test uses its own device ids."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from benchmarks.e2e_stack import Stack, stack
from tests.helpers import wait_until

FAST = {
    "VITALSTREAM_LOG_LEVEL": "INFO",  # faust's rebalance and recovery steps, shown when a wait times out
    "VITALSTREAM_WORKER_SESSION_TIMEOUT_S": "6",  # a killed worker's partitions move within seconds
    "VITALSTREAM_WEBHOOK_POLL_S": "0.2",
    "VITALSTREAM_WEBHOOK_TIMEOUT_S": "2",
    "VITALSTREAM_WEBHOOK_LEASE_S": "3",
    "VITALSTREAM_WEBHOOK_BACKOFF_BASE_S": "0.2",
    "VITALSTREAM_WEBHOOK_BACKOFF_MAX_S": "2",
    "VITALSTREAM_ALERT_ENGINE_TICK_S": "1",
}


@dataclass
class Supervisor:
    st: Stack
    held: set[str] = field(default_factory=set)  # names a test has taken down on purpose
    restarts: list[tuple[float, str, int | None]] = field(default_factory=list)  # (when, name, exit code)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Supervisor:
        threading.Thread(target=self._run, daemon=True, name="supervisor").start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            with self._lock:
                for name, child in list(self.st.children.items()):
                    if name not in self.held and not child.alive():
                        self.restarts.append((time.time(), name, child.proc.returncode))
                        self.st.start(name)

    def kill(self, name: str) -> float:
        with self._lock:
            self.held.add(name)
            self.st.kill(name)
        return time.monotonic()

    def restart(self, name: str) -> float:
        with self._lock:
            self.st.start(name)
            self.held.discard(name)
        return time.monotonic()

    def unexpected(self, since: float) -> list[tuple[float, str, int | None]]:
        return [r for r in self.restarts if r[0] >= since]


@pytest.fixture(scope="module")
def fault_stack() -> Iterator[tuple[Stack, Supervisor]]:
    # Not under pytest's base temp dir: other pytest sessions on the machine reset it to 0700,
    # which locks out the unprivileged user the private PostgreSQL runs as (when we are root).
    run_dir = Path(tempfile.mkdtemp(prefix="vs-faults-"))
    os.chmod(run_dir, 0o711)
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, run_dir, ignore_errors=True)
        yield from _fault_stack(run_dir)


def _fault_stack(run_dir: Path) -> Iterator[tuple[Stack, Supervisor]]:
    with stack(run_dir, private_pg=True, extra_env=FAST) as st:
        sup = Supervisor(st).start()
        try:
            # Ready when one sample has gone all the way through (worker joined, detectors loaded).
            from tests.faults.load import Load

            port = urlsplit(st.settings.core.mqtt_url).port
            warm = Load(port, st.settings.core.mqtt_topic_root, "warm", devices=2, injected=0, rate=20,
                        seconds=1).start()
            warm.wait()
            wait_until(lambda: st.count("device_id LIKE 'warm-%%'")[0] >= len(warm.published), 240,
                       what="the stack to store its first samples")
            yield st, sup
        finally:
            sup.stop()
            print(f"supervisor restarts: {sup.restarts}")
            print(st.log_tail(2000))
