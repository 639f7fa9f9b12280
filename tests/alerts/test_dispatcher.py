"""The webhook dispatcher against real PostgreSQL and a real aiohttp receiver on loopback."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time

import psycopg
from aiohttp import web

from alerts.dispatcher import Dispatcher
from alerts.subscriptions import add_subscription, list_subscriptions, redeliver
from alerts.verify import verify

from .conftest import alert_settings, open_alerts

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


async def _subscribe(database_url: str, url: str, **kw) -> int:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        return (await add_subscription(conn, url, secret=SECRET, **kw))["id"]


async def _rows(database_url: str, sql: str, *args) -> list[tuple]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        cur = await conn.execute(sql, args)
        return await cur.fetchall() if cur.description else []


class Running:
    """A dispatcher running in the test's event loop until the block ends."""

    def __init__(self, settings):
        self.dispatcher = Dispatcher(settings)
        self.stop = asyncio.Event()

    async def __aenter__(self) -> Dispatcher:
        self.task = asyncio.create_task(self.dispatcher.run(self.stop))
        return self.dispatcher

    async def __aexit__(self, *exc) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 30)


async def _wait_status(database_url: str, status: str, n: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = await _rows(database_url, "SELECT count(*) FROM webhook_deliveries WHERE status = %s", status)
        if rows[0][0] >= n:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {n} deliveries reached {status!r}")


async def test_delivery_is_signed_per_standard_webhooks(settings, database_url, receiver):
    s = alert_settings(settings, database_url)
    await _subscribe(database_url, receiver.url)
    await open_alerts(database_url, 1)
    async with Running(s):
        await receiver.wait_for(1)
    got = receiver.received[0]
    msg_id, stamp, sig = got.headers["webhook-id"], got.headers["webhook-timestamp"], got.headers["webhook-signature"]
    # independent implementation of the Standard Webhooks v1 signature
    key = base64.b64decode(SECRET.split("_", 1)[1])
    want = base64.b64encode(hmac.new(key, f"{msg_id}.{stamp}.".encode() + got.body, hashlib.sha256).digest())
    assert sig == "v1," + want.decode()
    assert msg_id.startswith("msg_") and abs(int(stamp) - time.time()) < 30
    event = json.loads(got.body)
    assert event["type"] == "alert.opened" and event["timestamp"].endswith("Z")
    alert = event["data"]
    assert {"id", "device_id", "kind", "severity", "status", "opened_at", "acknowledged_at", "resolved_at",
            "summary", "evidence"} <= set(alert)
    assert (alert["kind"], alert["severity"], alert["status"]) == ("spo2.low", "high", "open")
    assert verify(got.headers, got.body, SECRET) == event
    await _wait_status(database_url, "delivered", 1)


async def test_receiver_failing_three_times_then_recovering(settings, database_url, receiver):
    async def flaky(n, request):
        return web.Response(status=500 if n < 3 else 200, text="boom" if n < 3 else "ok")

    receiver.behaviour = flaky
    await _subscribe(database_url, receiver.url)
    await open_alerts(database_url, 1)
    async with Running(alert_settings(settings, database_url)):
        await receiver.wait_for(4)
        await _wait_status(database_url, "delivered", 1)
    assert len(set(receiver.ids())) == 1 and len(receiver.received) == 4  # same webhook-id every retry
    attempts = await _rows(database_url, "SELECT attempt, status_code, error, latency_ms FROM webhook_attempts "
                                         "ORDER BY id")
    assert [(a[0], a[1]) for a in attempts] == [(1, 500), (2, 500), (3, 500), (4, 200)]
    assert "boom" in attempts[0][2] and attempts[3][2] is None and all(a[3] > 0 for a in attempts)
    # backoff grows between attempts (base 0.05 s, doubling, jitter 50-100 %)
    gaps = [b.at - a.at for a, b in zip(receiver.received, receiver.received[1:])]
    assert gaps[0] >= 0.025 and gaps[2] >= 0.1


async def test_retry_after_is_honoured(settings, database_url, receiver):
    async def busy(n, request):
        return web.Response(status=503, headers={"Retry-After": "1"}) if n == 0 else web.Response(status=200)

    receiver.behaviour = busy
    await _subscribe(database_url, receiver.url)
    await open_alerts(database_url, 1)
    async with Running(alert_settings(settings, database_url)):
        await receiver.wait_for(2)
    assert receiver.received[1].at - receiver.received[0].at >= 0.95


async def test_410_disables_subscription_and_keeps_events(settings, database_url, receiver):
    gone = True

    async def maybe_gone(n, request):
        return web.Response(status=410 if gone else 200)

    receiver.behaviour = maybe_gone
    sub = await _subscribe(database_url, receiver.url)
    await open_alerts(database_url, 1)
    s = alert_settings(settings, database_url)
    async with Running(s) as d:
        await receiver.wait_for(1)
        await _wait_status(database_url, "held", 1)
        await open_alerts(database_url, 2, prefix="later")  # arrives while disabled: held, not sent
        await asyncio.sleep(0.3)
    assert len(receiver.received) == 1 and d.stats.disabled == 1
    (enabled, reason), = await _rows(database_url, "SELECT enabled, disabled_reason FROM webhook_subscriptions")
    assert not enabled and "410" in reason
    assert (await _rows(database_url, "SELECT count(*) FROM webhook_deliveries WHERE status = 'held'"))[0][0] == 3
    # the receiver is back; an operator re-delivers: every held event, original ids
    gone = False
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        assert await redeliver(conn, sub) == 3
    async with Running(s):
        await receiver.wait_for(4)
        await _wait_status(database_url, "delivered", 3)
    assert receiver.ids()[0] in receiver.ids()[1:]


async def test_hanging_receiver_times_out(settings, database_url, receiver):
    async def hang(n, request):
        await asyncio.sleep(30)
        return web.Response(status=200)

    receiver.behaviour = hang
    await _subscribe(database_url, receiver.url)
    await open_alerts(database_url, 1)
    async with Running(alert_settings(settings, database_url, webhook_timeout_s=0.5, webhook_backoff_base_s=60,
                                        webhook_backoff_max_s=60)):
        await receiver.wait_for(1)
        deadline = time.monotonic() + 10
        while not await _rows(database_url, "SELECT 1 FROM webhook_attempts"):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    (code, error, latency), = await _rows(database_url, "SELECT status_code, error, latency_ms FROM webhook_attempts")
    assert code is None and "timeout" in error and 450 <= latency < 3000
    (status, nxt), = await _rows(database_url, "SELECT status, next_attempt_at > now() + interval '20 s' "
                                               "FROM webhook_deliveries")
    assert status == "pending" and nxt  # retried later, after the backoff


async def test_subscription_failing_too_long_is_disabled(settings, database_url, receiver):
    async def broken(n, request):
        return web.Response(status=500)

    receiver.behaviour = broken
    await _subscribe(database_url, receiver.url)
    await open_alerts(database_url, 1)
    async with Running(alert_settings(settings, database_url, webhook_disable_after_s=0.4)):
        await _wait_status(database_url, "held", 1, timeout=10)
    (enabled, reason), = await _rows(database_url, "SELECT enabled, disabled_reason FROM webhook_subscriptions")
    assert not enabled and "failing" in reason and len(receiver.received) >= 2


async def test_gives_up_after_max_attempts(settings, database_url, receiver):
    async def broken(n, request):
        return web.Response(status=400)

    receiver.behaviour = broken
    await _subscribe(database_url, receiver.url)
    await open_alerts(database_url, 1)
    async with Running(alert_settings(settings, database_url, webhook_max_attempts=3)):
        await _wait_status(database_url, "failed", 1)
    assert len(receiver.received) == 3
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        [sub] = await list_subscriptions(conn)
    assert sub["enabled"] and sub["deliveries"] == {"failed": 1} and sub["secret"].startswith("whsec_…")


async def test_filters_and_event_types(settings, database_url, receiver):
    await _subscribe(database_url, receiver.url, device_ids=["dev-0001"])
    await _subscribe(database_url, receiver.url, event_types=["alert.resolved"])
    await open_alerts(database_url, 3)
    async with Running(alert_settings(settings, database_url)):
        await receiver.wait_for(1)
        await asyncio.sleep(0.3)
    assert [json.loads(r.body)["data"]["device_id"] for r in receiver.received] == ["dev-0001"]


async def test_two_dispatchers_never_deliver_one_event_twice(settings, database_url, receiver):
    async def slowish(n, request):
        await asyncio.sleep(0.005)
        return web.Response(status=200)

    receiver.behaviour = slowish
    await _subscribe(database_url, receiver.url)
    await open_alerts(database_url, 300)
    s = alert_settings(settings, database_url, webhook_batch=10, webhook_concurrency=8)
    async with Running(s) as a, Running(s) as b:
        await receiver.wait_for(300)
        await _wait_status(database_url, "delivered", 300)
    assert len(receiver.ids()) == len(set(receiver.ids())) == 300
    assert a.stats.delivered > 0 and b.stats.delivered > 0 and a.stats.delivered + b.stats.delivered == 300


async def test_dispatcher_survives_database_connections_cut(settings, database_url, receiver):
    await _subscribe(database_url, receiver.url)
    await open_alerts(database_url, 1)
    async with Running(alert_settings(settings, database_url)):
        await receiver.wait_for(1)
        await _rows(database_url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        await open_alerts(database_url, 3, prefix="after")
        await receiver.wait_for(4)
        await _wait_status(database_url, "delivered", 4)
    assert len(set(receiver.ids())) == 4


async def test_ward_filter_uses_the_device_assignment(settings, database_url, receiver):
    await _rows(database_url, "INSERT INTO devices (device_id) VALUES ('dev-0000'), ('dev-0001')")
    await _rows(database_url, "INSERT INTO patients (id, name, ward) VALUES (1, 'A', 'ICU'), (2, 'B', 'W5')")
    await _rows(database_url, "INSERT INTO device_assignments (device_id, patient_id, ward) VALUES "
                              "('dev-0000', 1, NULL), ('dev-0001', 2, 'W5')")
    await _subscribe(database_url, receiver.url, wards=["ICU"])
    await open_alerts(database_url, 2)
    async with Running(alert_settings(settings, database_url)):
        await receiver.wait_for(1)
        await asyncio.sleep(0.3)
    assert [json.loads(r.body)["data"]["device_id"] for r in receiver.received] == ["dev-0000"]


async def test_private_targets_refused_at_connect_time(settings, database_url, receiver):
    # subscribed while private targets were allowed; production settings now refuse them,
    # for an IP literal and for a name that resolves to loopback
    await _subscribe(database_url, receiver.url)
    await _subscribe(database_url, receiver.url.replace("127.0.0.1", "localhost"))
    await open_alerts(database_url, 1)
    async with Running(alert_settings(settings, database_url, allow_private_urls=False, webhook_backoff_base_s=60,
                                      webhook_backoff_max_s=60)):
        deadline = time.monotonic() + 10
        while len(await _rows(database_url, "SELECT 1 FROM webhook_attempts")) < 2:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    errors = [r[0] for r in await _rows(database_url, "SELECT error FROM webhook_attempts ORDER BY delivery_id")]
    assert all("non-public" in e for e in errors), errors
    assert receiver.received == []
