"""Typed keys for what the application object carries between startup and handlers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from vitalstream.config import Settings

if TYPE_CHECKING:
    from .live import LiveHub
    from .metrics import Metrics

POOL = web.AppKey("pool", AsyncConnectionPool)
SETTINGS = web.AppKey("settings", Settings)
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
HUB: web.AppKey[LiveHub] = web.AppKey("hub")
