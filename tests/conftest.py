"""Shared fixtures: real services found or started through vitalstream.services.

Configured services (VITALSTREAM_DATABASE_URL, _MQTT_URL, _KAFKA_BOOTSTRAP) are used as
they are; anything unset is started embedded for the session (Kafka is normally tansu
on a free port). State that could leak between tests is fresh per test: a new database,
a new Kafka topic prefix, a new MQTT topic root.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from vitalstream.config import Settings, load_settings
from vitalstream.services import resolved, services
from vitalstream.topics import ensure_topics


def run_sync(coro):
    """Run a coroutine to completion from sync fixture code, on a private loop in a thread
    (never touching the loop pytest-asyncio runs the tests on)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    env = dict(os.environ)
    env.setdefault("VITALSTREAM_STATE_DIR", str(tmp_path_factory.mktemp("state")))
    base = load_settings(env)
    with services(base) as svc:
        yield resolved(base, svc)


@pytest.fixture(scope="session")
def pg_url(settings: Settings) -> str:
    assert settings.core.database_url
    return settings.core.database_url


@pytest.fixture(scope="session")
def kafka_bootstrap(settings: Settings) -> str:
    assert settings.core.kafka_bootstrap
    return settings.core.kafka_bootstrap


@pytest.fixture(scope="session")
def mqtt_url(settings: Settings) -> str:
    assert settings.core.mqtt_url
    return settings.core.mqtt_url


@pytest.fixture
def fresh_db(pg_url: str) -> Iterator[str]:
    """URL of a new, empty database, dropped after the test."""
    name = f"vs_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _with_db(pg_url, name)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(fresh_db: str) -> str:
    """URL of a new database with every migration applied."""
    from storage.migrate import apply_migrations

    run_sync(apply_migrations(fresh_db))
    return fresh_db


@pytest.fixture
def topic_prefix(settings: Settings) -> str:
    """A unique Kafka topic prefix whose topics exist (created explicitly, like production)."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    run_sync(ensure_topics(replace(settings, core=replace(settings.core, topic_prefix=prefix))))
    return prefix


@pytest.fixture
def scoped_settings(settings: Settings, topic_prefix: str, database_url: str) -> Settings:
    """Settings isolated for one test: fresh topics, fresh migrated database, own MQTT root."""
    root = f"{topic_prefix.rstrip('.')}/vitals"
    core = replace(settings.core, topic_prefix=topic_prefix, database_url=database_url, mqtt_topic_root=root)
    return replace(settings, core=core)
