"""Receiver-side verification helper and outgoing URL checks (pure, no services)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from alerts.delivery import backoff_s, parse_retry_after
from alerts.signing import SecretError, event_body, headers, new_secret, secret_key
from alerts.urls import UrlRefused, check_url, check_url_syntax, is_public
from alerts.verify import WebhookVerificationError, verify

NOW = 1_795_000_000


def _signed(secret: str, body: bytes, ts: int = NOW, msg_id: str = "msg_abc"):
    return headers(secret, msg_id, ts, body)


def test_verify_accepts_genuine_and_returns_event():
    secret = new_secret()
    body = event_body("alert.opened", NOW * 1000, {"id": 7, "kind": "spo2.low"}).encode()
    event = verify(_signed(secret, body), body, secret, now=NOW + 10)
    assert event == {"type": "alert.opened", "timestamp": "2026-11-18T11:06:40.000Z",
                     "data": {"id": 7, "kind": "spo2.low"}}


def test_signature_matches_an_independent_hmac():
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    body = b'{"type":"alert.resolved"}'
    sig = _signed(secret, body)["webhook-signature"]
    want = base64.b64encode(hmac.new(b"k" * 32, b"msg_abc.%d.%s" % (NOW, body), hashlib.sha256).digest()).decode()
    assert sig == f"v1,{want}"


@pytest.mark.parametrize("tamper", ["body", "id", "timestamp", "secret", "stale", "future", "missing"])
def test_verify_refuses_forgeries(tamper):
    secret, body = new_secret(), b'{"type":"alert.opened","data":{}}'
    hdrs = _signed(secret, body)
    now = NOW
    if tamper == "body":
        body = body.replace(b"opened", b"closed")
    elif tamper == "id":
        hdrs["webhook-id"] = "msg_other"
    elif tamper == "timestamp":
        hdrs["webhook-timestamp"] = str(NOW + 1)
    elif tamper == "secret":
        secret = new_secret()
    elif tamper == "stale":
        now = NOW + 301
    elif tamper == "future":
        now = NOW - 301
    else:
        del hdrs["webhook-signature"]
    with pytest.raises(WebhookVerificationError):
        verify(hdrs, body, secret, now=now)


def test_verify_accepts_any_of_several_signatures_and_header_case():
    secret, body = new_secret(), b"{}"
    hdrs = _signed(secret, body)
    mixed = {"Webhook-Id": hdrs["webhook-id"], "Webhook-Timestamp": hdrs["webhook-timestamp"],
             "Webhook-Signature": "v1,AAAA " + hdrs["webhook-signature"]}
    assert verify(mixed, body, secret, now=NOW) == {}


def test_secret_rules():
    assert len(secret_key(new_secret())) == 32
    for bad in ("plain", "whsec_***", "whsec_" + base64.b64encode(b"short").decode()):
        with pytest.raises(SecretError):
            secret_key(bad)


@pytest.mark.parametrize("url,why", [
    ("ftp://example.org/h", "scheme"), ("http://user:pw@example.org/h", "credentials"),
    ("https://tok@example.org/h", "credentials"), ("http:///nohost", "host"), ("http://h:99999/", "valid"),
    ("https://example.org/h#frag", "fragment"),
])
def test_url_syntax_refusals(url, why):
    with pytest.raises(UrlRefused, match=why):
        check_url_syntax(url)


def test_private_targets_refused_only_when_configured():
    for url in ("http://127.0.0.1:9/h", "http://10.1.2.3/h", "http://[::1]/h", "http://169.254.169.254/latest",
                "http://localhost/h", "http://[::ffff:192.168.0.1]/h"):
        check_url(url, allow_private=True)
        with pytest.raises(UrlRefused, match="non-public"):
            check_url(url, allow_private=False)
    assert is_public("93.184.216.34") and not is_public("0.0.0.0")


def test_backoff_and_retry_after():
    import random

    rng = random.Random(1)
    delays = [backoff_s(a, 1.0, 600.0, rng) for a in range(1, 12)]
    assert all(0.5 * min(600, 2 ** (a - 1)) <= d <= min(600, 2 ** (a - 1)) for a, d in zip(range(1, 12), delays))
    assert delays[-1] <= 600
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Wed, 18 Nov 2026 11:08:40 GMT", now=NOW) == pytest.approx(120)
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
