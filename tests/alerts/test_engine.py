"""The alert engine through real Kafka (tansu) and PostgreSQL, plus the API-facing functions."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace

import psycopg
import pytest
from aiokafka import AIOKafkaProducer

from alerts.dispatcher import Dispatcher
from alerts.engine import (AlertConflict, AlertEngine, AlertNotFound, acknowledge, get_alert, list_alerts, resolve,
                           wall_ms)
from alerts.model import PolicyConfig
from alerts.queries import QueryError
from alerts.subscriptions import add_subscription
from detectors.candidate import AlertCandidate

from .conftest import alert_settings

CFG = PolicyConfig(resolve_after_ms=60_000, min_open_ms=0, reopen_cooldown_ms=300_000,
                   escalate_after_ms={"high": 120_000, "medium": None, "low": None}, max_escalations=2)


def _settings(settings, database_url, topic_prefix, **kw):
    s = alert_settings(settings, database_url, **kw)
    return replace(s, core=replace(s.core, topic_prefix=topic_prefix))


async def _produce(s, candidates):
    producer = AIOKafkaProducer(bootstrap_servers=s.core.kafka_bootstrap)
    await producer.start()
    try:
        for c in candidates:
            await producer.send(f"{s.core.topic_prefix}alert.candidates", c.to_json(), key=c.device_id.encode())
        await producer.flush()
    finally:
        await producer.stop()


async def _consume_until(engine: AlertEngine, n: int, timeout: float = 30) -> None:
    """Drive the engine's own loop pieces until it has applied n candidates."""
    deadline = time.monotonic() + timeout
    while engine.stats.candidates + engine.stats.skipped_replayed < n:
        assert time.monotonic() < deadline, f"engine saw {engine.stats.candidates} of {n} candidates"
        batch = await engine._consumer.getmany(timeout_ms=200)
        if batch:
            await engine.process(batch)
            await engine._consumer.commit({tp: recs[-1].offset + 1 for tp, recs in batch.items()})


def cand(device, kind, t, active=True, severity="high", vitals=("spo2",), **ev):
    return AlertCandidate(device, kind, severity, T0 + t, active, f"{kind} {t}", ev or {"t": t}, vitals, "rules")


T0 = int(time.time() * 1000) - 3_600_000  # devices whose clock is an hour behind the wall (or an hour late)


async def _q(database_url, sql, *args):
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        return await (await conn.execute(sql, args)).fetchall()


async def test_engine_lifecycle_through_kafka(settings, database_url, topic_prefix):
    s = _settings(settings, database_url, topic_prefix)
    await _produce(s, [
        cand("dev-a", "spo2.low", 0, spo2=89), cand("dev-a", "spo2.low", 1000, spo2=88),
        cand("dev-a", "spo2.low", 2000, spo2=87),  # dedup: one alert, evidence updated
        cand("dev-b", "signal.lost", 0, severity="medium", vitals=()),
        cand("dev-b", "spo2.low", 500),  # suppressed during signal loss
        cand("dev-c", "hr.high", 0, severity="medium", vitals=("hr",)),
        cand("dev-c", "hr.high", 10_000, active=False, vitals=("hr",)),  # clears: auto-resolve after 60 s
    ])
    async with AlertEngine(s, config=CFG, group=f"{topic_prefix}engine") as engine:
        await _consume_until(engine, 7)
        assert engine.stats.actions["suppress"] == 1
        rows = await _q(database_url, "SELECT device_id, kind, status, candidate_count, evidence FROM alerts "
                                      "ORDER BY device_id, kind")
        assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
            ("dev-a", "spo2.low", "open", 3), ("dev-b", "signal.lost", "open", 1), ("dev-c", "hr.high", "open", 1)]
        assert rows[0][4] == {"spo2": 87}
        # timers: dev-c resolves 60 s after clearing; dev-a (high, unacknowledged) escalates at +2 and +4 min
        # (the devices' clock is an hour behind the wall: ten minutes later on theirs)
        acts = await engine.tick(wall_ms() + 10 * 60_000)
        assert sorted((a.device_id, a.action) for a in acts) == [
            ("dev-a", "escalate"), ("dev-a", "escalate"), ("dev-c", "resolve")]
        assert await engine.tick(wall_ms() + 10 * 60_000) == []  # nothing due twice
    events = await _q(database_url, "SELECT type, device_id FROM webhook_events ORDER BY type, device_id")
    assert events == sorted([("alert.opened", "dev-a"), ("alert.opened", "dev-b"), ("alert.opened", "dev-c"),
                      ("alert.escalated", "dev-a"), ("alert.escalated", "dev-a"), ("alert.resolved", "dev-c")])
    (level, at), = await _q(database_url, "SELECT escalation_level, escalated_at FROM alerts WHERE device_id='dev-a'")
    assert level == 2 and int(at.timestamp() * 1000) == T0 + 4 * 60_000
    history = await _q(database_url, "SELECT action FROM alert_events e JOIN alerts a ON a.id = e.alert_id "
                                     "WHERE a.device_id = 'dev-a' ORDER BY e.id")
    assert [h[0] for h in history] == ["open", "escalate", "escalate"]  # repeats: counted, not history


