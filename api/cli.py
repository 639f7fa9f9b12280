"""`vitalstream api` (serve the API and dashboard) and `vitalstream token create|revoke|list`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

ROLES = ("admin", "clinician", "integrator", "device-admin")  # = api.tokens.ROLES (kept import-free here)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("api", help="the clinician REST API and live dashboard")
    p.add_argument("--host", help="listen address (default: VITALSTREAM_API_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="listen port (default: VITALSTREAM_API_PORT or 8080)")
    p.add_argument("--database-url", help="PostgreSQL URL (default: VITALSTREAM_DATABASE_URL)")
    p.set_defaults(func=run_api_command)

    t = subparsers.add_parser("token", help="issue, revoke and list API tokens")
    t.add_argument("--database-url", help="PostgreSQL URL (default: VITALSTREAM_DATABASE_URL)")
    tsub = t.add_subparsers(dest="token_command", metavar="ACTION")
    tsub.required = True
    c = tsub.add_parser("create", help="issue a token; the token is printed alone on the last line")
    c.add_argument("--role", required=True, choices=ROLES)
    c.add_argument("--name", help="who or what holds it (default: the role)")
    c.add_argument("--expires-in", type=float, metavar="DAYS", help="expire after DAYS days (default: never)")
    c.set_defaults(func=run_token)
    r = tsub.add_parser("revoke", help="revoke a token by id (from `token list`) or by value")
    g = r.add_mutually_exclusive_group(required=True)
    g.add_argument("--id", type=int, dest="token_id")
    g.add_argument("--token")
    r.set_defaults(func=run_token)
    ls = tsub.add_parser("list", help="list tokens (never their values)")
    ls.set_defaults(func=run_token)


def _dsn(args: argparse.Namespace, settings: Any, prog: str) -> str | None:
    dsn = args.database_url or settings.core.database_url
    if not dsn:
        print(f"vitalstream {prog}: no database configured: set VITALSTREAM_DATABASE_URL "
              "(e.g. postgresql://postgres@127.0.0.1:5432/vitalstream)", file=sys.stderr)
    return dsn


def run_api_command(args: argparse.Namespace, settings: Any) -> int:
    import asyncio
    from dataclasses import replace

    from .app import run_api

    dsn = _dsn(args, settings, "api")
    if not dsn:
        return 2
    api = replace(settings.api, host=args.host or settings.api.host, port=args.port or settings.api.port)
    settings = replace(settings, api=api, core=replace(settings.core, database_url=dsn))

    async def serve() -> None:
        import signal

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):  # stop cleanly: close WebSockets, drain, close the pool
            loop.add_signal_handler(sig, stop.set)
        await run_api(settings, stop=stop, ready=lambda url: print(f"vitalstream api: listening on {url}", flush=True))

    asyncio.run(serve())
    return 0


def run_token(args: argparse.Namespace, settings: Any) -> int:
    import asyncio

    dsn = _dsn(args, settings, "token")
    if not dsn:
        return 2
    if args.token_command == "create" and args.expires_in is not None and not 0 < args.expires_in <= 3650:
        print("vitalstream token create: --expires-in must be in (0, 3650] days", file=sys.stderr)
        return 2
    return asyncio.run(_token(args, dsn))


async def _token(args: argparse.Namespace, dsn: str) -> int:
    from datetime import timedelta

    import psycopg

    from . import tokens

    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        if args.token_command == "create":
            expires = timedelta(days=args.expires_in) if args.expires_in else None
            async with conn.transaction():
                token, info = await tokens.create_token(conn, role=args.role, name=args.name or args.role,
                                                        expires_in=expires)
            until = info.expires_at.isoformat() if info.expires_at else "never"
            print(f"created token {info.id} ({info.name}, role {info.role}, expires {until})")
            print(token)  # alone on the last line: scripts read it with `tail -n1`
            return 0
        if args.token_command == "revoke":
            async with conn.transaction():
                done = await tokens.revoke(conn, token_id=args.token_id, token=args.token)
            print("revoked" if done else "no such active token", file=sys.stdout if done else sys.stderr)
            return 0 if done else 1
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        for t in await tokens.list_tokens(conn):
            state = "revoked" if t.revoked_at else ("active" if t.usable(now) else "expired")
            print(f"{t.id}\t{t.role}\t{t.name}\t{state}\tcreated {t.created_at.isoformat()}"
                  f"\texpires {t.expires_at.isoformat() if t.expires_at else 'never'}")
        return 0
