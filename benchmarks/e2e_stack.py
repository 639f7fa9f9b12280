"""The whole vitalstream stack as real processes, privately owned: for the end-to-end
benchmark and the fault-injection tests.

A private Mosquitto (unbounded session queue, so nothing is dropped while a gateway is
down) and a private tansu are always started here; PostgreSQL is the configured server
(a fresh database on it) or, with `private_pg=True`, a private server in the run
directory that the caller may stop and start. Gateway, worker (detectors on) and
dispatcher (alert engine + delivery) run as `vitalstream` child processes; a local aiohttp
receiver verifies every webhook's signature. Nothing here touches shared services beyond
creating (and dropping) one database.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import pwd
import signal
import subprocess
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from vitalstream.config import Settings, load_settings
from vitalstream.services import Services, Started, free_port, start_mqtt, start_postgres, start_tansu, wait_for_port
from vitalstream.supervise import Child, service_env, start_child, stop_children


def prom(port: int, name: str) -> dict[str, float]:
    """One Prometheus metric from a loopback /metrics endpoint: {labels: value}; {} if down."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as resp:  # noqa: S310
            text = resp.read().decode()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        if line.startswith(name) and line[len(name):len(name) + 1] in (" ", "{"):
            key, value = line.rsplit(" ", 1)
            out[key[len(name):]] = float(value)
    return out


# --- webhook receiver ---------------------------------------------------------------


@dataclass
class Hook:
    received_at: float  # wall clock, seconds
    webhook_id: str
    type: str
    device_id: str
    kind: str
    alert_id: object
    opened_at: str | None


