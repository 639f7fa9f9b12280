"""API benchmark: requests/s and latency (p50/p99) of the bucketed vitals query and the
alerts list under concurrent load, with /healthz as the same-run HTTP baseline.

    python -m benchmarks.api_bench [--workers 32] [--duration 10] [--devices 50] [--hours 24] [--json OUT]

Database: VITALSTREAM_DATABASE_URL when set, else an embedded PostgreSQL (vitalstream.services);
a scratch database is created, migrated, seeded and dropped. The API is a real
`vitalstream api` subprocess (one process, default pool); the load generator is an
aiohttp client in this process with N workers each sending requests back to back
(closed loop), picking a random device per request. Every vitals read also writes its
audit row (that cost is part of the figure). On a shared 2-core machine the load
generator, the API and PostgreSQL compete for the same cores: figures are a floor and noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import psycopg


@dataclass
class Scenario:
    name: str
    requests: int
    errors: int
    seconds: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float


def _with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def seed(dsn: str, devices: int, hours: int, alerts: int) -> str:
    """Devices with one sample a minute for `hours`, `alerts` alerts; returns an admin token."""
    from api.tokens import hash_token, new_token

    now = datetime.now(UTC).replace(second=0, microsecond=0)
    rng = random.Random(7)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for d in range(devices):
            device = f"bench-{d:04d}"
            conn.execute("INSERT INTO devices (device_id) VALUES (%s)", (device,))
            with conn.cursor().copy("COPY vitals (device_id, ts, seq, hr, spo2, rr, temp, sbp, dbp) FROM STDIN") as cp:
                for i in range(hours * 60):
                    cp.write_row((device, now - timedelta(minutes=hours * 60 - i), i, 60 + rng.random() * 40,
                                  94 + rng.random() * 5, 12 + rng.random() * 8, 36.5 + rng.random(),
                                  110 + rng.random() * 20, 70 + rng.random() * 15))
        statuses = ("open", "acknowledged", "resolved")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO alerts (device_id, kind, severity, status, opened_at, acknowledged_at, resolved_at, "
                "summary, evidence, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, '{}', %s)",
                [(f"bench-{rng.randrange(devices):04d}", f"kind.{i}", rng.choice(("low", "medium", "high")),
                  (st := statuses[i % 3]), (t := now - timedelta(minutes=i)),
                  t if st != "open" else None, t if st == "resolved" else None, "bench alert", t)
                 for i in range(alerts)])
        conn.execute("ANALYZE")
        token = new_token()
        conn.execute("INSERT INTO api_tokens (name, role, token_hash) VALUES ('bench', 'admin', %s)",
                     (hash_token(token),))
    return token


async def load(base: str, token: str, paths, workers: int, duration: float, warmup: float) -> Scenario:
    latencies: list[float] = []
    errors = 0
    headers = {"Authorization": f"Bearer {token}"}
    conn = aiohttp.TCPConnector(limit=workers)
    async with aiohttp.ClientSession(base, headers=headers, connector=conn) as http:
        measuring_from = time.perf_counter() + warmup
        end = measuring_from + duration

        async def worker() -> None:
            nonlocal errors
            while (now := time.perf_counter()) < end:
                async with http.get(paths()) as resp:
                    await resp.read()
                    ok = resp.status == 200
                done = time.perf_counter()
                if now >= measuring_from:
                    latencies.append(done - now)
                    errors += not ok

        await asyncio.gather(*(worker() for _ in range(workers)))
    lat = sorted(latencies)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan")
    return Scenario("", len(lat), errors, duration, len(lat) / duration, statistics.median(lat) * 1000 if lat else 0,
                    p99 * 1000, lat[-1] * 1000 if lat else 0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=32)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--devices", type=int, default=50)
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--alerts", type=int, default=3000)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    from vitalstream.services import free_port, start_postgres, wait_for_port

    server_url = os.environ.get("VITALSTREAM_DATABASE_URL")
    started = None
    if not server_url:
        started = start_postgres(Path(tempfile.mkdtemp(prefix="vs-apibench-")))
        server_url = started.url
    name = f"vs_apibench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    dsn = _with_db(server_url, name)
    proc = None
    try:
        from storage.migrate import migrate_sync

        migrate_sync(dsn)
        t0 = time.perf_counter()
        token = seed(dsn, args.devices, args.hours, args.alerts)
        print(f"seeded {args.devices} devices x {args.hours * 60} samples, {args.alerts} alerts "
              f"in {time.perf_counter() - t0:.1f} s", flush=True)
        port = free_port()
        env = {**os.environ, "VITALSTREAM_DATABASE_URL": dsn, "VITALSTREAM_API_PORT": str(port),
               "VITALSTREAM_LOG_LEVEL": "WARNING"}
        proc = subprocess.Popen([sys.executable, "-m", "vitalstream", "api"], env=env)
        wait_for_port("127.0.0.1", port, 30, proc)
        base = f"http://127.0.0.1:{port}"
        rng = random.Random(1)
        now = datetime.now(UTC)
        frm, to = (now - timedelta(hours=args.hours)).isoformat(), now.isoformat()

        def bucketed() -> str:
            return (f"/api/v1/devices/bench-{rng.randrange(args.devices):04d}/vitals"
                    f"?from={frm.replace('+00:00', 'Z')}&to={to.replace('+00:00', 'Z')}&bucket=5m")

        scenarios = {
            "healthz (baseline)": lambda: "/healthz",
            f"vitals {args.hours} h, bucket=5m": bucketed,
            "alerts list (limit=50)": lambda: "/api/v1/alerts?limit=50",
            "alerts open, one device":
                lambda: f"/api/v1/alerts?status=open&device_id=bench-{rng.randrange(args.devices):04d}",
        }
        results = []
        for label, paths in scenarios.items():
            r = asyncio.run(load(base, token, paths, args.workers, args.duration, args.warmup))
            r.name = label
            results.append(r)
            print(f"{label:34s} {r.requests_per_s:8.0f} req/s  p50 {r.p50_ms:7.1f} ms  p99 {r.p99_ms:7.1f} ms  "
                  f"max {r.max_ms:7.1f} ms  errors {r.errors}/{r.requests}", flush=True)
        doc = {"workers": args.workers, "duration_s": args.duration, "devices": args.devices, "hours": args.hours,
               "alerts": args.alerts, "cpus": os.cpu_count(), "scenarios": [asdict(r) for r in results]}
        if args.json:
            args.json.write_text(json.dumps(doc, indent=2))
        return 0
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(15)
        with psycopg.connect(server_url, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if started is not None:
            started.stop()


if __name__ == "__main__":
    sys.exit(main())
