"""The gateway over TLS (mqtts://) to a real Mosquitto with a certificate from a private
CA, as docs/ingest.md describes for production."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from ingest.gateway import run_gateway
from ingest.metrics import GatewayMetrics
from tests.ingest.ingest_support import payload, sample, start_mosquitto, vitals_keys
from vitalstream.config import Settings
from vitalstream.services import free_port

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


def make_certs(d: Path) -> None:
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", "ca.key", "-out", "ca.crt")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "broker.key", "-out", "broker.csr")
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "broker.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
        "-extfile", "san.ext", "-out", "broker.crt")


async def test_gateway_over_tls_with_private_ca(tmp_path: Path, settings: Settings, topic_prefix: str) -> None:
    make_certs(tmp_path)
    tls_port = free_port()
    broker = start_mosquitto(tmp_path / "broker", (
        "allow_anonymous true\n"
        f"listener {tls_port} 127.0.0.1\ncertfile {tmp_path / 'broker.crt'}\nkeyfile {tmp_path / 'broker.key'}\n"
        "tls_version tlsv1.2\n"
    ))
    stop, ready = asyncio.Event(), asyncio.Event()
    metrics = GatewayMetrics()
    core = replace(settings.core, mqtt_url=f"mqtts://127.0.0.1:{tls_port}", topic_prefix=topic_prefix,
                   mqtt_topic_root="vitals")
    ingest = replace(settings.ingest, client_id=f"gw-{uuid.uuid4().hex[:6]}", mqtt_ca_file=str(tmp_path / "ca.crt"))
    task = asyncio.create_task(run_gateway(replace(settings, core=core, ingest=ingest), stop=stop, ready=ready,
                                           metrics=metrics))
    try:
        await asyncio.wait_for(ready.wait(), 30)
        # A device on the TLS listener too (mosquitto_pub verifies against the same CA).
        subprocess.run(["mosquitto_pub", "-p", str(tls_port), "-h", "127.0.0.1", "--cafile", str(tmp_path / "ca.crt"),
                        "-t", "vitals/tls-1", "-q", "1", "-m", payload(sample("tls-1", 7)).decode()],
                       check=True, timeout=30)
        for _ in range(200):
            if metrics.messages_acked:
                break
            await asyncio.sleep(0.05)
        keys, _ = await vitals_keys(settings.core.kafka_bootstrap or "", f"{topic_prefix}vitals")
        assert keys == {("tls-1", 7)}
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        broker.stop()


async def test_gateway_refuses_a_broker_it_cannot_verify(tmp_path: Path, settings: Settings, topic_prefix: str) -> None:
    """Without the private CA, the certificate does not verify: the gateway never subscribes."""
    make_certs(tmp_path)
    tls_port = free_port()
    broker = start_mosquitto(tmp_path / "broker", (
        "allow_anonymous true\n"
        f"listener {tls_port} 127.0.0.1\ncertfile {tmp_path / 'broker.crt'}\nkeyfile {tmp_path / 'broker.key'}\n"
    ))
    stop, ready = asyncio.Event(), asyncio.Event()
    core = replace(settings.core, mqtt_url=f"mqtts://127.0.0.1:{tls_port}", topic_prefix=topic_prefix)
    ingest = replace(settings.ingest, client_id=f"gw-{uuid.uuid4().hex[:6]}", mqtt_ca_file=None)
    task = asyncio.create_task(run_gateway(replace(settings, core=core, ingest=ingest), stop=stop, ready=ready))
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.shield(ready.wait()), 4)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        broker.stop()
