"""The aiohttp application: middlewares, routes, lifecycle; `run_api` for the CLI and `dev`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiohttp import web

from vitalstream.config import Settings

from . import openapi
from .auth import PUBLIC, auth_middleware
from .db import make_pool
from .errors import ApiError, bad_param
from .live import LiveHub
from .metrics import Metrics, metrics_middleware
from .routes import alerts, devices, fhir, live, patients, system, ward, webhooks
from .routing import Route
from .state import HUB, METRICS, POOL, SETTINGS

log = logging.getLogger(__name__)


def all_routes() -> list[Route]:
    return [*system.ROUTES, *devices.ROUTES, *patients.ROUTES, *alerts.ROUTES, *webhooks.ROUTES,
            *fhir.ROUTES, *ward.ROUTES, *live.ROUTES]


@web.middleware
async def error_middleware(request: web.Request, handler: Callable) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return ApiError(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason).response()
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return ApiError(500, "internal", "internal error").response()


def query_middleware(routes: list[Route]) -> Callable:
    """Refuse query parameters a route does not document (400 naming it): the OpenAPI
    document is the whitelist, so a typo never silently widens a query."""
    allowed = {id(r.handler): frozenset(p.name for p in r.params if p.where == "query") for r in routes
               if r.permission != PUBLIC and r.strict_query}

    @web.middleware
    async def middleware(request: web.Request, handler: Callable) -> web.StreamResponse:
        known = allowed.get(id(getattr(request.match_info.route, "handler", None)))
        if known is not None:
            for key in request.query:
                if key not in known:
                    raise bad_param(key, f"unknown parameter (accepted: {', '.join(sorted(known)) or 'none'})")
        return await handler(request)

    return middleware


def build_app(settings: Settings) -> web.Application:
    if not settings.core.database_url:
        raise ValueError("settings.core.database_url is required")
    metrics = Metrics()
    routes = all_routes()
    # Order: metrics sees every outcome; errors become JSON before metrics records the status;
    # authentication comes before parameter checks (no hints to the unauthenticated).
    app = web.Application(
        middlewares=[metrics_middleware(metrics), error_middleware, auth_middleware, query_middleware(routes)],
        client_max_size=1024 * 1024,
    )
    app[SETTINGS] = settings
    app[METRICS] = metrics
    app[POOL] = make_pool(settings.core.database_url, settings.api.pool_max)
    app[HUB] = LiveHub(app[POOL], settings.api.live_poll_s)
    app[system.OPENAPI_KEY] = openapi.document(routes)
    for route in routes:
        app.router.add_route(route.method, route.path, route.handler)
    metrics.gauge("vitalstream_api_live_clients", "Connected live-feed WebSocket clients.",
                  lambda: float(app[HUB].client_count))
    app.cleanup_ctx.append(_lifecycle)
    return app


async def _lifecycle(app: web.Application):
    await app[POOL].open(wait=True)
    await app[HUB].start()
    try:
        yield
    finally:
        await app[HUB].stop()
        await app[POOL].close()


async def run_api(
    settings: Settings, *, stop: asyncio.Event | None = None, ready: Callable[[str], None] | None = None
) -> None:
    """Serve until `stop` is set (or forever); `ready(url)` is called once listening."""
    app = build_app(settings)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    site = web.TCPSite(runner, settings.api.host, settings.api.port)
    await site.start()
    url = f"http://{settings.api.host}:{settings.api.port}"
    log.info("API listening on %s", url)
    if ready is not None:
        ready(url)
    try:
        await (stop.wait() if stop is not None else asyncio.Event().wait())
    finally:
        await runner.cleanup()
