"""Readers for the deployment files, shared by the tests in tests/deploy."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
MOSQUITTO_CONF = ROOT / "deploy" / "mosquitto" / "mosquitto.conf"
APP_IMAGE = "vitalstream"


def load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def services() -> dict[str, dict[str, Any]]:
    return load_compose()["services"]


def is_app(service: dict[str, Any]) -> bool:
    """Built from this repository's Dockerfile (runs `vitalstream ...`)."""
    return "build" in service or str(service.get("image", "")).split(":")[0] == APP_IMAGE


def app_services() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in services().items() if is_app(s)}


def long_running() -> dict[str, dict[str, Any]]:
    """Started by `docker compose up` and meant to stay up (not one-shots, not tool profiles)."""
    return {name: s for name, s in services().items() if s.get("restart") != "no" and not s.get("profiles")}


def env_files(service: dict[str, Any]) -> list[tuple[str, bool]]:
    """(path, required) of each env_file entry, short or long syntax."""
    raw = service.get("env_file", [])
    entries = [raw] if isinstance(raw, (str, dict)) else raw
    out = []
    for entry in entries:
        if isinstance(entry, str):
            out.append((entry, True))
        else:
            out.append((entry["path"], bool(entry.get("required", True))))
    return out


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command", [])
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]


def healthcheck_text(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return test if isinstance(test, str) else " ".join(str(t) for t in test)


def parse_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines (compose/dotenv style, no quoting used in our files); comments skipped."""
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not KEY=value: {line!r}"
        assert key not in out, f"{path.name}: {key} twice"
        out[key] = value
    return out


def mosquitto_conf() -> list[tuple[str, str]]:
    """(directive, rest) pairs in file order, comments dropped."""
    pairs = []
    for line in MOSQUITTO_CONF.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, rest = line.partition(" ")
            pairs.append((key, rest.strip()))
    return pairs


def dockerfile_stages() -> list[tuple[str, list[str]]]:
    """(stage name, its instruction lines with continuations joined) per FROM."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    stages: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            match = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, re.IGNORECASE)
            assert match, line
            stages.append((match.group(2) or "", [line]))
        elif stages:
            stages[-1][1].append(line)
    return stages
