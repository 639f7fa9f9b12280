"""One table of routes: the router and the OpenAPI document are both built from it, so a
handler cannot exist undocumented (tests/api/test_openapi.py checks the result too).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .auth import Handler, permission_of


@dataclass(frozen=True)
class Param:
    name: str
    where: str  # "query" | "path"
    schema: dict[str, Any]
    description: str = ""
    required: bool = False


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    params: tuple[Param, ...] = ()
    body: dict[str, Any] | None = None  # JSON request body schema
    response: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    status: int = 200  # success status
    content_type: str = "application/json"
    strict_query: bool = True  # False: the handler checks its own query (e.g. to answer in FHIR's error shape)

    @property
    def permission(self) -> str | None:
        return permission_of(self.handler)


def q(name: str, schema: dict[str, Any] | str, description: str = "", required: bool = False) -> Param:
    return Param(name, "query", {"type": schema} if isinstance(schema, str) else schema, description, required)


def p(name: str, schema: dict[str, Any] | str, description: str = "") -> Param:
    return Param(name, "path", {"type": schema} if isinstance(schema, str) else schema, description, True)


TIME = {"type": "string", "description": "RFC 3339 with a zone, or epoch milliseconds"}
LIMIT = q("limit", {"type": "integer", "minimum": 1}, "page size (default and maximum from settings)")
CURSOR = q("cursor", "string", "opaque cursor from the previous page's next_cursor")
DEVICE_ID = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}


def page_of(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"items": {"type": "array", "items": item}, "next_cursor": {"type": ["string", "null"]}},
    }
