"""`vitalstream migrate`: create or upgrade the database schema (idempotent)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("migrate", help="create/upgrade the database schema (idempotent)")
    p.add_argument("--database-url", help="PostgreSQL URL (default: VITALSTREAM_DATABASE_URL)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Any) -> int:
    dsn = args.database_url or settings.core.database_url
    if not dsn:
        print(
            "vitalstream migrate: no database configured: set VITALSTREAM_DATABASE_URL"
            " (e.g. postgresql://postgres@127.0.0.1:5432/vitalstream) or use `vitalstream dev`,"
            " which starts an embedded PostgreSQL and migrates it",
            file=sys.stderr,
        )
        return 2
    import psycopg  # lazy: keeps `vitalstream --help` instant

    from .flavor import FlavorError
    from .migrate import MigrationError, migrate_sync

    try:
        applied = migrate_sync(dsn, settings=settings.storage)
    except (MigrationError, FlavorError, psycopg.OperationalError) as exc:
        print(f"vitalstream migrate: {exc}", file=sys.stderr)
        return 1
    if applied:
        print(f"applied {len(applied)} migration(s): {', '.join(applied)}")
    else:
        print("schema is up to date")
    return 0
