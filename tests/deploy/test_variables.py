"""known_variables(): every VITALSTREAM_* name the settings read, found by introspection."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vitalstream.config import ConfigError, load_settings
from vitalstream.config.variables import known_variables

CONFIG_DIR = Path(__file__).resolve().parents[2] / "vitalstream" / "config"


def test_the_service_addresses_and_some_of_each_section_are_known():
    names = known_variables()
    for name in ("MQTT_URL", "KAFKA_BOOTSTRAP", "DATABASE_URL", "GATEWAY_SHARE_GROUP", "WRITER_BATCH_ROWS",
                 "WORKER_APP_ID", "MODEL_DIR", "WEBHOOK_TIMEOUT_S", "API_PORT", "RULE_OVERRIDES"):
        assert f"VITALSTREAM_{name}" in names


def test_every_reader_call_in_the_config_sources_is_found():
    # Independent of the introspection: the names passed to env.<reader>("NAME", ...).
    pattern = re.compile(r"env\.(?:str|int|float|bool|url|hostports|choice|raw)\(\s*\"([A-Z0-9_]+)\"")
    in_source = {f"VITALSTREAM_{m}" for f in CONFIG_DIR.glob("*.py") for m in pattern.findall(f.read_text())}
    assert in_source, "the reader pattern no longer matches the config sources"
    assert in_source == known_variables()


@pytest.mark.parametrize("name", sorted(known_variables()))
def test_each_known_variable_is_really_read(name):
    # A junk value must either be refused or change the settings: the name is consulted.
    try:
        changed = load_settings({name: "junk value ]["})
    except ConfigError as exc:
        assert name in str(exc)
        return
    assert changed != load_settings({})
