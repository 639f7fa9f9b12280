"""The OpenAPI 3.1 document, built from the same route table that builds the router."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .auth import PERMISSIONS, PUBLIC, ROLE_PERMISSIONS
from .routing import Route

_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}, "param": {"type": "string"}}}},
}


def _roles_with(permission: str) -> list[str]:
    return sorted(role for role, perms in ROLE_PERMISSIONS.items() if permission in perms)


def _operation(route: Route) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": route.summary,
        "operationId": route.handler.__name__,
        "tags": [route.tag],
        "parameters": [
            {"name": p.name, "in": p.where, "required": p.required, "schema": p.schema,
             **({"description": p.description} if p.description else {})}
            for p in route.params
        ],
        "responses": {
            str(route.status): {"description": "success",
                                "content": {route.content_type: {"schema": route.response}}},
        },
    }
    if route.body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": route.body}}}
    permission = route.permission
    if permission and permission != PUBLIC:
        op["security"] = [{"bearer": []}]
        op["description"] = f"Permission `{permission}` ({PERMISSIONS[permission]}); roles: " + ", ".join(
            _roles_with(permission))
        err = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        op["responses"]["401"] = {"description": "missing, invalid, expired or revoked token", **err}
        op["responses"]["403"] = {"description": "the token's role lacks the permission", **err}
    else:
        op["security"] = []
    if route.params or route.body is not None:
        op["responses"]["400"] = {
            "description": "invalid parameter (named in error.param)",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    return op


def document(routes: Iterable[Route]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": "vitalstream clinician API", "version": "1",
                 "description": "Vitals, alerts, FHIR export and webhooks. Roles: " + ", ".join(
                     f"{r} ({', '.join(sorted(p))})" for r, p in ROLE_PERMISSIONS.items())},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "a token from `vitalstream token create --role ROLE`"}},
            "schemas": {"Error": _ERROR},
        },
    }