async def test_engine_restart_resumes_from_stored_offsets(settings, database_url, topic_prefix):
    s = _settings(settings, database_url, topic_prefix)
    group = f"{topic_prefix}engine"
    await _produce(s, [cand("dev-r", "spo2.low", i * 1000) for i in range(5)])
    async with AlertEngine(s, config=CFG, group=group) as engine:
        # A crash after the database commit but before Kafka's: process, never commit to Kafka.
        deadline = time.monotonic() + 30
        while engine.stats.candidates < 5:
            assert time.monotonic() < deadline
            batch = await engine._consumer.getmany(timeout_ms=200)
            if batch:
                await engine.process(batch)
    await _produce(s, [cand("dev-r", "spo2.low", 9000)])
    async with AlertEngine(s, config=CFG, group=group) as engine:
        await _consume_until(engine, 1)
        for _ in range(3):  # anything replayed would show up here
            batch = await engine._consumer.getmany(timeout_ms=300)
            if batch:
                await engine.process(batch)
        assert engine.stats.candidates == 1  # the five old ones were not applied again
    (count,), = await _q(database_url, "SELECT candidate_count FROM alerts")
    assert count == 6


async def test_ack_resolve_semantics_and_queries(settings, database_url, topic_prefix):
    s = _settings(settings, database_url, topic_prefix)
    await _produce(s, [cand("dev-q", "spo2.low", 0), cand("dev-q", "hr.high", 1, vitals=("hr",)),
                       cand("dev-z", "rr.high", 2, vitals=("rr",))])
    async with AlertEngine(s, config=CFG, group=f"{topic_prefix}engine") as engine:
        await _consume_until(engine, 3)
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            alerts, cursor = await list_alerts(conn, status="open", limit=2)
            assert len(alerts) == 2 and cursor
            more, end = await list_alerts(conn, status="open", limit=2, cursor=cursor)
            assert len(more) == 1 and end is None
            assert {a["id"] for a in alerts + more} == {r[0] for r in await _q(database_url, "SELECT id FROM alerts")}
            [spo2] = (await list_alerts(conn, device_id="dev-q", status=["open"], since=T0, until=T0 + 1))[0]
            assert spo2["kind"] == "spo2.low"
            with pytest.raises(QueryError) as bad:
                await list_alerts(conn, status="nope")
            assert bad.value.param == "status"

            acked = await acknowledge(conn, spo2["id"], "nurse.jo")
            assert acked["status"] == "acknowledged" and acked["acknowledged_by"] == "nurse.jo"
            assert (await acknowledge(conn, spo2["id"], "nurse.jo"))["acknowledged_at"] == acked["acknowledged_at"]
            # acknowledged: no escalation any more, even though high alerts escalate every 2 min
            acts = await engine.tick(wall_ms() + 30 * 60_000)
            assert ("dev-q", "spo2.low") not in {(a.device_id, a.kind) for a in acts if a.action == "escalate"}
            done = await resolve(conn, spo2["id"], "dr.lee")
            assert done["status"] == "resolved" and done["resolved_by"] == "dr.lee"
            assert (await resolve(conn, spo2["id"], "dr.lee"))["resolved_at"] == done["resolved_at"]  # idempotent
            with pytest.raises(AlertConflict):
                await acknowledge(conn, spo2["id"], "nurse.jo")
            with pytest.raises(AlertNotFound):
                await acknowledge(conn, 999_999, "nurse.jo")
            full = await get_alert(conn, spo2["id"], history=True)
            assert [h["action"] for h in full["history"]] == ["open", "acknowledge", "resolve"]
    types = [r[0] for r in await _q(database_url, "SELECT type FROM webhook_events WHERE alert_id = %s ORDER BY id",
                                    spo2["id"])]
    assert types == ["alert.opened", "alert.acknowledged", "alert.resolved"]
    audit = await _q(database_url, "SELECT actor, action, target FROM audit_log ORDER BY id")
    target = f"alert:{spo2['id']}"
    assert audit == [("nurse.jo", "alert.ack", target), ("dr.lee", "alert.resolve", target)]


