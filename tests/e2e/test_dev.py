"""`vitalstream dev` on embedded defaults: samples flow, and Ctrl-C leaves nothing behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import psutil
import pytest

pytestmark = pytest.mark.slow


def test_dev_runs_the_pipeline_and_ctrl_c_stops_every_process(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("VITALSTREAM_")}
    env.update(VITALSTREAM_STATE_DIR=str(tmp_path / "state"), VITALSTREAM_API_PORT=str(_free_port()))
    proc = subprocess.Popen([sys.executable, "-m", "vitalstream", "dev", "--devices", "5"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    descendants: dict[int, str] = {}
    stored = 0

    def snapshot() -> None:
        for child in psutil.Process(proc.pid).children(recursive=True):
            try:
                # Overwrite: a child caught between fork and exec still shows its parent's command.
                descendants[child.pid] = " ".join(child.cmdline()) or descendants.get(child.pid, "")
            except psutil.Error:
                pass  # short-lived (initdb, pg_ctl): not what we are after

    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            snapshot()
            match = re.search(r"stored ([\d,]+)", line)
            if match and (stored := int(match.group(1).replace(",", ""))) > 20:
                break
        assert stored > 20, "no samples stored:\n" + "".join(lines[-30:])
        time.sleep(1)
        snapshot()  # everything is up now: the full set of processes to account for
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
        rest, _ = proc.communicate(timeout=90)
        lines.append(rest)
    assert proc.returncode == 0, "".join(lines[-30:])
    # Embedded PostgreSQL, Kafka and MQTT, gateway, worker, dispatcher, API, simulator: all gone.
    names = " ".join(descendants.values())
    for expected in ("postgres", "tansu", "gateway", "worker", "simulate"):
        assert expected in names, f"{expected} was not among the started processes: {names}"
    alive = [f"{pid} {cmd}" for pid, cmd in descendants.items() if psutil.pid_exists(pid)
             and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"left behind after Ctrl-C: {alive}"


def _free_port() -> int:
    from vitalstream.services import free_port

    return free_port()
