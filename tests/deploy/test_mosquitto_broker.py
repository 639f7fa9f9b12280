"""The compose broker setup on a real Mosquitto: certificates from deploy/make-certs.sh,
auth files from `vitalstream devices provision` + deploy/mosquitto/assemble-auth.sh,
deploy/mosquitto/mosquitto.conf with only paths and ports rewritten, and the health check
command from docker-compose.yml. Skipped where mosquitto or openssl is not installed."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from ingest.provision import provision

from .deploy_support import MOSQUITTO_CONF, ROOT, healthcheck_text, services

pytestmark = pytest.mark.skipif(
    not all(shutil.which(b) for b in ("mosquitto", "mosquitto_sub", "mosquitto_pub", "mosquitto_passwd", "openssl")),
    reason="needs mosquitto, its clients and openssl",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("mosquitto")
    certs, provisioned, auth, data = tmp / "certs", tmp / "mqtt", tmp / "auth", tmp / "data"
    data.mkdir()
    env = {**os.environ, "CERTS_DIR": str(certs)}
    subprocess.run(["sh", str(ROOT / "deploy" / "make-certs.sh"), "localhost", "127.0.0.1"], env=env, check=True,
                   capture_output=True)
    provision(provisioned, count=2, broker_url="mqtt://mosquitto:1883")
    (tmp / "hc").write_text("hc-secret\n")
    env = {**os.environ, "SRC": str(provisioned), "DST": str(auth), "CERTS": str(certs),
           "HEALTHCHECK_PASSWORD_FILE": str(tmp / "hc")}
    subprocess.run(["sh", str(ROOT / "deploy" / "mosquitto" / "assemble-auth.sh")], env=env, check=True,
                   capture_output=True)
    plain, tls = free_port(), free_port()
    conf = MOSQUITTO_CONF.read_text()
    conf = conf.replace("/mosquitto/auth/", f"{auth}/").replace("/mosquitto/data/", f"{data}/")
    conf = conf.replace("listener 1883 ", f"listener {plain} ").replace("listener 8883 ", f"listener {tls} ")
    if os.geteuid() == 0:
        conf += "\nuser root\n"  # the pytest tmp dirs are private to root; the image's chown is not under test
    (tmp / "mosquitto.conf").write_text(conf)
    proc = subprocess.Popen(["mosquitto", "-c", str(tmp / "mosquitto.conf")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", tls), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"mosquitto did not start: {proc.stdout.read().decode()}") from None
            time.sleep(0.1)
    creds = {row.split(",")[1]: row.split(",")[2]
             for row in (provisioned / "credentials.csv").read_text().splitlines()[1:]}
    yield {"plain": plain, "tls": tls, "tmp": tmp, "creds": creds, "ca": certs / "ca.crt"}
    proc.terminate()
    proc.wait(timeout=10)


def compose_healthcheck(broker: dict, password_file: Path) -> subprocess.CompletedProcess:
    # The exact compose command, un-escaped as compose does ($$ -> $), pointed at this broker.
    cmd = healthcheck_text(services()["mosquitto"]).removeprefix("CMD-SHELL ").replace("$$", "$")
    cmd = cmd.replace("-p 1883", f"-p {broker['plain']}").replace("/run/secrets/mqtt_healthcheck_password",
                                                                  str(password_file))
    return subprocess.run(["sh", "-c", cmd], capture_output=True, timeout=30)


def test_health_check_passes_with_the_healthcheck_account(broker):
    started = time.monotonic()
    assert compose_healthcheck(broker, broker["tmp"] / "hc").returncode == 0
    assert time.monotonic() - started < 5  # $SYS topics are retained: no waiting for sys_interval (10 s)


def test_health_check_fails_with_a_wrong_password(broker):
    (broker["tmp"] / "wrong").write_text("nope\n")
    assert compose_healthcheck(broker, broker["tmp"] / "wrong").returncode != 0


def test_device_publishes_over_tls_and_the_gateway_account_receives_on_the_internal_listener(broker):
    creds = broker["creds"]
    sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker["plain"]), "-u",
                            "vitalstream-gateway", "-P", creds["vitalstream-gateway"], "-q", "1",
                            "-t", "$share/vitalstream/vitals/+", "-C", "1", "-W", "10", "-v"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.5)
    pub = subprocess.run(["mosquitto_pub", "-h", "localhost", "-p", str(broker["tls"]), "--cafile", str(broker["ca"]),
                          "-u", "dev-0001", "-P", creds["dev-0001"], "-q", "1", "-t", "vitals/dev-0001",
                          "-m", '{"device_id":"dev-0001"}'], capture_output=True, timeout=10)
    assert pub.returncode == 0, pub.stderr
    out, err = sub.communicate(timeout=15)
    assert sub.returncode == 0, err
    assert out.decode().strip() == 'vitals/dev-0001 {"device_id":"dev-0001"}'


def test_anonymous_and_untrusted_tls_clients_are_refused(broker):
    anonymous = subprocess.run(["mosquitto_pub", "-h", "localhost", "-p", str(broker["tls"]), "--cafile",
                                str(broker["ca"]), "-t", "vitals/dev-0001", "-m", "x"], capture_output=True, timeout=10)
    assert anonymous.returncode != 0
    # Without the private CA the broker's certificate does not verify.
    untrusted = subprocess.run(["mosquitto_pub", "-h", "localhost", "-p", str(broker["tls"]),
                                "--capath", "/etc/ssl/certs", "-u", "dev-0001", "-P", broker["creds"]["dev-0001"],
                                "-t", "vitals/dev-0001", "-m", "x"], capture_output=True, timeout=10)
    assert untrusted.returncode != 0


def test_the_gateway_account_cannot_read_broker_status(broker):
    creds = broker["creds"]
    result = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker["plain"]), "-u",
                             "vitalstream-gateway", "-P", creds["vitalstream-gateway"], "-t", "$SYS/broker/uptime",
                             "-C", "1", "-W", "2"], capture_output=True, timeout=10)
    assert result.returncode != 0  # timed out: the ACL grants $SYS to the health-check account only
