"""Fixtures for the alert tests: a real aiohttp webhook receiver on loopback, settings."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

import psycopg
import pytest
from aiohttp import web

from alerts.model import PolicyConfig
from alerts.policy import AlertPolicy
from alerts.store import write_actions
from detectors.candidate import AlertCandidate
from vitalstream.config import Settings

Behaviour = Callable[[int, web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    url: str
    received: list[Received] = field(default_factory=list)
    behaviour: Behaviour | None = None  # (n-th request, request) -> response; default 204
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def ids(self) -> list[str]:
        return [r.headers["webhook-id"] for r in self.received]

    async def wait_for(self, n: int, timeout: float = 20.0) -> None:
        async def until() -> None:
            while len(self.received) < n:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(until(), timeout)


@pytest.fixture
async def receiver():
    box: dict[str, Receiver] = {}

    async def handle(request: web.Request) -> web.StreamResponse:
        rec = box["r"]
        body = await request.read()
        n = len(rec.received)
        rec.received.append(Received(dict(request.headers), body, asyncio.get_running_loop().time()))
        rec.arrived.set()
        if rec.behaviour is not None:
            return await rec.behaviour(n, request)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    box["r"] = Receiver(f"http://127.0.0.1:{port}/hook")
    yield box["r"]
    await runner.cleanup()


def alert_settings(settings: Settings, database_url: str, **overrides) -> Settings:
    """Settings on this test's database with fast webhook timings (overridable)."""
    fast = dict(webhook_timeout_s=2.0, webhook_backoff_base_s=0.05, webhook_backoff_max_s=0.2,
                webhook_poll_s=0.05, webhook_lease_s=5.0, allow_private_urls=True)
    fast.update(overrides)
    core = replace(settings.core, database_url=database_url)
    return replace(settings, core=core, alerts=replace(settings.alerts, **fast))


async def open_alerts(database_url: str, n: int, *, start_ms: int = 1_795_000_000_000, prefix: str = "dev") -> None:
    """Open `n` alerts (one per device) through the real policy + store: n alert.opened events."""
    policy = AlertPolicy(PolicyConfig())
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        async with conn.transaction():
            for i in range(n):
                c = AlertCandidate(f"{prefix}-{i:04d}", "spo2.low", "high", start_ms + i, True,
                                   f"SpO2 88 % on {prefix}-{i:04d}", {"spo2": 88, "i": i}, ("spo2",), "rules")
                await write_actions(conn, policy.feed(c), {})
