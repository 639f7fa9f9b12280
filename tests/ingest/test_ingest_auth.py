"""Device authentication and authorisation against a real Mosquitto loaded with the files
`vitalstream devices provision` writes."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import uuid
from dataclasses import replace
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from tests.ingest.ingest_support import Publisher, payload, sample, start_mosquitto, vitals_keys
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from ingest.cli import register  # noqa: F401 - the command exists
from ingest.gateway import run_gateway
from ingest.metrics import GatewayMetrics
from ingest.provision import hash_password, provision, verify_password
from vitalstream.config import Settings


def test_hash_matches_mosquitto_passwd(tmp_path: Path) -> None:
    """Our PBKDF2-SHA512 hash equals mosquitto_passwd's for the same salt."""
    path = tmp_path / "pw"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(path), "alice", "s3cret"], check=True)
    hashed = path.read_text().strip().split(":", 1)[1]
    _, _, iterations, salt, _ = hashed.split("$")
    import base64

    assert hash_password("s3cret", salt=base64.b64decode(salt), iterations=int(iterations)) == hashed
    assert verify_password(hashed, "s3cret") and not verify_password(hashed, "wrong")


def test_provision_keeps_existing_devices(tmp_path: Path) -> None:
    first = provision(tmp_path, count=2)
    second = provision(tmp_path, device_ids=["dev-0001", "icu-7"])
    assert first.new_devices == ["dev-0001", "dev-0002"] and second.new_devices == ["icu-7"]
    assert second.total_devices == 3 and second.gateway == first.gateway
    assert (tmp_path / "credentials.csv").stat().st_mode & 0o077 == 0
    with pytest.raises(ValueError):
        provision(tmp_path, device_ids=["bad id"])


class Client:
    """A bare MQTT 5 client recording what happens to it."""

    def __init__(self, port: int, username: str | None = None, password: str | None = None):
        self.c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}",
                             protocol=MQTTProtocolVersion.MQTTv5, reconnect_on_failure=False)
        if username:
            self.c.username_pw_set(username, password)
        self.connack = threading.Event()
        self.rc: paho.ReasonCode | None = None
        self.suback: list = []
        self.received: list[bytes] = []
        self.c.on_connect = self._on_connect
        self.c.on_subscribe = lambda c, u, mid, rcs, p: self.suback.extend(rcs)
        self.c.on_message = lambda c, u, m: self.received.append(m.payload)
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        assert self.connack.wait(10)

    def _on_connect(self, client, userdata, flags, rc, props) -> None:  # noqa: ANN001
        self.rc = rc
        self.connack.set()

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


async def test_devices_only_publish_their_own_topic(tmp_path: Path, settings: Settings, topic_prefix: str) -> None:
    creds = provision(tmp_path / "auth", count=2, topic_root="vitals")
    passwords = dict(line.split(",")[1:] for line in (tmp_path / "auth" / "credentials.csv").read_text().split()[1:])
    broker = start_mosquitto(tmp_path / "broker", (tmp_path / "auth" / "mosquitto.conf").read_text())
    metrics = GatewayMetrics()
    stop, ready = asyncio.Event(), asyncio.Event()
    try:
        # Anonymous and wrong passwords are refused at CONNECT.
        for user, pw in [(None, None), ("dev-0001", "wrong"), ("nobody", "x")]:
            c = Client(broker.port, user, pw)
            assert c.rc is not None and c.rc.is_failure, (user, c.rc)
            c.close()

        # The gateway, on its own account, through a shared subscription (ACL-checked too).
        gw_url = broker.url(creds.gateway.device_id, creds.gateway.password)
        core = replace(settings.core, mqtt_url=gw_url, topic_prefix=topic_prefix, mqtt_topic_root="vitals")
        ing = replace(settings.ingest, client_id=f"gw-{uuid.uuid4().hex[:6]}", share_group="gws")
        task = asyncio.create_task(run_gateway(replace(settings, core=core, ingest=ing), stop=stop, ready=ready,
                                               metrics=metrics))
        await asyncio.wait_for(ready.wait(), 30)

        # A device cannot read anything, not even its own topic.
        spy = Client(broker.port, "dev-0002", passwords["dev-0002"])
        assert spy.rc is not None and not spy.rc.is_failure
        spy.c.subscribe("vitals/#", qos=1)
        spy.c.subscribe("vitals/dev-0002", qos=1)
        for _ in range(100):
            if len(spy.suback) == 2:
                break
            await asyncio.sleep(0.05)

        a = Publisher(broker.port, username="dev-0001", password=passwords["dev-0001"])
        a.publish("vitals/dev-0002", payload(sample("dev-0002", 1)))  # A impersonating B
        a.publish("vitals/dev-0002", payload(sample("dev-0001", 2)))
        a.publish("vitals/dev-0001", payload(sample("dev-0001", 3)))  # its own topic
        await asyncio.to_thread(a.flush)
        assert a.failed == [135, 135]  # MQTT 5 PUBACK "Not authorized" for both forged ones
        a.close()
        gw_pub = Publisher(broker.port, username=creds.gateway.device_id, password=creds.gateway.password)
        gw_pub.publish("vitals/dev-0001", payload(sample("dev-0001", 4)))  # the gateway cannot publish
        await asyncio.to_thread(gw_pub.flush)
        assert gw_pub.failed == [135]
        gw_pub.close()

        deadline = asyncio.get_running_loop().time() + 20
        while metrics.messages_acked < 1 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # anything the broker wrongly let through would arrive by now
        keys, _ = await vitals_keys(core.kafka_bootstrap or "", f"{topic_prefix}vitals")
        assert keys == {("dev-0001", 3)}
        assert metrics.messages_received == 1
        # Mosquitto 2.0 may grant the SUBSCRIBE itself; the ACL denies every delivery to it.
        assert len(spy.suback) == 2, spy.suback
        assert spy.received == []
        spy.close()
    finally:
        stop.set()
        if ready.is_set():
            await asyncio.wait_for(task, 30)
        broker.stop()


def test_provision_command(tmp_path: Path) -> None:
    import os
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("VITALSTREAM_")}
    out = subprocess.run([sys.executable, "-m", "vitalstream", "devices", "provision", "--count", "3", "--out",
                          str(tmp_path), "--broker-url", "mqtts://broker.example:8883"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "3 new device(s), 3 in all" in out.stdout
    acl = (tmp_path / "acl").read_text()
    assert "user dev-0003\ntopic write vitals/dev-0003\n" in acl and "user vitalstream-gateway\ntopic read vitals/+\n" in acl
    gateway_env = (tmp_path / "gateway.env").read_text()
    assert gateway_env.startswith("VITALSTREAM_MQTT_URL=mqtts://vitalstream-gateway:") and "@broker.example:8883" in gateway_env
    bad = subprocess.run([sys.executable, "-m", "vitalstream", "devices", "provision", "--device-id", "no/slash",
                          "--out", str(tmp_path)], env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "does not match" in bad.stderr