async def test_candidate_on_kafka_to_signed_webhook(settings, database_url, topic_prefix, receiver):
    """End to end: candidate on Kafka → engine → outbox → dispatcher → receiver."""
    s = _settings(settings, database_url, topic_prefix, engine_tick_s=0.2)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await add_subscription(conn, receiver.url)
    stop = asyncio.Event()
    async with AlertEngine(s, config=CFG, group=f"{topic_prefix}engine") as engine:
        tasks = [asyncio.create_task(engine.run(stop)), asyncio.create_task(Dispatcher(s).run(stop))]
        await _produce(s, [cand("dev-e2e", "news2.high", int(time.time() * 1000) - T0, vitals=())])
        await receiver.wait_for(1, timeout=30)
        stop.set()
        await asyncio.gather(*tasks)
    body = json.loads(receiver.received[0].body)
    assert body["type"] == "alert.opened" and body["data"]["device_id"] == "dev-e2e"


async def test_engine_survives_database_connections_cut(settings, database_url, topic_prefix):
    s = _settings(settings, database_url, topic_prefix, engine_tick_s=0.2)
    stop = asyncio.Event()
    async with AlertEngine(s, config=CFG, group=f"{topic_prefix}engine") as engine:
        task = asyncio.create_task(engine.run(stop))
        await _produce(s, [cand("dev-x", "spo2.low", 0)])
        deadline = time.monotonic() + 30
        while not await _q(database_url, "SELECT 1 FROM alerts"):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        await _q(database_url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        await _produce(s, [cand("dev-y", "spo2.low", 0), cand("dev-x", "spo2.low", 1000)])
        cut = time.monotonic()
        deadline = cut + 60
        while engine.stats.candidates < 3:
            assert time.monotonic() < deadline and not task.done()
            await asyncio.sleep(0.1)
        print(f"recovered after {time.monotonic() - cut:.1f} s")
        stop.set()
        await task
    rows = await _q(database_url, "SELECT device_id, candidate_count FROM alerts ORDER BY device_id")
    assert rows == [("dev-x", 2), ("dev-y", 1)]


async def test_poisoned_candidate_is_dead_lettered_and_the_rest_alert(settings, database_url, topic_prefix,
                                                                      receiver):
    """A candidate whose data the database refuses (a NUL in jsonb / in text) must not stop the
    engine: the good candidates of the same batch become alerts and webhooks, the bad ones go
    to alert_dead_letters with their key, and later candidates are still applied."""
    s = _settings(settings, database_url, topic_prefix, engine_tick_s=0.2)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await add_subscription(conn, receiver.url)
    good = [cand("dev-ok1", "spo2.low", 0, severity="medium"), cand("dev-ok2", "hr.high", 1, severity="medium")]
    poison = [
        cand("dev-bad", "spo2.low", 2, severity="medium", note="\u0000"),  # jsonb refuses \u0000 (SQLSTATE 22P05)
        replace(cand("dev-nul", "rr.low", 3, severity="medium"), summary="RR 7\x00"),  # text refuses NUL
    ]
    later = cand("dev-bad", "spo2.low", 4, severity="medium", spo2=86)  # the same device, clean data
    stop = asyncio.Event()
    async with AlertEngine(s, config=CFG, group=f"{topic_prefix}engine") as engine:
        tasks = [asyncio.create_task(engine.run(stop)), asyncio.create_task(Dispatcher(s).run(stop))]
        await _produce(s, [good[0], poison[0], good[1], poison[1], later])
        await receiver.wait_for(3, timeout=30)
        after = cand("dev-ok3", "temp.high", 5, severity="medium", vitals=("temp",))
        await _produce(s, [after])
        await receiver.wait_for(4, timeout=30)
        assert not any(t.done() for t in tasks), "the engine or dispatcher stopped"
        assert engine.stats.dead_lettered == 2 and engine.metrics.engine_errors["dead_lettered"] == 2
        assert engine.stats.candidates == 4
        stop.set()
        await asyncio.gather(*tasks)
    opened = sorted(json.loads(r.body)["data"]["device_id"] for r in receiver.received)
    assert opened == ["dev-bad", "dev-ok1", "dev-ok2", "dev-ok3"]
    assert all(json.loads(r.body)["type"] == "alert.opened" for r in receiver.received)
    rows = await _q(database_url, "SELECT device_id, kind, evidence FROM alerts ORDER BY device_id")
    assert [(d, k) for d, k, _ in rows] == [("dev-bad", "spo2.low"), ("dev-ok1", "spo2.low"),
                                            ("dev-ok2", "hr.high"), ("dev-ok3", "temp.high")]
    assert rows[0][2] == {"spo2": 86}
    dead = await _q(database_url, 'SELECT device_id, kind, reason, "offset", sqlstate, error, value '
                                  'FROM alert_dead_letters ORDER BY "offset"')
    assert [(d, k, r) for d, k, r, *_ in dead] == [("dev-bad", "spo2.low", "apply_failed"),
                                                   ("dev-nul", "rr.low", "apply_failed")]
    assert dead[0][4] == "22P05" and "UntranslatableCharacter" in dead[0][5]  # a data exception, server side
    assert "DataError" in dead[1][5] and "NUL" in dead[1][5]  # refused by psycopg before it is sent
    assert AlertCandidate.from_json(bytes(dead[0][6])) == poison[0]  # kept as consumed, for a replay


async def test_undecodable_record_is_dead_lettered(settings, database_url, topic_prefix):
    s = _settings(settings, database_url, topic_prefix)
    producer = AIOKafkaProducer(bootstrap_servers=s.core.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send(f"{topic_prefix}alert.candidates", b"{not json", key=b"dev-j")
        await producer.flush()
    finally:
        await producer.stop()
    await _produce(s, [cand("dev-j", "spo2.low", 0)])
    async with AlertEngine(s, config=CFG, group=f"{topic_prefix}engine") as engine:
        await _consume_until(engine, 1)
        assert engine.stats.bad_records == 1
    assert await _q(database_url, "SELECT reason, device_id, value FROM alert_dead_letters") == [
        ("undecodable", None, b"{not json")]


async def test_a_device_whose_timers_fail_does_not_block_the_others(settings, database_url, topic_prefix):
    s = _settings(settings, database_url, topic_prefix)
    await _produce(s, [cand("dev-t1", "spo2.low", 0), cand("dev-t2", "spo2.low", 0)])
    async with AlertEngine(s, config=CFG, group=f"{topic_prefix}engine") as engine:
        await _consume_until(engine, 2)
        # Poison dev-t1's timers: its alert row is gone, so its escalation cannot be written.
        await _q(database_url, "DELETE FROM alerts WHERE device_id = 'dev-t1' RETURNING id")
        now = wall_ms() + 10 * 60_000
        acts = await engine.tick(now)
        assert sorted((a.device_id, a.action) for a in acts) == [("dev-t2", "escalate"), ("dev-t2", "escalate")]
        assert engine.metrics.engine_errors["timer_failed"] == 1
        (due,), = await _q(database_url, "SELECT next_due_ms FROM alert_policy_state WHERE device_id = 'dev-t1'")
        assert due == now + 60_000
        assert await engine.tick(now) == []  # put off, not retried in a loop
    events = await _q(database_url, "SELECT type, device_id FROM webhook_events WHERE type = 'alert.escalated'")
    assert events == [("alert.escalated", "dev-t2"), ("alert.escalated", "dev-t2")]


async def test_timers_run_on_each_devices_clock(settings, database_url, topic_prefix):
    """The policy's time is the candidates' (device) clock; the tick's is the wall. A device an
    hour behind must not have its timers fire the moment the tick sees them (an auto-resolve
    before its later candidates arrive hides a condition that came back); a device ahead must
    not escalate late. Timers run at wall - (the device's offset at its latest candidate)."""
    s = _settings(settings, database_url, topic_prefix)
    slow = wall_ms() - 3_600_000  # an hour behind
    fast = wall_ms() + 600_000  # ten minutes ahead
    await _produce(s, [
        AlertCandidate("dev-slow", "spo2.low", "high", slow, True, "SpO2 87 %", {}, ("spo2",), "rules"),
        AlertCandidate("dev-slow", "hr.high", "medium", slow, True, "HR 131", {}, ("hr",), "rules"),
        AlertCandidate("dev-slow", "hr.high", "medium", slow + 1_000, False, "HR 100", {}, ("hr",), "rules"),
        AlertCandidate("dev-fast", "spo2.low", "high", fast, True, "SpO2 86 %", {}, ("spo2",), "rules"),
    ])
    async with AlertEngine(s, config=CFG, group=f"{topic_prefix}engine") as engine:
        await _consume_until(engine, 4)
        wall = wall_ms()
        # On dev-slow's clock it is only `slow` now: nothing is due, although every deadline
        # (resolve at slow+61 s, escalations at slow+2 min, +4 min) is long past on the wall.
        assert await engine.tick(wall) == []
        # The condition comes back 30 s later on the device's clock, within the quiet period.
        await _produce(s, [AlertCandidate("dev-slow", "hr.high", "medium", slow + 30_000, True, "HR 133", {},
                                          ("hr",), "rules")])
        await _consume_until(engine, 5)
        wall = wall_ms()
        assert await engine.tick(wall + 75_000) == []  # dev-slow at ~slow+105 s, dev-fast at ~fast+75 s
        acts = await engine.tick(wall + 135_000)
        assert sorted((a.device_id, a.kind, a.action, a.ts_ms) for a in acts) == [
            ("dev-fast", "spo2.low", "escalate", fast + 120_000),  # on time, not ten minutes late
            ("dev-slow", "spo2.low", "escalate", slow + 120_000)]  # stamped on the device's clock
    rows = await _q(database_url, "SELECT device_id, kind, status, candidate_count FROM alerts ORDER BY 1, 2")
    assert rows == [("dev-fast", "spo2.low", "open", 1), ("dev-slow", "hr.high", "open", 2),
                    ("dev-slow", "spo2.low", "open", 1)]
    assert await _q(database_url, "SELECT 1 FROM alert_events WHERE action = 'resolve'") == []


async def test_acknowledge_is_stamped_on_the_devices_clock(settings, database_url, topic_prefix):
    s = _settings(settings, database_url, topic_prefix)
    ahead = wall_ms() + 600_000  # a device clock ten minutes ahead opened the alert
    await _produce(s, [AlertCandidate("dev-ahead", "spo2.low", "high", ahead, True, "SpO2 86 %", {}, ("spo2",),
                                      "rules")])
    async with AlertEngine(s, config=CFG, group=f"{topic_prefix}engine") as engine:
        await _consume_until(engine, 1)
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            [alert], _ = await list_alerts(conn, device_id="dev-ahead")
            acked = await acknowledge(conn, alert["id"], "nurse.jo")
    assert acked["acknowledged_at"] >= acked["opened_at"]  # RFC 3339 UTC strings sort as times
