"""`vitalstream dispatcher`, `vitalstream alert-engine`, `vitalstream webhooks ...`.

`vitalstream dispatcher` runs the webhook dispatcher AND the alert engine in one process
(the engine is a Kafka consumer group, so running several dispatchers also splits the
engine's partitions); `--no-engine` runs delivery only, and `vitalstream alert-engine`
runs the engine alone. Both need the schema (`vitalstream migrate`). With
`VITALSTREAM_DISPATCHER_METRICS_PORT` (or `--metrics-port`) set, either serves Prometheus
metrics on GET /metrics (alerts.metrics).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from vitalstream.config import Settings

if TYPE_CHECKING:
    import asyncio

    from .metrics import AlertMetrics


def register(subparsers: argparse._SubParsersAction) -> None:
    disp = subparsers.add_parser("dispatcher", help="alert webhook delivery (and, by default, the alert engine)")
    disp.add_argument("--no-engine", action="store_true", help="deliver webhooks only; run no alert engine here")
    disp.set_defaults(func=run_dispatcher_command)

    eng = subparsers.add_parser("alert-engine", help="alert candidates → alerts + webhook outbox (no delivery)")
    eng.set_defaults(func=run_engine_command)
    for p in (disp, eng):
        p.add_argument("--metrics-port", type=int, metavar="PORT",
                       help="Prometheus /metrics port, 0 = off (env VITALSTREAM_DISPATCHER_METRICS_PORT)")

    hooks = subparsers.add_parser("webhooks", help="webhook subscriptions: add, list, delete, redeliver")
    sub = hooks.add_subparsers(dest="webhooks_command", metavar="ACTION")
    sub.required = True
    add = sub.add_parser("add", help="subscribe a URL; prints the subscription with its secret")
    add.add_argument("url")
    add.add_argument("--secret", help="whsec_… (default: a new random one)")
    add.add_argument("--event-type", action="append", dest="event_types", metavar="TYPE",
                     help="alert.opened|alert.escalated|alert.acknowledged|alert.resolved (repeatable; default all)")
    add.add_argument("--device", action="append", dest="device_ids", metavar="ID", help="only these devices")
    add.add_argument("--ward", action="append", dest="wards", metavar="WARD", help="only these wards")
    add.add_argument("--description")
    add.set_defaults(func=run_webhooks_command)
    sub.add_parser("list", help="subscriptions with delivery counts").set_defaults(func=run_webhooks_command)
    delete = sub.add_parser("delete", help="remove a subscription and its deliveries")
    delete.add_argument("id", type=int)
    delete.set_defaults(func=run_webhooks_command)
    again = sub.add_parser("redeliver", help="re-enable a subscription and re-send its held/failed events")
    again.add_argument("id", type=int)
    again.add_argument("--since", type=datetime.fromisoformat, help="only events created since (ISO 8601 with zone)")
    again.set_defaults(func=run_webhooks_command)


def _need(settings: Settings, kafka: bool, command: str) -> bool:
    missing = [name for name, value in (("VITALSTREAM_DATABASE_URL", settings.core.database_url),
                                        ("VITALSTREAM_KAFKA_BOOTSTRAP", settings.core.kafka_bootstrap if kafka else 1))
               if not value]
    if missing:
        print(f"vitalstream {command}: set {' and '.join(missing)} (or run `vitalstream dev`)", file=sys.stderr)
    return not missing


async def serve(settings: Settings, stop: asyncio.Event, *, engine: bool, dispatcher: bool,
                metrics: AlertMetrics | None = None, backlog_every_s: float | None = None) -> None:
    """Run the engine and/or the dispatcher until `stop` is set (and /metrics, when
    `settings.alerts.metrics_port` is set); one part failing stops the other."""
    import asyncio

    from vitalstream.topics import ensure_topics

    from .dispatcher import run_dispatcher
    from .engine import run_engine
    from .metrics import BACKLOG_EVERY_S, AlertMetrics, serve_metrics

    metrics = metrics or AlertMetrics()
    cfg = settings.alerts
    server = None
    if cfg.metrics_port:
        server = await serve_metrics(metrics, cfg.metrics_host, cfg.metrics_port, dsn=settings.core.database_url,
                                     backlog_every_s=backlog_every_s or BACKLOG_EVERY_S)
    try:
        jobs = []
        if engine:
            await ensure_topics(settings)
            jobs.append(asyncio.create_task(run_engine(settings, stop, metrics=metrics)))
        if dispatcher:
            jobs.append(asyncio.create_task(run_dispatcher(settings, stop, metrics=metrics)))
        await asyncio.wait(jobs, return_when=asyncio.FIRST_EXCEPTION)
        stop.set()  # one part failing stops the other: a supervisor restarts the process
        await asyncio.gather(*jobs)
    finally:
        if server is not None:
            await server.cleanup()


def _serve(settings: Settings, *, engine: bool, dispatcher: bool) -> int:
    import asyncio
    import signal

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop, engine=engine, dispatcher=dispatcher)

    asyncio.run(main())
    return 0


def _with_port(args: argparse.Namespace, settings: Settings) -> Settings:
    if args.metrics_port is None:
        return settings
    if not 0 <= args.metrics_port <= 65535:
        raise SystemExit(f"--metrics-port: expected 0-65535, got {args.metrics_port}")
    return replace(settings, alerts=replace(settings.alerts, metrics_port=args.metrics_port))


def run_dispatcher_command(args: argparse.Namespace, settings: Settings) -> int:
    if not _need(settings, not args.no_engine, "dispatcher"):
        return 2
    return _serve(_with_port(args, settings), engine=not args.no_engine, dispatcher=True)


def run_engine_command(args: argparse.Namespace, settings: Settings) -> int:
    if not _need(settings, True, "alert-engine"):
        return 2
    return _serve(_with_port(args, settings), engine=True, dispatcher=False)


def run_webhooks_command(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    import psycopg

    from . import subscriptions as subs

    if not _need(settings, False, "webhooks"):
        return 2

    async def main() -> int:
        async with await psycopg.AsyncConnection.connect(settings.core.database_url, autocommit=True) as conn:
            action = args.webhooks_command
            if action == "add":
                row = await subs.add_subscription(
                    conn, args.url, secret=args.secret, event_types=args.event_types, device_ids=args.device_ids,
                    wards=args.wards, description=args.description,
                    allow_private=settings.alerts.allow_private_urls)
                print(json.dumps(row, indent=2))
            elif action == "list":
                for row in await subs.list_subscriptions(conn):
                    print(json.dumps(row))
            elif action == "delete":
                if not await subs.delete_subscription(conn, args.id):
                    print(f"vitalstream webhooks delete: no subscription {args.id}", file=sys.stderr)
                    return 1
                print(f"deleted subscription {args.id}")
            else:
                if args.since is not None and args.since.tzinfo is None:
                    raise subs.SubscriptionError("--since", "needs a timezone, e.g. 2026-01-01T00:00:00+00:00")
                count = await subs.redeliver(conn, args.id, since=args.since)
                print(f"subscription {args.id} enabled; {count} deliveries queued")
        return 0

    try:
        return asyncio.run(main())
    except ValueError as exc:  # SubscriptionError and friends: a message for the operator
        print(f"vitalstream webhooks: {exc}", file=sys.stderr)
        return 2
