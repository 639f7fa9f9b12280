"""Prometheus metrics of the alert engine and dispatcher: the text format, and the live
endpoint against real Kafka, PostgreSQL and a real webhook receiver."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from dataclasses import replace

import aiohttp
import psycopg
from aiohttp import web

from alerts.cli import serve
from alerts.dispatcher import Dispatcher
from alerts.metrics import AlertMetrics, refresh_backlog, serve_metrics
from alerts.subscriptions import add_subscription

from .conftest import alert_settings, open_alerts
from .test_engine import CFG, T0, _produce, cand

LINE = re.compile(r'^([a-z_]+)(\{[a-z_]+="[^"]*"\})? (-?[0-9.e+-]+|NaN)$')


def parse(text: str) -> dict[str, float]:
    """Every sample line as {"name{labels}": value}; fails on a line outside the format."""
    out: dict[str, float] = {}
    declared: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            declared.add(line.split()[2])
            continue
        if line.startswith("# HELP "):
            continue
        m = LINE.match(line)
        assert m, f"not Prometheus text: {line!r}"
        name = m.group(1)
        assert name in declared or re.sub(r"_(sum|count)$", "", name) in declared, f"{name} has no TYPE"
        out[name + (m.group(2) or "")] = float(m.group(3))
    return out


async def scrape(port: int) -> dict[str, float]:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return parse(await resp.text())


async def scrape_until(port: int, want: dict[str, float], timeout: float = 30) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while True:
        got = await scrape(port)
        if all(got.get(k) == v for k, v in want.items()):
            return got
        assert time.monotonic() < deadline, {k: got.get(k) for k in want}
        await asyncio.sleep(0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_render_is_prometheus_text_with_labels():
    m = AlertMetrics()
    m.candidates["spo2.low"] += 3
    m.actions["open"] += 1
    m.attempts["timeout"] += 2
    m.engine_lag[3] = 7
    m.engine_last_commit = time.monotonic() - 2
    for ms in (10, 20, 30, 40, 1000):
        m.latency.observe(ms / 1000)
    got = parse(m.render())
    assert got['vitalstream_alert_engine_candidates_total{kind="spo2.low"}'] == 3
    assert got['vitalstream_alert_engine_actions_total{action="open"}'] == 1
    assert got['vitalstream_alert_engine_actions_total{action="suppress"}'] == 0  # zero series exist up front
    assert got['vitalstream_dispatcher_attempts_total{outcome="timeout"}'] == 2
    assert got['vitalstream_dispatcher_attempts_total{outcome="2xx"}'] == 0
    assert got['vitalstream_alert_engine_consumer_lag{partition="3"}'] == 7
    assert 2 <= got["vitalstream_alert_engine_last_commit_age_seconds"] < 10
    assert got['vitalstream_dispatcher_attempt_latency_seconds{quantile="0.5"}'] == 0.03
    assert got['vitalstream_dispatcher_attempt_latency_seconds{quantile="0.99"}'] == 1.0
    m.delivered = 12_345_678
    assert "vitalstream_dispatcher_delivered_total 12345678\n" in m.render()  # counters exact, not 1.23457e+07
    assert got["vitalstream_dispatcher_attempt_latency_seconds_count"] == 5
    assert got["vitalstream_dispatcher_database_up"] == 0  # no backlog query has run


async def test_endpoint_counts_a_candidate_through_to_a_delivery(settings, database_url, topic_prefix, receiver):
    """`vitalstream dispatcher`'s serve(): engine + dispatcher + /metrics in one loop."""
    port = free_port()
    s = alert_settings(settings, database_url, engine_tick_s=0.2)
    s = replace(s, core=replace(s.core, topic_prefix=topic_prefix),
                alerts=replace(s.alerts, metrics_port=port, engine_group=f"{topic_prefix}engine"))
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await add_subscription(conn, receiver.url)
    stop = asyncio.Event()
    metrics = AlertMetrics()
    job = asyncio.create_task(serve(s, stop, engine=True, dispatcher=True, metrics=metrics, backlog_every_s=0.1))
    try:
        deadline = time.monotonic() + 20
        while True:  # the endpoint comes up with the process
            try:
                before = await scrape_until(port, {"vitalstream_dispatcher_database_up": 1})
                break
            except aiohttp.ClientConnectionError:
                assert time.monotonic() < deadline and not job.done(), "no /metrics"
                await asyncio.sleep(0.05)
        assert before['vitalstream_dispatcher_attempts_total{outcome="2xx"}'] == 0
        assert before["vitalstream_dispatcher_delivered_total"] == 0
        assert before['vitalstream_alert_engine_actions_total{action="open"}'] == 0
        assert not any(k.startswith("vitalstream_alert_engine_candidates_total{") for k in before)

        await _produce(s, [cand("dev-m", "news2.high", int(time.time() * 1000) - T0, vitals=())])
        await receiver.wait_for(1, timeout=30)
        after = await scrape_until(port, {"vitalstream_dispatcher_delivered_total": 1,
                                          'vitalstream_dispatcher_outbox_deliveries{status="pending"}': 0,
                                          'vitalstream_dispatcher_outbox_deliveries{status="delivering"}': 0})
    finally:
        stop.set()
        await asyncio.wait_for(job, 30)
    assert after['vitalstream_alert_engine_candidates_total{kind="news2.high"}'] == 1
    assert after['vitalstream_alert_engine_actions_total{action="open"}'] == 1
    assert after['vitalstream_dispatcher_attempts_total{outcome="2xx"}'] == 1
    assert after['vitalstream_dispatcher_attempts_total{outcome="non_2xx"}'] == 0
    assert after["vitalstream_dispatcher_attempt_latency_seconds_count"] == 1
    assert 0 < after['vitalstream_dispatcher_attempt_latency_seconds{quantile="0.99"}'] < 2
    assert 0 <= after["vitalstream_alert_engine_last_commit_age_seconds"] < 5  # ticks every 0.2 s
    assert sum(v for k, v in after.items() if k.startswith("vitalstream_alert_engine_consumer_lag{")) == 0
    assert after['vitalstream_alert_engine_errors_total{error="database"}'] == 0
    assert after["vitalstream_dispatcher_outbox_oldest_pending_seconds"] == 0
    # the endpoint stops with the process
    try:
        await scrape(port)
        raise AssertionError("/metrics still served after stop")
    except aiohttp.ClientConnectionError:
        pass


