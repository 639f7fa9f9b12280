"""`vitalstream webhooks add|list|delete|redeliver` as an operator types them."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def _vs(database_url: str, *args: str, private: str = "true") -> subprocess.CompletedProcess:
    env = dict(os.environ, VITALSTREAM_DATABASE_URL=database_url, VITALSTREAM_WEBHOOK_ALLOW_PRIVATE=private)
    return subprocess.run([sys.executable, "-m", "vitalstream", "webhooks", *args], env=env, capture_output=True,
                          text=True, timeout=60)


def test_webhooks_cli_round_trip(database_url):
    added = _vs(database_url, "add", "http://127.0.0.1:9/hook", "--event-type", "alert.opened", "--ward", "ICU")
    assert added.returncode == 0, added.stderr
    sub = json.loads(added.stdout)
    assert sub["secret"].startswith("whsec_") and sub["event_types"] == ["alert.opened"] and sub["wards"] == ["ICU"]
    listed = _vs(database_url, "list")
    [row] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert row["id"] == sub["id"] and row["secret"] != sub["secret"] and row["secret"].endswith(sub["secret"][-4:])
    again = _vs(database_url, "redeliver", str(sub["id"]))
    assert again.returncode == 0 and "0 deliveries queued" in again.stdout
    assert _vs(database_url, "delete", str(sub["id"])).returncode == 0
    assert _vs(database_url, "delete", str(sub["id"])).returncode == 1
    assert _vs(database_url, "list").stdout == ""


def test_webhooks_cli_refusals_name_the_problem(database_url):
    bad = _vs(database_url, "add", "http://user:pw@example.org/hook")
    assert bad.returncode == 2 and "credentials" in bad.stderr
    private = _vs(database_url, "add", "http://127.0.0.1:9/hook", private="false")
    assert private.returncode == 2 and "non-public" in private.stderr
    secret = _vs(database_url, "add", "http://127.0.0.1:9/hook", "--secret", "not-a-secret")
    assert secret.returncode == 2 and "secret" in secret.stderr
    kind = _vs(database_url, "add", "http://127.0.0.1:9/hook", "--event-type", "alert.exploded")
    assert kind.returncode == 2 and "event_types" in kind.stderr
