"""Verifying a vitalstream webhook on the receiving side (Standard Webhooks v1).

    from alerts.verify import verify, WebhookVerificationError
    event = verify(request.headers, raw_body, "whsec_…")   # raises if forged or stale

Pass the raw body bytes exactly as received: re-serialised JSON does not verify.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any


class WebhookVerificationError(ValueError):
    """The request is not a genuine, fresh webhook from the holder of the secret."""


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:  # plain dicts are case-sensitive; HTTP header maps usually are not
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    if not value:
        raise WebhookVerificationError(f"missing header {name}")
    return value


def verify(headers: Mapping[str, str], body: bytes | str, secret: str, tolerance_s: float = 300,
           now: float | None = None) -> dict[str, Any]:
    """Check the signature and timestamp; return the decoded event on success."""
    raw = body.encode() if isinstance(body, str) else bytes(body)
    msg_id = _header(headers, "webhook-id")
    stamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    try:
        ts = int(stamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from None
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance_s:
        raise WebhookVerificationError("webhook-timestamp outside the tolerance (replayed or clock skew)")
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookVerificationError("secret is not whsec_ + base64") from None
    expected = hmac.new(key, f"{msg_id}.{ts}.".encode() + raw, hashlib.sha256).digest()
    # The header may carry several space-separated signatures (secret rotation).
    for item in signatures.split():
        version, _, sig = item.partition(",")
        if version != "v1":
            continue
        try:
            if hmac.compare_digest(base64.b64decode(sig), expected):
                return json.loads(raw)
        except (binascii.Error, ValueError):
            continue
    raise WebhookVerificationError("no matching v1 signature")
