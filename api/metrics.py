"""Prometheus text exposition (format 0.0.4) for the API, without a client library:
request counts and a latency histogram per route, plus gauges read at scrape time.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable

from aiohttp import web

# Latency buckets (seconds): sub-millisecond cache-warm reads up to multi-second exports.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


class Metrics:
    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self.latency: dict[tuple[str, str], list[float]] = {}
        self.latency_sum: dict[tuple[str, str], float] = defaultdict(float)
        self.auth_failures: dict[str, int] = defaultdict(int)
        self.gauges: dict[str, tuple[str, Callable[[], float]]] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests[(route, method, str(status))] += 1
        counts = self.latency.setdefault((route, method), [0] * (len(BUCKETS) + 1))
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                counts[i] += 1
        counts[-1] += 1  # +Inf
        self.latency_sum[(route, method)] += seconds
        if status in (401, 403):
            self.auth_failures[str(status)] += 1

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        self.gauges[name] = (help_text, read)

    def render(self) -> str:
        out = [
            "# HELP vitalstream_api_requests_total HTTP requests by route, method and status.",
            "# TYPE vitalstream_api_requests_total counter",
        ]
        for (route, method, status), n in sorted(self.requests.items()):
            out.append(f"vitalstream_api_requests_total{_labels(route=route, method=method, status=status)} {n}")
        out += [
            "# HELP vitalstream_api_request_seconds Request latency by route and method.",
            "# TYPE vitalstream_api_request_seconds histogram",
        ]
        for (route, method), counts in sorted(self.latency.items()):
            for bound, n in zip((*map(str, BUCKETS), "+Inf"), counts, strict=True):
                labels = _labels(route=route, method=method, le=bound)
                out.append(f"vitalstream_api_request_seconds_bucket{labels} {n}")
            labels = _labels(route=route, method=method)
            out.append(f"vitalstream_api_request_seconds_sum{labels} {self.latency_sum[(route, method)]:.6f}")
            out.append(f"vitalstream_api_request_seconds_count{labels} {counts[-1]}")
        out += [
            "# HELP vitalstream_api_auth_failures_total Requests refused for a missing/invalid token or role.",
            "# TYPE vitalstream_api_auth_failures_total counter",
        ]
        for status, n in sorted(self.auth_failures.items()):
            out.append(f"vitalstream_api_auth_failures_total{_labels(status=status)} {n}")
        for name, (help_text, read) in sorted(self.gauges.items()):
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {read()}"]
        return "\n".join(out) + "\n"


def route_name(request: web.Request) -> str:
    # The route template, never the concrete path: device ids must not explode label cardinality.
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def metrics_middleware(metrics: Metrics) -> Callable:
    @web.middleware
    async def middleware(request: web.Request, handler: Callable) -> web.StreamResponse:
        start = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            metrics.observe(route_name(request), request.method, status, time.perf_counter() - start)

    return middleware
