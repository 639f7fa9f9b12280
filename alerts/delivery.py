"""One HTTP attempt of one webhook delivery, and what to do next (pure decisions + the POST).

Outcome per attempt:
- 2xx: delivered;
- 410 Gone: the receiver asks us to stop: the subscription is disabled (events held);
- any other status, a timeout or a connection error: retried after an exponential
  backoff with jitter, or later if the receiver sent `Retry-After`; after
  `webhook_max_attempts` the delivery is marked failed (kept, re-deliverable).
Redirects are not followed: a redirect is a failure (a 3xx could point anywhere).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp

from .signing import headers as signed_headers
from .urls import UrlRefused, check_literal, check_url_syntax

MAX_RETRY_AFTER_S = 24 * 3600.0  # a receiver cannot park a delivery longer than this
ERROR_TEXT_MAX = 500


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery leased to this dispatcher for one attempt."""

    delivery_id: int
    webhook_id: str
    attempt: int  # 1-based number of this attempt
    body: str
    subscription_id: int
    url: str
    secret: str


@dataclass(frozen=True, slots=True)
class AttemptResult:
    claimed: Claimed
    started_at: datetime
    latency_ms: float
    status_code: int | None  # None: no HTTP answer
    error: str | None
    retry_after_s: float | None
    # for the metrics: 2xx | non_2xx | timeout | connection_error | refused (alerts.metrics.OUTCOMES)
    outcome: str = "connection_error"

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        return self.status_code == 410


def backoff_s(attempt: int, base_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Delay before attempt `attempt + 1`: base·2^(attempt-1), capped, jittered to 50-100 %
    (jitter spreads a recovering receiver's retry storm; never below half the delay)."""
    delay = min(max_s, base_s * (2 ** min(attempt - 1, 40)))
    return delay * (0.5 + 0.5 * (rng or random).random())


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_S)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(0.0, seconds), MAX_RETRY_AFTER_S)


def next_delay_s(result: AttemptResult, base_s: float, max_s: float) -> float:
    delay = backoff_s(result.claimed.attempt, base_s, max_s)
    if result.retry_after_s is not None:
        delay = max(delay, result.retry_after_s) if result.retry_after_s > 0 else delay
    return delay


async def attempt(session: aiohttp.ClientSession, claimed: Claimed, timeout_s: float, *,
                  allow_private: bool = True) -> AttemptResult:
    """POST the event once; never raises for network trouble (it is a result). With
    `allow_private` false the session must use urls.PublicOnlyResolver (names) and IP
    literals are checked here."""
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None
    outcome = "connection_error"
    try:
        host = check_url_syntax(claimed.url)  # cheap; subscriptions were fully checked when made
        if not allow_private:
            check_literal(host)
        body = claimed.body.encode()
        hdrs = signed_headers(claimed.secret, claimed.webhook_id, int(time.time()), body)
        hdrs["user-agent"] = "vitalstream-webhooks/1"
        async with session.post(claimed.url, data=body, headers=hdrs, allow_redirects=False,
                                timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
            status = resp.status
            outcome = "2xx" if 200 <= status < 300 else "non_2xx"
            if not 200 <= status < 300:
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                text = (await resp.content.read(ERROR_TEXT_MAX)).decode("utf-8", "replace")
                error = f"HTTP {status}: {text}".strip()[:ERROR_TEXT_MAX]
    except TimeoutError:
        error, outcome = f"timeout after {timeout_s:g} s", "timeout"
    except UrlRefused as exc:
        error, outcome = f"refused URL: {exc}", "refused"
    except (aiohttp.ClientError, OSError) as exc:
        error = f"{type(exc).__name__}: {exc}"[:ERROR_TEXT_MAX]
    except asyncio.CancelledError:
        raise
    latency = (time.perf_counter() - t0) * 1000
    return AttemptResult(claimed, started, latency, status, error, retry_after, outcome)