class Receiver:
    """An aiohttp webhook receiver on loopback, in its own thread; verifies signatures."""

    def __init__(self, secret: str):
        self.secret = secret
        self.hooks: list[Hook] = []
        self.bad_signatures = 0
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True, name="webhooks")

    async def _main(self) -> None:
        from aiohttp import web

        from alerts.verify import WebhookVerificationError, verify

        async def handle(request: web.Request) -> web.Response:
            body = await request.read()
            now = time.time()
            try:
                event = verify(request.headers, body, self.secret)
            except WebhookVerificationError:
                self.bad_signatures += 1
                return web.Response(status=401)
            data = event.get("data") or {}
            self.hooks.append(Hook(now, request.headers["webhook-id"], event.get("type", ""), data.get("device_id", ""),
                                   data.get("kind", ""), data.get("id"), data.get("opened_at")))
            return web.Response(status=204)

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        app = web.Application()
        app.router.add_post("/hook", handle)
        runner = web.AppRunner(app, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/hook"  # type: ignore[union-attr]
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    def start(self) -> Receiver:
        self._thread.start()
        if not self._ready.wait(20):
            raise RuntimeError("webhook receiver did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)

    def opened(self) -> dict[tuple[str, str], Hook]:
        """First alert.opened webhook per (device_id, kind)."""
        out: dict[tuple[str, str], Hook] = {}
        for h in list(self.hooks):
            if h.type == "alert.opened":
                out.setdefault((h.device_id, h.kind), h)
        return out


# --- the stack ----------------------------------------------------------------------


@dataclass
class Stack:
    settings: Settings
    run_dir: Path
    server_url: str  # PostgreSQL server (admin) URL
    services: dict[str, Started]
    receiver: Receiver
    ports: dict[str, int] = field(default_factory=dict)
    children: dict[str, Child] = field(default_factory=dict)
    starts: Counter[str] = field(default_factory=Counter)
    extra_env: dict[str, str] = field(default_factory=dict)
    split_roles: bool = False  # workers run role detectors, beside a `worker-storage` (role storage)

    @property
    def db_url(self) -> str:
        assert self.settings.core.database_url
        return self.settings.core.database_url

    @property
    def prefix(self) -> str:
        return self.settings.core.topic_prefix

    def env(self, name: str) -> dict[str, str]:
        port = self.ports.setdefault(name, free_port())
        stamp = self.prefix.rstrip(".")
        extra = {"VITALSTREAM_LOG_LEVEL": "WARNING"} if name.startswith("worker") else {}
        if name.startswith("worker"):
            extra["VITALSTREAM_WORKER_ROLE"] = self.role(name)
        extra.update(self.extra_env)  # a caller's log level wins
        return service_env(self.settings, VITALSTREAM_GATEWAY_METRICS_PORT=str(port),
                           VITALSTREAM_WORKER_METRICS_PORT=str(port), VITALSTREAM_WORKER_APP_ID="e2e",
                           VITALSTREAM_GATEWAY_CLIENT_ID=f"gw-{stamp}-{name}",
                           VITALSTREAM_ALERT_ENGINE_GROUP=f"{stamp}-engine", **extra)

    def role(self, name: str) -> str:
        if name.startswith("worker-storage"):
            return "storage"
        return "detectors" if self.split_roles else "all"

    def start(self, name: str, wait: bool = True) -> Child:
        """Start (or restart) `gateway`, `worker[N]`, `worker-storage[N]` or `dispatcher`;
        gateways wait for their subscription."""
        command = "worker" if name.startswith("worker") else name.rstrip("0123456789")
        self.starts[name] += 1
        child = start_child(f"{name}-{self.starts[name]}", [command], self.env(name), self.run_dir / "logs")
        self.children[name] = child
        if wait and command == "gateway":
            deadline = time.monotonic() + 90
            while "subscribed" not in child.log_path.read_text(errors="replace"):
                if not child.alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not subscribe:\n{child.log_path.read_text()[-3000:]}")
                time.sleep(0.1)
        return child

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        child = self.children[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.proc.pid, sig)
        child.proc.wait(30)

    def dead(self) -> list[str]:
        return [n for n, c in self.children.items() if not c.alive()]

    def pids(self) -> dict[str, int]:
        out = {n: c.proc.pid for n, c in self.children.items()}
        names = {"mqtt": "mosquitto", "kafka": "tansu", "postgres": "postgres (embedded)"}
        out.update({names[k]: s.proc.pid for k, s in self.services.items()})
        return out

    def count(self, where: str = "TRUE", params: tuple = ()) -> tuple[int, int]:
        """(rows, distinct (device_id, seq)) in vitals matching `where`."""
        with psycopg.connect(self.db_url) as conn:
            row = conn.execute(f"SELECT count(*), count(DISTINCT (device_id, seq)) FROM vitals WHERE {where}",
                               params).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    def log_tail(self, chars: int = 2500) -> str:
        return "\n".join(f"--- {c.name} ---\n{c.log_path.read_text(errors='replace')[-chars:]}"
                         for c in self.children.values())

    # PostgreSQL restart (only a private server: never the machine's shared one)
    def restart_postgres(self, down_s: float = 3.0) -> float:
        """Stop the private PostgreSQL (fast shutdown), wait, start it on the same port; returns when it accepts."""
        pg = self.services["postgres"]
        assert pg.stop_cmd, "only a private PostgreSQL can be restarted"
        subprocess.run(pg.stop_cmd, check=False, timeout=60, capture_output=True)
        pg.proc.wait(30)
        time.sleep(down_s)
        ids = {}
        if os.geteuid() == 0:
            pw = pwd.getpwnam("vitalstream-pg")
            ids = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
        log = open(self.run_dir / "logs" / "postgres-restarted.log", "ab")  # noqa: SIM115 - the child keeps it
        pg.proc = subprocess.Popen(list(pg.proc.args), stdout=log, stderr=subprocess.STDOUT,  # type: ignore[arg-type]
                                   start_new_session=True, **ids)
        port = urlsplit(pg.url).port
        assert port
        wait_for_port("127.0.0.1", port, 60, pg.proc)
        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg.connect(self.db_url, connect_timeout=2).close()
                return time.monotonic()
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def pause_kafka(self) -> None:
        os.kill(self.services["kafka"].proc.pid, signal.SIGSTOP)

    def resume_kafka(self) -> None:
        os.kill(self.services["kafka"].proc.pid, signal.SIGCONT)


def _with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@contextlib.contextmanager
def stack(run_dir: Path, *, private_pg: bool = False, start: tuple[str, ...] = ("worker", "gateway", "dispatcher"),
          extra_env: dict[str, str] | None = None, keep_db: bool = False,
          split_roles: bool = False) -> Iterator[Stack]:
    """Services + fresh database and topics + the processes in `start` + a webhook subscription."""
    from alerts.subscriptions import add_subscription
    from storage.migrate import migrate_sync
    from vitalstream.topics import ensure_topics

    base = load_settings()
    run_dir.mkdir(parents=True, exist_ok=True)
    services: dict[str, Started] = {}
    receiver: Receiver | None = None
    st: Stack | None = None
    db_name = f"e2e_{uuid.uuid4().hex[:10]}"
    server = ""
    try:
        services["mqtt"] = start_mqtt(run_dir)
        services["kafka"] = start_tansu(run_dir)
        if private_pg or not base.core.database_url:
            pg_dir = run_dir if private_pg else base.core.state_dir
            services["postgres"] = start_postgres(pg_dir)
            server = services["postgres"].url
        else:
            server = base.core.database_url
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{db_name}"')
        db_url = _with_db(server, db_name)
        migrate_sync(db_url)
        core = replace(base.core, mqtt_url=services["mqtt"].url, kafka_bootstrap=services["kafka"].url,
                       database_url=db_url, topic_prefix=f"{db_name}.", state_dir=run_dir / "state")
        settings = replace(base, core=core)
        asyncio.run(ensure_topics(settings))
        secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
        receiver = Receiver(secret).start()

        async def subscribe() -> None:
            async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
                await add_subscription(conn, receiver.url, secret=secret, allow_private=True)

        asyncio.run(subscribe())
        (run_dir / "state").mkdir(exist_ok=True)
        st = Stack(settings, run_dir, server, services, receiver, extra_env=dict(extra_env or {}),
                   split_roles=split_roles)
        for name in start:
            st.start(name)
        yield st
    finally:
        if st is not None:
            stop_children(list(st.children.values()))
        if receiver is not None:
            receiver.stop()
        if "kafka" in services:
            with contextlib.suppress(ProcessLookupError):  # a paused broker would ignore SIGTERM
                os.kill(services["kafka"].proc.pid, signal.SIGCONT)
        if server and not keep_db and not private_pg:
            with contextlib.suppress(psycopg.Error), psycopg.connect(server, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        Services("", "", "", list(services.values())).stop()
