"""Shared plumbing for benchmarks: services, child processes, sampling CPU and memory."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit, urlunsplit

import psutil

from vitalstream.config import Settings, load_settings
from vitalstream.services import resolved, services


@contextlib.contextmanager
def bench_services(prefix: str, *, keep_db: bool = False) -> Iterator[Settings]:
    """Services as configured (embedded where unset), with a fresh topic prefix and a
    fresh, migrated database on the configured server (dropped afterwards)."""
    import psycopg

    from storage.migrate import migrate_sync

    base = load_settings()
    with services(base) as svc:
        settings = resolved(base, svc)
        stamp = f"{prefix}{int(time.time())}"
        server = settings.core.database_url
        parts = urlsplit(server)
        db_url = urlunsplit(parts._replace(path=f"/{stamp}"))
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{stamp}"')
        try:
            migrate_sync(db_url)
            yield replace(settings, core=replace(settings.core, topic_prefix=f"{stamp}.", database_url=db_url))
        finally:
            if not keep_db:
                with psycopg.connect(server, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{stamp}" WITH (FORCE)')


@dataclass
class ProcSampler:
    """CPU (% of one core) and RSS of processes, sampled on demand."""

    procs: dict[str, psutil.Process] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)
    rss_mb: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, pid: int) -> None:
        proc = psutil.Process(pid)
        proc.cpu_percent(None)
        self.procs[name] = proc

    def sample(self) -> None:
        for name, proc in self.procs.items():
            try:
                with proc.oneshot():
                    self.cpu.setdefault(name, []).append(proc.cpu_percent(None))
                    self.rss_mb.setdefault(name, []).append(proc.memory_info().rss / 2**20)
            except psutil.NoSuchProcess:
                pass

    def summary(self) -> dict[str, dict[str, float]]:
        out = {}
        for name in self.procs:
            cpu = self.cpu.get(name) or [0.0]
            rss = self.rss_mb.get(name) or [0.0]
            out[name] = {"cpu_avg_pct": sum(cpu) / len(cpu), "rss_peak_mb": max(rss), "rss_last_mb": rss[-1]}
        return out


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def machine() -> str:
    return f"{os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB"


def cpu_speed_ms() -> float:
    """Milliseconds for a fixed pure-Python loop (best of 3): how fast this machine's cores
    are right now. The same 2-core machine has run 2x apart on different days, so results
    are compared across runs only together with this figure (lower = faster)."""
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        total = 0
        for i in range(1_000_000):
            total += i
        best = min(best, time.perf_counter() - began)
    return round(best * 1000, 1)
