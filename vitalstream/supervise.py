"""Child processes of `vitalstream dev` (and of tests/benchmarks): start, watch, stop in order.

Each child runs in its own session so a terminal Ctrl-C reaches only us; we then stop the
children in reverse start order (simulator first, services last), SIGTERM then SIGKILL.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .config import Settings

log = logging.getLogger(__name__)


def service_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment a child needs to reach the same (possibly embedded) services."""
    env = dict(os.environ)
    core = settings.core
    env.update({
        "VITALSTREAM_MQTT_URL": core.mqtt_url or "",
        "VITALSTREAM_KAFKA_BOOTSTRAP": core.kafka_bootstrap or "",
        "VITALSTREAM_DATABASE_URL": core.database_url or "",
        "VITALSTREAM_STATE_DIR": str(core.state_dir),
        "VITALSTREAM_TOPIC_PREFIX": core.topic_prefix,
        "VITALSTREAM_TOPIC_PARTITIONS": str(core.topic_partitions),
        "VITALSTREAM_MQTT_TOPIC_ROOT": core.mqtt_topic_root,
    })
    env.update(extra)
    return env


@dataclass
class Child:
    name: str
    proc: subprocess.Popen
    log_path: Path

    def alive(self) -> bool:
        return self.proc.poll() is None


def start_child(name: str, args: list[str], env: dict[str, str], log_dir: Path) -> Child:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    out = open(log_path, "ab")  # noqa: SIM115 - the child keeps it
    cmd = [sys.executable, "-m", "vitalstream", *args]
    proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    log.info("started %s (pid %d), log %s", name, proc.pid, log_path)
    return Child(name, proc, log_path)


def stop_children(children: list[Child], timeout_s: float = 20.0) -> None:
    for child in reversed(children):
        if child.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.proc.pid, signal.SIGTERM)
            try:
                child.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0f s; killing it", child.name, timeout_s)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.proc.pid, signal.SIGKILL)
                child.proc.wait(timeout=5)
        log.info("stopped %s", child.name)
