"""The one settings object, built once from VITALSTREAM_* variables and passed down.

Each package owns the section it reads (core, ingest, storage, stream, detectors,
alerts, api); a malformed value raises ConfigError naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

from .alerts import AlertSettings
from .api import ApiSettings
from .core import CoreSettings
from .detectors import DetectorSettings
from .env import ConfigError, Env
from .ingest import IngestSettings
from .storage import StorageSettings
from .stream import StreamSettings

__all__ = ["ConfigError", "Settings", "load_settings"]


@dataclass(frozen=True)
class Settings:
    core: CoreSettings
    ingest: IngestSettings
    storage: StorageSettings
    stream: StreamSettings
    detectors: DetectorSettings
    alerts: AlertSettings
    api: ApiSettings

    def with_services(self, *, mqtt_url: str, kafka_bootstrap: str, database_url: str) -> Settings:
        """The same settings pointing at concrete (possibly just-started) services."""
        core = replace(self.core, mqtt_url=mqtt_url, kafka_bootstrap=kafka_bootstrap, database_url=database_url)
        return replace(self, core=core)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = Env(os.environ if environ is None else environ)
    return Settings(
        core=CoreSettings.from_env(env),
        ingest=IngestSettings.from_env(env),
        storage=StorageSettings.from_env(env),
        stream=StreamSettings.from_env(env),
        detectors=DetectorSettings.from_env(env),
        alerts=AlertSettings.from_env(env),
        api=ApiSettings.from_env(env),
    )
