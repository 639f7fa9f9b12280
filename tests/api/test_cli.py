"""`vitalstream token create|list|revoke` against a real database, through the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg

from api.tokens import hash_token


def vs(database_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "VITALSTREAM_DATABASE_URL": database_url}
    return subprocess.run([sys.executable, "-m", "vitalstream", *args], env=env, capture_output=True, text=True,
                          timeout=60)


def test_token_create_prints_the_token_last_and_stores_a_hash(database_url):
    out = vs(database_url, "token", "create", "--role", "clinician", "--name", "ward 4B", "--expires-in", "7")
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip().splitlines()[-1]
    assert token.startswith("vst_") and len(token) > 40
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT role, name, token_hash, expires_at IS NOT NULL FROM api_tokens").fetchone()
    assert row == ("clinician", "ward 4B", hash_token(token), True)
    listing = vs(database_url, "token", "list")
    assert "ward 4B" in listing.stdout and "active" in listing.stdout and token not in listing.stdout
    assert vs(database_url, "token", "revoke", "--token", token).returncode == 0
    assert "revoked" in vs(database_url, "token", "list").stdout
    assert vs(database_url, "token", "revoke", "--id", "1").returncode == 1  # already revoked
    bad = vs(database_url, "token", "create", "--role", "superuser")
    assert bad.returncode == 2


def test_api_command_serves_and_stops_cleanly_on_sigterm(database_url):
    import signal
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "VITALSTREAM_DATABASE_URL": database_url}
    proc = subprocess.Popen([sys.executable, "-m", "vitalstream", "api", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                    assert resp.status == 200
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
                time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        assert f"listening on http://127.0.0.1:{port}" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
