"""Unauthenticated plumbing: health, Prometheus metrics, the OpenAPI document, the dashboard."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from ..auth import public
from ..errors import json_response, not_found
from ..routing import Route, p
from ..state import METRICS, POOL

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
# The dashboard loads only its own files and talks only to this origin (HTTP and WebSocket).
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
OPENAPI_KEY = web.AppKey("openapi", dict)


@public
async def healthz(request: web.Request) -> web.Response:
    try:
        async with request.app[POOL].connection(timeout=2.0) as conn:
            await conn.execute("SELECT 1")
    except Exception as exc:  # any failure to reach the database means "not healthy"
        return json_response({"status": "unhealthy", "database": type(exc).__name__}, status=503)
    return json_response({"status": "ok", "database": "ok"})


@public
async def metrics(request: web.Request) -> web.Response:
    # No patient data here (route templates and counts only), so scrapers need no token.
    return web.Response(text=request.app[METRICS].render(), content_type="text/plain",
                        headers={"X-Content-Type-Options": "nosniff"}, charset="utf-8")


@public
async def openapi(request: web.Request) -> web.Response:
    return json_response(request.app[OPENAPI_KEY])


@public
async def dashboard(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC_DIR / "index.html", headers=PAGE_HEADERS)


@public
async def static_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = (STATIC_DIR / name).resolve()
    # Only plain files directly inside static/: no traversal, no directory listing.
    if path.parent != STATIC_DIR or not path.is_file():
        raise not_found(f"static file {name}")
    return web.FileResponse(path, headers=PAGE_HEADERS)


ROUTES = [
    Route("GET", "/healthz", healthz, "Liveness and database reachability", "system"),
    Route("GET", "/metrics", metrics, "Prometheus metrics (text format 0.0.4)", "system",
          response={"type": "string"}, content_type="text/plain"),
    Route("GET", "/api/v1/openapi.json", openapi, "This document", "system"),
    Route("GET", "/", dashboard, "The live dashboard (HTML)", "system", response={"type": "string"},
          content_type="text/html"),
    Route("GET", "/static/{name}", static_file, "Dashboard assets", "system",
          (p("name", {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"}),), response={"type": "string"},
          content_type="application/octet-stream"),
]
