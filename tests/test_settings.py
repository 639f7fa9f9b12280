"""The settings object: defaults, and bad values refused with the variable's name."""

import subprocess
import sys

import pytest

from vitalstream.config import ConfigError, load_settings


def test_defaults_follow_the_interface():
    s = load_settings({})
    assert s.api.port == 8080
    assert s.core.mqtt_url is None and s.core.kafka_bootstrap is None and s.core.database_url is None
    assert s.core.mqtt_topic_root == "vitals"


@pytest.mark.parametrize("name,value", [
    ("VITALSTREAM_API_PORT", "abc"),
    ("VITALSTREAM_API_PORT", "70000"),
    ("VITALSTREAM_KAFKA_BOOTSTRAP", "localhost"),
    ("VITALSTREAM_DATABASE_URL", "mysql://x@h/db"),
    ("VITALSTREAM_MQTT_URL", "mqtt://host:notaport"),
    ("VITALSTREAM_TOPIC_PARTITIONS", "0"),
    ("VITALSTREAM_WORKER_DETECTORS", "maybe"),
    ("VITALSTREAM_WORKER_ROLE", "scoring"),
])
def test_bad_value_names_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings({name: value})


def test_cli_stops_at_start_with_the_variable_name():
    env = {"VITALSTREAM_API_PORT": "abc", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "vitalstream", "migrate"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert "VITALSTREAM_API_PORT" in proc.stderr and "abc" in proc.stderr


def test_a_worker_role_that_would_run_nothing_stops_at_start():
    env = {"PATH": "/usr/bin:/bin", "VITALSTREAM_WORKER_ROLE": "detectors", "VITALSTREAM_WORKER_DETECTORS": "false",
           "VITALSTREAM_KAFKA_BOOTSTRAP": "127.0.0.1:9", "VITALSTREAM_DATABASE_URL": "postgresql://x@127.0.0.1:9/db"}
    proc = subprocess.run([sys.executable, "-m", "vitalstream", "worker"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert "VITALSTREAM_WORKER_ROLE" in proc.stderr and "would run nothing" in proc.stderr
