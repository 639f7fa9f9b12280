"""Every VITALSTREAM_* variable the settings object reads, found by asking it.

`load_settings` is run against a mapping that records each name it is asked for and has
no values, so every reader falls back to its default. The set is therefore exactly what
the code reads today, not a hand-kept list that drifts (deployment files are checked
against it in tests/deploy). A reader that consulted a variable only when another one is
set would escape this; none does.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from . import load_settings
from .env import PREFIX


class _RecordingEnviron(Mapping[str, str]):
    """An empty environment that remembers which names were looked up."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        raise KeyError(name)

    def get(self, name: str, default: object = None) -> object:  # type: ignore[override]
        self.asked.add(name)
        return default

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def known_variables() -> set[str]:
    """Names (with the VITALSTREAM_ prefix) of every variable `load_settings` reads."""
    environ = _RecordingEnviron()
    load_settings(environ)
    return {name for name in environ.asked if name.startswith(PREFIX)}
