"""API errors as data: every refusal becomes a JSON body that says what to fix.

    ApiError (status, code, message, param)
    ├── bad_param(name, why)      400 invalid_parameter   names the parameter
    ├── unauthorized(why)         401 unauthorized        missing/invalid/expired token
    ├── forbidden(permission)     403 forbidden           the token's role lacks the right
    ├── not_found(what)           404 not_found
    └── conflict(why)             409 conflict            e.g. the device is already assigned
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, param: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.param is not None:
            error["param"] = self.param
        return {"error": error}

    def response(self) -> web.Response:
        headers = {"WWW-Authenticate": 'Bearer realm="vitalstream"'} if self.status == 401 else None
        return web.json_response(self.body(), status=self.status, headers=headers, dumps=dumps)


def bad_param(param: str, why: str) -> ApiError:
    return ApiError(400, "invalid_parameter", f"{param}: {why}", param)


def unauthorized(why: str) -> ApiError:
    return ApiError(401, "unauthorized", why)


def forbidden(permission: str, role: str) -> ApiError:
    return ApiError(403, "forbidden", f"role {role!r} lacks the permission {permission!r}")


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def conflict(why: str) -> ApiError:
    return ApiError(409, "conflict", why)


def _default(value: Any) -> Any:
    # datetimes → RFC 3339 (UTC); Decimal and friends → float; sets/tuples → lists.
    if hasattr(value, "isoformat"):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"not JSON serialisable: {type(value).__name__}") from None


def dumps(doc: Any) -> str:
    return json.dumps(doc, default=_default, separators=(",", ":"), allow_nan=False)


def json_response(doc: Any, status: int = 200) -> web.Response:
    return web.json_response(doc, status=status, dumps=dumps)