async def test_failures_by_outcome_backlog_and_disabled_subscription(settings, database_url, receiver):
    async def failing(n: int, request: web.Request) -> web.StreamResponse:
        if n == 0:
            return web.Response(status=500, text="boom")
        if n == 1:
            await asyncio.sleep(1.0)  # past webhook_timeout_s
            return web.Response(status=200)
        return web.Response(status=410)

    receiver.behaviour = failing
    dead_port = free_port()  # nothing listens there: connection refused
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await add_subscription(conn, receiver.url)
        dead = (await add_subscription(conn, f"http://127.0.0.1:{dead_port}/hook"))["id"]
        await open_alerts(database_url, 2)  # 2 events x 2 subscriptions
        metrics = AlertMetrics()
        await refresh_backlog(conn, metrics)
        b = metrics.backlog
        assert (b.pending, b.delivering, b.overdue, b.subscriptions_disabled) == (4, 0, 0, 0)
        assert b.oldest_pending_s >= 0 and metrics.database_up

        port = free_port()
        server = await serve_metrics(metrics, "127.0.0.1", port, dsn=database_url, backlog_every_s=0.1)
        s = alert_settings(settings, database_url, webhook_timeout_s=0.3, webhook_max_attempts=3)
        stop = asyncio.Event()
        job = asyncio.create_task(Dispatcher(s, metrics=metrics).run(stop))
        try:
            got = await scrape_until(port, {"vitalstream_dispatcher_subscriptions_disabled_total": 1,
                                            "vitalstream_dispatcher_subscriptions_disabled": 1,
                                            "vitalstream_dispatcher_failed_total": 2,  # the dead URL's, given up
                                            'vitalstream_dispatcher_outbox_deliveries{status="pending"}': 0,
                                            'vitalstream_dispatcher_outbox_deliveries{status="delivering"}': 0})
        finally:
            stop.set()
            await asyncio.wait_for(job, 30)
            await server.cleanup()
        (held,), = await (await conn.execute(
            "SELECT count(*) FROM webhook_deliveries WHERE status = 'held' AND subscription_id <> %s", (dead,)
        )).fetchall()
    assert held == 2  # 410: the receiver's events are held, not pending
    assert got['vitalstream_dispatcher_attempts_total{outcome="non_2xx"}'] >= 2  # a 500, then the 410
    assert got['vitalstream_dispatcher_attempts_total{outcome="timeout"}'] >= 1
    assert got['vitalstream_dispatcher_attempts_total{outcome="connection_error"}'] == 6  # 2 events x 3 attempts
    assert got['vitalstream_dispatcher_attempts_total{outcome="2xx"}'] == 0
    assert got["vitalstream_dispatcher_delivered_total"] == 0
    assert got["vitalstream_dispatcher_database_up"] == 1
    assert got["vitalstream_dispatcher_in_flight"] == 0


def test_dispatcher_command_serves_what_the_compose_health_check_reads(database_url):
    """`vitalstream dispatcher --no-engine` with VITALSTREAM_DISPATCHER_METRICS_PORT, as compose runs it."""
    import os
    import signal
    import subprocess
    import sys
    import urllib.request

    from vitalstream.cli import build_parser

    assert build_parser().parse_args(["alert-engine", "--metrics-port", "9103"]).metrics_port == 9103
    port = free_port()
    env = {**os.environ, "VITALSTREAM_DATABASE_URL": database_url, "VITALSTREAM_DISPATCHER_METRICS_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "vitalstream", "dispatcher", "--no-engine"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
                if "vitalstream_dispatcher_database_up 1" in body.splitlines():  # the health check's test
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()  # type: ignore[union-attr]
            time.sleep(0.2)
        parse(body)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
