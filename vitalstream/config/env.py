"""Typed readers for VITALSTREAM_* environment variables.

Every reader names the variable in its error, so a bad value stops the program at
start with a message an operator can act on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

PREFIX = "VITALSTREAM_"


class ConfigError(ValueError):
    """A configuration value is malformed; the message names the variable."""


class Env:
    """A view of the environment that parses values and names the variable on error."""

    def __init__(self, environ: Mapping[str, str]):
        self._environ = environ

    def raw(self, name: str) -> str | None:
        value = self._environ.get(PREFIX + name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def _fail(self, name: str, expected: str, value: str) -> ConfigError:
        return ConfigError(f"{PREFIX}{name}: expected {expected}, got {value!r}")

    def str(self, name: str, default: str | None = None, *, pattern: str | None = None) -> str | None:
        value = self.raw(name)
        if value is None:
            return default
        if pattern and not re.fullmatch(pattern, value):
            raise self._fail(name, f"a value matching {pattern}", value)
        return value

    def int(self, name: str, default: int, *, lo: int | None = None, hi: int | None = None) -> int:
        value = self.raw(name)
        if value is None:
            return default
        try:
            parsed = int(value)
        except ValueError:
            raise self._fail(name, "an integer", value) from None
        if (lo is not None and parsed < lo) or (hi is not None and parsed > hi):
            raise self._fail(name, f"an integer in [{lo}, {hi}]", value)
        return parsed

    def float(self, name: str, default: float, *, lo: float | None = None, hi: float | None = None) -> float:
        value = self.raw(name)
        if value is None:
            return default
        try:
            parsed = float(value)
        except ValueError:
            raise self._fail(name, "a number", value) from None
        if parsed != parsed or (lo is not None and parsed < lo) or (hi is not None and parsed > hi):
            raise self._fail(name, f"a number in [{lo}, {hi}]", value)
        return parsed

    def bool(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise self._fail(name, "a boolean (true/false)", value)

    def url(self, name: str, schemes: tuple[str, ...]) -> str | None:
        value = self.raw(name)
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in schemes:
            raise self._fail(name, f"a URL with scheme {'/'.join(schemes)}", value)
        try:
            parts.port  # noqa: B018 - raises on a non-numeric port
        except ValueError:
            raise self._fail(name, "a URL with a numeric port", value) from None
        if not parts.hostname and "host=" not in parts.query:
            raise self._fail(name, "a URL with a host", value)
        return value

    def hostports(self, name: str) -> str | None:
        """A Kafka bootstrap list: host:port[,host:port...]."""
        value = self.raw(name)
        if value is None:
            return None
        for item in value.split(","):
            host, sep, port = item.strip().rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise self._fail(name, "host:port[,host:port...]", value)
        return value

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.raw(name)
        if value is None:
            return default
        if value not in choices:
            raise self._fail(name, f"one of {', '.join(choices)}", value)
        return value
