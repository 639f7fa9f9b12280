"""Alert delivery benchmark: webhook deliveries/s of ONE dispatcher process to a fast local
receiver, and the latency from an alert candidate on Kafka to the webhook received.

    python -m benchmarks.dispatcher_bench [--events 5000] [--latency-events 300] [--rate 20]
                                          [--engine-candidates 20000] [--json OUT]

Services: VITALSTREAM_DATABASE_URL / VITALSTREAM_KAFKA_BOOTSTRAP when set, else embedded
ones (vitalstream.services). A scratch database is created and dropped. The receiver runs
in its own process (aiohttp, answers 204 at once, verifies nothing so it costs little);
the dispatcher is a real `vitalstream dispatcher` subprocess.
- throughput: N alert.opened events are written to the outbox first, then the dispatcher
  starts; deliveries/s = received events over the span first → last arrival.
- latency: `vitalstream dispatcher` (engine + delivery in one process) runs; candidates
  for distinct devices go to Kafka at a steady rate, each stamped with its send time; the
  receiver measures now − stamp on arrival (same host clock).
- engine: a backlog of candidates (repeats for open alerts, the common case while a
  condition lasts) is consumed by an AlertEngine in this process (the producer is done by
  then); candidates/s and CPU from its first applied batch to the last.
On a shared 2-core machine receiver, dispatcher, PostgreSQL and Kafka compete for the
same cores: the figures are a floor and noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import asdict, dataclass, replace
from tempfile import mkdtemp
from urllib.parse import urlsplit, urlunsplit

from vitalstream.config import Settings, load_settings
from vitalstream.services import free_port, resolved, services


@dataclass
class Result:
    events: int
    delivered: int
    deliveries_per_s: float
    dispatcher_cpu_ms_per_delivery: float
    latency_events: int
    latency_received: int
    latency_p50_ms: float
    latency_p99_ms: float
    latency_max_ms: float
    rate_per_s: float
    engine_candidates: int
    engine_candidates_per_s: float
    engine_cpu_ms_per_candidate: float


def receiver(port: int) -> None:
    """A fast webhook receiver; GET /stats reports arrivals and candidate→webhook latencies."""
    from aiohttp import web

    arrivals: list[float] = []
    latencies: list[float] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        now = time.time()
        arrivals.append(now)
        sent = json.loads(body)["data"]["evidence"].get("sent_at")
        if sent is not None:
            latencies.append((now - sent) * 1000)
        return web.Response(status=204)

    async def stats(request: web.Request) -> web.Response:
        first, last = (arrivals[0], arrivals[-1]) if arrivals else (0.0, 0.0)
        return web.json_response({"count": len(arrivals), "first": first, "last": last, "latencies": latencies})

    async def reset(request: web.Request) -> web.Response:
        arrivals.clear()
        latencies.clear()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", reset)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def _stats(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10) as resp:
        return json.loads(resp.read())


def _with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def _spawn(settings: Settings, db: str, prefix: str, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, VITALSTREAM_DATABASE_URL=db, VITALSTREAM_KAFKA_BOOTSTRAP=settings.core.kafka_bootstrap or "",
               VITALSTREAM_TOPIC_PREFIX=prefix, VITALSTREAM_WEBHOOK_ALLOW_PRIVATE="true",
               VITALSTREAM_LOG_LEVEL="WARNING", VITALSTREAM_STATE_DIR=str(settings.core.state_dir))
    return subprocess.Popen([sys.executable, "-m", "vitalstream", "dispatcher", *extra], env=env)


async def _fill_outbox(db: str, n: int) -> None:
    import psycopg

    from alerts.model import PolicyConfig
    from alerts.policy import AlertPolicy
    from alerts.store import write_actions
    from detectors.candidate import AlertCandidate

    policy = AlertPolicy(PolicyConfig())
    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
        for start in range(0, n, 1000):
            async with conn.transaction():
                for i in range(start, min(n, start + 1000)):
                    c = AlertCandidate(f"bench-{i:06d}", "spo2.low", "high", 1_795_000_000_000 + i, True,
                                       "SpO2 88 % for 3 min", {"spo2": 88}, ("spo2",), "rules")
                    await write_actions(conn, policy.feed(c), {})


async def _subscribe(db: str, url: str) -> None:
    import psycopg

    from alerts.subscriptions import add_subscription

    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
        await conn.execute("DELETE FROM webhook_subscriptions")
        await add_subscription(conn, url)


def _wait(port: int, n: int, timeout_s: float, proc: subprocess.Popen) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        stats = _stats(port)
        if stats["count"] >= n or time.monotonic() > deadline or proc.poll() is not None:
            return stats
        time.sleep(0.2)


def throughput(settings: Settings, db: str, port: int, events: int) -> tuple[int, float, float]:
    asyncio.run(_fill_outbox(db, events))
    import psutil

    proc = _spawn(settings, db, "bench.", "--no-engine")
    try:
        stats = _wait(port, events, 300, proc)
        cpu = psutil.Process(proc.pid).cpu_times()
    finally:
        proc.terminate()
        proc.wait(30)
    span = stats["last"] - stats["first"]
    # CPU per delivery (start-up included) is steadier than the rate on a shared machine
    cpu_ms = (cpu.user + cpu.system) * 1000 / max(1, stats["count"])
    return stats["count"], (stats["count"] - 1) / span if span > 0 else float("nan"), cpu_ms


async def _produce(settings: Settings, prefix: str, n: int, rate: float, device_prefix: str = "lat") -> None:
    from aiokafka import AIOKafkaProducer

    from detectors.candidate import AlertCandidate

    producer = AIOKafkaProducer(bootstrap_servers=settings.core.kafka_bootstrap, linger_ms=0)
    await producer.start()
    try:
        t0 = time.monotonic()
        for i in range(n):
            await asyncio.sleep(max(0.0, t0 + i / rate - time.monotonic()))
            now = time.time()
            c = AlertCandidate(f"{device_prefix}-{i:06d}", "news2.high", "high", int(now * 1000), True,
                               "NEWS2 7 (high)",
                               {"news2": 7, "sent_at": now}, (), "news2")
            await producer.send(f"{prefix}alert.candidates", c.to_json(), key=c.device_id.encode())
        await producer.flush()
    finally:
        await producer.stop()


def latency(settings: Settings, db: str, port: int, n: int, rate: float) -> list[float]:
    from vitalstream.topics import ensure_topics

    prefix = f"bench{uuid.uuid4().hex[:8]}."
    scoped = replace(settings, core=replace(settings.core, topic_prefix=prefix))
    asyncio.run(ensure_topics(scoped))
    proc = _spawn(settings, db, prefix)
    try:
        asyncio.run(_produce(scoped, prefix, 1, 1.0, "warmup"))  # warm-up: group joined, connections open
        _wait(port, 1, 120, proc)
        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/reset", method="POST"), timeout=10)
        asyncio.run(_produce(scoped, prefix, n, rate))
        stats = _wait(port, n, 60, proc)
        if stats["count"] < n:
            print(f"latency phase: {stats['count']}/{n} received; outbox: {asyncio.run(_outbox(db))}", file=sys.stderr)
    finally:
        proc.terminate()
        proc.wait(30)
    return stats["latencies"]


async def _outbox(db: str) -> dict:
    import psycopg

    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
        rows = await (await conn.execute("SELECT status, count(*) FROM webhook_deliveries GROUP BY 1")).fetchall()
        (alerts,), = await (await conn.execute("SELECT count(*) FROM alerts WHERE device_id LIKE 'lat-%%'")).fetchall()
    return {"alerts": alerts, **dict(rows)}


async def _produce_repeats(settings: Settings, prefix: str, n: int, devices: int) -> None:
    from aiokafka import AIOKafkaProducer

    from detectors.candidate import AlertCandidate

    producer = AIOKafkaProducer(bootstrap_servers=settings.core.kafka_bootstrap, linger_ms=5)
    await producer.start()
    try:
        t0 = int(time.time() * 1000)
        for i in range(n):
            d = i % devices
            c = AlertCandidate(f"eng-{d:05d}", "spo2.low", "medium", t0 + i, True, "SpO2 89 %",
                               {"spo2": 89}, ("spo2",), "rules")
            await producer.send(f"{prefix}alert.candidates", c.to_json(), key=c.device_id.encode())
        await producer.flush()
    finally:
        await producer.stop()


async def _run_engine(settings: Settings, n: int) -> tuple[float, float]:
    from alerts.engine import AlertEngine

    async with AlertEngine(settings) as eng:
        stop = asyncio.Event()
        task = asyncio.create_task(eng.run(stop))
        while eng.stats.candidates == 0 and not task.done():
            await asyncio.sleep(0.005)
        t0, c0, cpu0 = time.monotonic(), eng.stats.candidates, time.process_time()
        deadline = t0 + 300
        while eng.stats.candidates < n and not task.done() and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        wall, cpu, done = time.monotonic() - t0, time.process_time() - cpu0, eng.stats.candidates - c0
        stop.set()
        await task
    return done / wall if wall > 0 else float("nan"), cpu * 1000 / max(1, done)


def engine(settings: Settings, db: str, n: int, devices: int) -> tuple[float, float]:
    """Candidates/s of the alert engine over a backlog (repeats of open conditions), run in
    this process once the producer is done; from its first applied batch to the last."""
    from vitalstream.topics import ensure_topics

    prefix = f"benche{uuid.uuid4().hex[:8]}."
    scoped = replace(settings, core=replace(settings.core, topic_prefix=prefix, database_url=db),
                     alerts=replace(settings.alerts, engine_group=f"{prefix}engine"))
    asyncio.run(ensure_topics(scoped))
    asyncio.run(_produce_repeats(scoped, prefix, n, devices))
    return asyncio.run(_run_engine(scoped, n))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000, help="events for the throughput phase")
    parser.add_argument("--latency-events", type=int, default=300, help="candidates for the latency phase")
    parser.add_argument("--rate", type=float, default=20.0, help="candidates/s in the latency phase")
    parser.add_argument("--engine-candidates", type=int, default=20000, help="backlog for the engine phase (0: skip)")
    parser.add_argument("--engine-devices", type=int, default=500, help="devices the engine backlog spreads over")
    parser.add_argument("--json", help="also write the result as JSON here")
    args = parser.parse_args(argv)

    import psycopg

    from storage.migrate import apply_migrations

    base = load_settings(dict(os.environ, VITALSTREAM_STATE_DIR=os.environ.get("VITALSTREAM_STATE_DIR") or mkdtemp()))
    port = free_port()
    recv = mp.get_context("spawn").Process(target=receiver, args=(port,), daemon=True)
    recv.start()
    with services(base) as svc:
        settings = resolved(base, svc)
        name = f"vs_bench_{uuid.uuid4().hex[:8]}"
        admin = settings.core.database_url
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        db = _with_db(admin, name)
        try:
            asyncio.run(apply_migrations(db))
            asyncio.run(_subscribe(db, f"http://127.0.0.1:{port}/hook"))
            delivered, per_s, cpu_ms = throughput(settings, db, port, args.events)
            urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/reset", method="POST"))
            lat = sorted(latency(settings, db, port, args.latency_events, args.rate))
            eng_rate, eng_cpu = (engine(settings, db, args.engine_candidates, args.engine_devices)
                                 if args.engine_candidates else (float("nan"), float("nan")))
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    recv.terminate()

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(round(p / 100 * (len(lat) - 1))))] if lat else float("nan")

    result = Result(args.events, delivered, round(per_s, 1), round(cpu_ms, 2), args.latency_events, len(lat),
                    round(statistics.median(lat), 1) if lat else float("nan"), round(pct(99), 1),
                    round(lat[-1], 1) if lat else float("nan"), args.rate, args.engine_candidates,
                    round(eng_rate, 1), round(eng_cpu, 3))
    print(f"throughput: {result.delivered}/{result.events} webhooks delivered, {result.deliveries_per_s} deliveries/s "
          f"(one dispatcher process, fast local receiver; {result.dispatcher_cpu_ms_per_delivery} ms "
          f"dispatcher CPU per delivery)")
    print(f"latency candidate on Kafka -> webhook received ({result.latency_received}/{result.latency_events} at "
          f"{args.rate:g}/s): p50 {result.latency_p50_ms} ms, p99 {result.latency_p99_ms} ms, "
          f"max {result.latency_max_ms} ms")
    if args.engine_candidates:
        print(f"alert engine: {result.engine_candidates_per_s} candidates/s over a backlog of {args.engine_candidates} "
              f"({args.engine_devices} devices, repeats of open alerts; {result.engine_cpu_ms_per_candidate} ms "
              f"engine CPU per candidate)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(asdict(result), fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
