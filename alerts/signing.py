"""Standard Webhooks v1 signing (INTERFACE §4): secrets, event bodies, headers.

    webhook-id:        msg_…, the same on every retry of one event to one subscription
    webhook-timestamp: Unix seconds of this attempt
    webhook-signature: v1,<base64 HMAC-SHA256 over "{id}.{timestamp}.{body}">

The HMAC key is the secret's base64 part after `whsec_`, decoded.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets as _secrets
from datetime import UTC, datetime
from typing import Any

SECRET_PREFIX = "whsec_"


class SecretError(ValueError):
    """A webhook secret that is not `whsec_` + base64 of at least 16 bytes."""


def new_secret(nbytes: int = 32) -> str:
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(nbytes)).decode()


def secret_key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise SecretError("webhook secret must start with whsec_")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise SecretError("webhook secret: the part after whsec_ is not base64") from None
    if len(key) < 16:
        raise SecretError("webhook secret must hold at least 16 bytes (128 bits)")
    return key


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one attempt."""
    message = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, webhook_id, timestamp, body),
    }


def rfc3339(ts_ms: int | float | None) -> str | None:
    if ts_ms is None:
        return None
    return datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_body(event_type: str, ts_ms: int, alert: dict[str, Any]) -> str:
    """The POST body, fixed when the event is written so every retry sends the same bytes."""
    doc = {"type": event_type, "timestamp": rfc3339(ts_ms), "data": alert}
    return json.dumps(doc, separators=(",", ":"), sort_keys=False, default=str)
