"""Prometheus text exposition (format 0.0.4) without a client library.

Every process keeps its counters as plain attributes updated on its event loop (no
locks) and renders them at scrape time with `Exposition`; `serve` puts GET /metrics on
a port with aiohttp.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping

from aiohttp import web

log = logging.getLogger(__name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
QUANTILES = (0.5, 0.9, 0.99)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def number(value: float) -> str:
    """Exact for counters (no 6-digit rounding: 12,345,678 stays 12345678)."""
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def labels(**values: object) -> str:
    return "{" + ",".join(f'{k}="{_escape(str(v))}"' for k, v in values.items()) + "}" if values else ""


class Summary:
    """Count, sum and quantiles of the recent observations (a bounded window)."""

    def __init__(self, window: int = 2048) -> None:
        self.count = 0
        self.total = 0.0
        self.recent: deque[float] = deque(maxlen=window)

    def observe(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.recent.append(value)

    def quantile(self, q: float) -> float:
        if not self.recent:
            return 0.0
        ordered = sorted(self.recent)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Exposition:
    """Builds one scrape: `metric(...)`, `by_label(...)`, `summary(...)`, then `text()`."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.lines: list[str] = []

    def metric(self, name: str, kind: str, help_: str, samples: Iterable[tuple[str, float]]) -> None:
        full = self.prefix + name
        self.lines += [f"# HELP {full} {help_}", f"# TYPE {full} {kind}"]
        self.lines += [f"{full}{lbl} {number(value)}" for lbl, value in samples]

    def value(self, name: str, kind: str, help_: str, value: float) -> None:
        self.metric(name, kind, help_, [("", value)])

    def by_label(self, name: str, kind: str, help_: str, label: str, values: Mapping[str, float]) -> None:
        self.metric(name, kind, help_, [(labels(**{label: k}), v) for k, v in sorted(values.items())])

    def summary(self, name: str, help_: str, s: Summary) -> None:
        self.metric(name, "summary", help_, [(labels(quantile=q), s.quantile(q)) for q in QUANTILES])
        self.lines += [f"{self.prefix}{name}_sum {number(s.total)}", f"{self.prefix}{name}_count {s.count}"]

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


async def serve(render: Callable[[], str], host: str, port: int, what: str) -> web.AppRunner:
    """GET /metrics on host:port; the caller awaits runner.cleanup() to stop it."""

    async def handle(_: web.Request) -> web.Response:
        return web.Response(body=render().encode(), headers={"Content-Type": CONTENT_TYPE})

    app = web.Application()
    app.router.add_get("/metrics", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("%s metrics on http://%s:%d/metrics", what, host, port)
    return runner
