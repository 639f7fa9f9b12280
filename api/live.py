"""The live feed hub: one poller per API process, fanning out to WebSocket clients.

Every `poll_s` (only while someone listens) it finds the devices whose newest stored
sample moved on (devices.last_seen_at), reads that newest sample (downsampled: at most one
sample per device per tick) and every new alert event, then sends each client what
matches its subscription (devices, patients, wards, or everything). Polling the database keeps the API independent of
Kafka and makes every API replica see the same data.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from . import vitals_query
from .db import fetch_all
from .errors import dumps
from .ward import news2_of

log = logging.getLogger(__name__)

# Alert event ids commit out of order under concurrency: re-read a few past ids each tick
# and drop what was already sent.
EVENT_ID_SLACK = 500
EVENT_PAGE = 2000  # alert events read per query
EVENT_PAGES_PER_TICK = 10  # then the fan-out runs, and the next tick follows at once
_EVENTS_SQL = (
    "SELECT e.id, e.alert_id, e.at, e.action, e.reason, e.actor, e.severity, e.summary, "
    "al.device_id, al.kind, al.status, al.severity AS alert_severity, al.opened_at "
    "FROM alert_events e JOIN alerts al ON al.id = e.alert_id WHERE e.id > %s AND e.id <= %s ORDER BY e.id LIMIT %s"
)
_MAX_ID = (1 << 63) - 1
RECENT_WINDOW = timedelta(minutes=5)  # the live feed is about devices heard from in the last minutes
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SEND_TIMEOUT_S = 2.0


@dataclass(eq=False)
class Client:
    ws: web.WebSocketResponse
    alerts_allowed: bool
    everything: bool = False
    devices: set[str] = field(default_factory=set)
    patients: set[int] = field(default_factory=set)
    wards: set[str] = field(default_factory=set)

    def wants(self, device_id: str, where: dict[str, Any] | None) -> bool:
        if self.everything or device_id in self.devices:
            return True
        return where is not None and (where["patient_id"] in self.patients or where["ward"] in self.wards)


class LiveHub:
    def __init__(self, pool: AsyncConnectionPool, poll_s: float):
        self._pool = pool
        self._poll_s = poll_s
        self._clients: set[Client] = set()
        self._task: asyncio.Task | None = None
        self._closing: set[asyncio.Future] = set()
        self._baseline_pending = True
        self._seen: dict[str, datetime] = {}  # device -> last_seen_at already sent (or baselined)
        self._event_after = 0
        self._events_sent: set[int] = set()  # ids sent that a later read may still return (within the slack)
        self.ticks = 0

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def add(self, client: Client) -> None:
        self._clients.add(client)

    def remove(self, client: Client) -> None:
        self._clients.discard(client)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="live-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        closes = [client.ws.close(code=1001, message=b"server shutting down") for client in list(self._clients)]
        if closes:
            await asyncio.wait([asyncio.ensure_future(c) for c in closes], timeout=SEND_TIMEOUT_S)

    async def _run(self) -> None:
        while True:
            behind = False
            try:
                if self._clients:
                    behind = await self.tick()
                else:
                    self._baseline_pending = True  # nobody listening: start fresh when someone comes
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup must not end the feed; the next tick retries
                log.exception("live feed poll failed")
            await asyncio.sleep(0 if behind else self._poll_s)

    async def tick(self) -> bool:
        """One poll; True when alert events are still waiting (more than a tick's pages came
        in), so the caller polls again at once: every event is sent, in id order, once."""
        self.ticks += 1
        async with self._pool.connection() as conn:
            head = (await fetch_all(
                conn, "SELECT now() AS now, COALESCE(max(id), 0) AS max_event FROM alert_events"))[0]
            # devices.last_seen_at is the newest stored sample's ts, upserted in the same transaction
            # as the samples (storage.sink): a cheap, commit-order-safe "what changed" index.
            seen = await fetch_all(
                conn, "SELECT device_id, last_seen_at FROM devices WHERE last_seen_at > %s",
                (head["now"] - RECENT_WINDOW,))
            if self._baseline_pending:  # first tick: the current state is the baseline, not news
                self._baseline_pending = False
                self._seen = {r["device_id"]: r["last_seen_at"] for r in seen}
                self._event_after = head["max_event"]
                # The first reads go back EVENT_ID_SLACK ids: what is already there is not news either.
                self._events_sent = {r["id"] for r in await fetch_all(
                    conn, "SELECT id FROM alert_events WHERE id > %s", (self._event_after - EVENT_ID_SLACK,))}
                return False
            changed = [r["device_id"] for r in seen if r["last_seen_at"] > self._seen.get(r["device_id"], _EPOCH)]
            samples = list((await vitals_query.latest(conn, changed)).values()) if changed else []
            events, caught_up = await self._new_events(conn)
            where = {r["device_id"]: r for r in await fetch_all(
                conn, "SELECT device_id, patient_id, ward, bed FROM device_assignments WHERE unassigned_at IS NULL")}
        for r in seen:
            self._seen[r["device_id"]] = max(r["last_seen_at"], self._seen.get(r["device_id"], _EPOCH))
        last = events[-1]["id"] if events else self._event_after
        # Caught up: everything up to the head was read. Not yet: continue after the last row
        # read, never jump to the head (that skipped whatever lay beyond one page).
        self._event_after = max(self._event_after, last, head["max_event"] if caught_up else 0)
        messages = self._vitals_messages(samples, where) + self._event_messages(events, where)
        floor = self._event_after - EVENT_ID_SLACK  # ids at or below it are never read again
        self._events_sent = {i for i in self._events_sent if i > floor}
        if messages:
            await self._fan_out(messages, where)
        return not caught_up

    async def _new_events(self, conn: Any) -> tuple[list[dict], bool]:
        """Alert events not sent yet, in id order: the last EVENT_ID_SLACK ids again (late
        commits), then page by page (keyset on id) after the last one read, at most
        EVENT_PAGES_PER_TICK pages; and whether that reached the end."""
        out = await fetch_all(conn, _EVENTS_SQL, (max(0, self._event_after - EVENT_ID_SLACK), self._event_after,
                                                  EVENT_ID_SLACK))
        after = self._event_after
        for _ in range(EVENT_PAGES_PER_TICK):
            page = await fetch_all(conn, _EVENTS_SQL, (after, _MAX_ID, EVENT_PAGE))
            out += page
            if len(page) < EVENT_PAGE:
                return out, True
            after = page[-1]["id"]
        return out, False

    def _vitals_messages(self, samples: list[dict], where: dict[str, dict]) -> list[tuple[str, str, bool]]:
        out = []
        for s in samples:
            loc = where.get(s["device_id"])
            doc = {"type": "vitals", "device_id": s["device_id"], "patient_id": loc and loc["patient_id"],
                   "sample": s, "news2": news2_of(s)}
            out.append((s["device_id"], dumps(doc), False))
        return out

    def _event_messages(self, events: list[dict], where: dict[str, dict]) -> list[tuple[str, str, bool]]:
        out = []
        for e in events:
            if e["id"] in self._events_sent:
                continue
            self._events_sent.add(e["id"])
            loc = where.get(e["device_id"])
            alert = {"id": e["alert_id"], "device_id": e["device_id"], "kind": e["kind"], "status": e["status"],
                     "severity": e["alert_severity"], "summary": e["summary"], "opened_at": e["opened_at"]}
            doc = {"type": "alert", "event_id": e["id"], "action": e["action"], "at": e["at"], "actor": e["actor"],
                   "patient_id": loc and loc["patient_id"], "alert": alert}
            out.append((e["device_id"], dumps(doc), True))
        return out

    async def _fan_out(self, messages: list[tuple[str, str, bool]], where: dict[str, dict]) -> None:
        for client in list(self._clients):
            for device_id, text, is_alert in messages:
                if is_alert and not client.alerts_allowed:
                    continue
                if not client.wants(device_id, where.get(device_id)):
                    continue
                try:
                    # A client that cannot keep up must not stall everyone else's feed.
                    await asyncio.wait_for(client.ws.send_str(text), SEND_TIMEOUT_S)
                except (ConnectionError, RuntimeError, TimeoutError):  # gone or stuck: drop it
                    self.remove(client)
                    if not client.ws.closed:
                        task = asyncio.ensure_future(client.ws.close(code=1013, message=b"too slow"))
                        self._closing.add(task)  # keep a reference until it is done
                        task.add_done_callback(self._closing.discard)
                    break
