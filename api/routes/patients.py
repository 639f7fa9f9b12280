"""Patients: create/list/get, threshold overrides, device assignment (ward, bed)."""

from __future__ import annotations

from typing import Any

import psycopg
from aiohttp import web
from psycopg.types.json import Jsonb

from .. import params as P
from ..auth import current_token, requires
from ..db import audit, fetch_all, fetch_one
from ..errors import bad_param, conflict, json_response, not_found
from ..routing import CURSOR, DEVICE_ID, LIMIT, Route, p, page_of, q
from ..state import POOL, SETTINGS
from .devices import json_body

# Plausible override bounds per metric: an override outside them is a typo, not a choice.
THRESHOLD_BOUNDS: dict[str, tuple[float, float]] = {
    "hr": (20, 250), "spo2": (50, 100), "rr": (3, 60), "temp": (30, 43), "sbp": (50, 260), "dbp": (20, 160),
}
_PATIENT_COLS = "id, external_id, name, ward, bed, thresholds, created_at"


def validate_thresholds(doc: Any) -> dict[str, dict[str, float]]:
    if not isinstance(doc, dict):
        raise bad_param("thresholds", "expected an object like {\"spo2\": {\"low\": 88}}")
    out: dict[str, dict[str, float]] = {}
    for metric, limits in doc.items():
        name = f"thresholds.{metric}"
        if metric not in THRESHOLD_BOUNDS:
            raise bad_param(name, f"unknown metric (one of {', '.join(THRESHOLD_BOUNDS)})")
        if not isinstance(limits, dict) or not limits or set(limits) - {"low", "high"}:
            raise bad_param(name, "expected {\"low\": n} and/or {\"high\": n}")
        lo_b, hi_b = THRESHOLD_BOUNDS[metric]
        for side, value in limits.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo_b <= value <= hi_b:
                raise bad_param(f"{name}.{side}", f"expected a number in [{lo_b}, {hi_b}]")
        if "low" in limits and "high" in limits and limits["low"] >= limits["high"]:
            raise bad_param(name, "low must be below high")
        out[metric] = {k: float(v) for k, v in limits.items()}
    return out


def _opt_text(body: dict, name: str, max_len: int = 200) -> str | None:
    value = body.get(name)
    if value is not None and (not isinstance(value, str) or not value.strip() or len(value) > max_len):
        raise bad_param(name, f"expected a non-empty string of at most {max_len} characters")
    return value


async def _devices_of(conn: psycopg.AsyncConnection, patient_ids: list[int]) -> dict[int, list[dict]]:
    rows = await fetch_all(
        conn,
        "SELECT patient_id, device_id, ward, bed, assigned_at FROM device_assignments "
        "WHERE patient_id = ANY(%s) AND unassigned_at IS NULL ORDER BY assigned_at",
        (patient_ids,),
    )
    out: dict[int, list[dict]] = {i: [] for i in patient_ids}
    for r in rows:
        out[r.pop("patient_id")].append(r)
    return out


@requires("patients:read")
async def list_patients(request: web.Request) -> web.Response:
    query = request.query
    P.only_known(query, ("limit", "cursor", "ward"))
    api = request.app[SETTINGS].api
    limit = P.page_limit(query, api.page_size_default, api.page_size_max)
    after = P.decode_cursor(query, (int,))
    async with request.app[POOL].connection() as conn:
        rows = await fetch_all(
            conn,
            f"SELECT {_PATIENT_COLS} FROM patients WHERE id > %(after)s "
            "AND (%(ward)s::text IS NULL OR ward = %(ward)s) ORDER BY id LIMIT %(n)s",
            {"after": after[0] if after else 0, "ward": query.get("ward") or None, "n": limit + 1},
        )
        page = rows[:limit]
        devices = await _devices_of(conn, [r["id"] for r in page])
    for r in page:
        r["devices"] = devices[r["id"]]
    nxt = P.encode_cursor([page[-1]["id"]]) if len(rows) > limit else None
    return json_response({"items": page, "next_cursor": nxt})


@requires("patients:write")
async def create_patient(request: web.Request) -> web.Response:
    body = await json_body(request)
    fields = {k: _opt_text(body, k) for k in ("external_id", "name", "ward", "bed")}
    unknown = set(body) - {*fields, "thresholds"}
    if unknown:
        raise bad_param(sorted(unknown)[0], "unknown field")
    thresholds = validate_thresholds(body.get("thresholds", {}))
    async with request.app[POOL].connection() as conn, conn.transaction():
        try:
            row = await fetch_one(
                conn,
                f"INSERT INTO patients (external_id, name, ward, bed, thresholds) VALUES (%s, %s, %s, %s, %s) "
                f"RETURNING {_PATIENT_COLS}",
                (*fields.values(), Jsonb(thresholds)),
            )
        except psycopg.errors.UniqueViolation:
            raise conflict(f"a patient with external_id {fields['external_id']!r} exists") from None
        assert row is not None
        await audit(conn, current_token(request).actor, "patient.create", f"patient:{row['id']}", {})
    row["devices"] = []
    return json_response(row, status=201)


async def _patient(conn: psycopg.AsyncConnection, patient_id: int) -> dict:
    row = await fetch_one(conn, f"SELECT {_PATIENT_COLS} FROM patients WHERE id = %s", (patient_id,))
    if row is None:
        raise not_found(f"patient {patient_id}")
    row["devices"] = (await _devices_of(conn, [patient_id]))[patient_id]
    return row


@requires("patients:read")
async def get_patient(request: web.Request) -> web.Response:
    patient_id = P.path_int("id", request.match_info["id"])
    async with request.app[POOL].connection() as conn:
        return json_response(await _patient(conn, patient_id))


@requires("patients:write")
async def set_thresholds(request: web.Request) -> web.Response:
    patient_id = P.path_int("id", request.match_info["id"])
    thresholds = validate_thresholds(await json_body(request, "thresholds"))
    async with request.app[POOL].connection() as conn, conn.transaction():
        cur = await conn.execute("UPDATE patients SET thresholds = %s WHERE id = %s", (Jsonb(thresholds), patient_id))
        if cur.rowcount == 0:
            raise not_found(f"patient {patient_id}")
        await audit(conn, current_token(request).actor, "patient.thresholds", f"patient:{patient_id}", thresholds)
        return json_response(await _patient(conn, patient_id))


@requires("devices:write")
async def assign_device(request: web.Request) -> web.Response:
    patient_id = P.path_int("id", request.match_info["id"])
    body = await json_body(request)
    device_id = P.device_id("device_id", body.get("device_id"))
    ward, bed = _opt_text(body, "ward"), _opt_text(body, "bed")
    async with request.app[POOL].connection() as conn, conn.transaction():
        patient = await fetch_one(conn, "SELECT ward, bed FROM patients WHERE id = %s FOR UPDATE", (patient_id,))
        if patient is None:
            raise not_found(f"patient {patient_id}")
        if await fetch_one(conn, "SELECT 1 FROM devices WHERE device_id = %s", (device_id,)) is None:
            raise not_found(f"device {device_id}")
        ward, bed = ward or patient["ward"], bed or patient["bed"]
        try:
            async with conn.transaction():
                row = await fetch_one(
                    conn,
                    "INSERT INTO device_assignments (device_id, patient_id, ward, bed) VALUES (%s, %s, %s, %s) "
                    "RETURNING id, device_id, patient_id, ward, bed, assigned_at",
                    (device_id, patient_id, ward, bed),
                )
        except psycopg.errors.UniqueViolation:
            raise conflict(f"device {device_id} is already assigned; unassign it first") from None
        # The patient's location follows the latest assignment.
        await conn.execute("UPDATE patients SET ward = %s, bed = %s WHERE id = %s", (ward, bed, patient_id))
        await audit(conn, current_token(request).actor, "device.assign", f"device:{device_id}",
                    {"patient_id": patient_id, "ward": ward, "bed": bed})
    return json_response(row, status=201)


@requires("devices:write")
async def unassign_device(request: web.Request) -> web.Response:
    patient_id = P.path_int("id", request.match_info["id"])
    device_id = P.device_id("device_id", request.match_info["device_id"])
    async with request.app[POOL].connection() as conn, conn.transaction():
        row = await fetch_one(
            conn,
            "UPDATE device_assignments SET unassigned_at = now() WHERE patient_id = %s AND device_id = %s "
            "AND unassigned_at IS NULL RETURNING id, device_id, patient_id, ward, bed, assigned_at, unassigned_at",
            (patient_id, device_id),
        )
        if row is None:
            raise not_found(f"active assignment of device {device_id} to patient {patient_id}")
        await audit(conn, current_token(request).actor, "device.unassign", f"device:{device_id}",
                    {"patient_id": patient_id})
    return json_response(row)


_THRESHOLDS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {m: {"type": "object", "properties": {"low": {"type": "number"}, "high": {"type": "number"}}}
                   for m in THRESHOLD_BOUNDS},
}
_ASSIGNMENT = {"type": "object", "properties": {"device_id": DEVICE_ID, "ward": {"type": ["string", "null"]},
                                                "bed": {"type": ["string", "null"]},
                                                "assigned_at": {"type": "string", "format": "date-time"}}}
_PATIENT = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"}, "external_id": {"type": ["string", "null"]}, "name": {"type": ["string", "null"]},
        "ward": {"type": ["string", "null"]}, "bed": {"type": ["string", "null"]}, "thresholds": _THRESHOLDS,
        "devices": {"type": "array", "items": _ASSIGNMENT},
    },
}
_PID = p("id", {"type": "integer", "minimum": 1})
ROUTES = [
    Route("GET", "/api/v1/patients", list_patients, "List patients", "patients",
          (LIMIT, CURSOR, q("ward", "string")), response=page_of(_PATIENT)),
    Route("POST", "/api/v1/patients", create_patient, "Create a patient", "patients",
          body={"type": "object", "properties": {"external_id": {"type": "string"}, "name": {"type": "string"},
                                                 "ward": {"type": "string"}, "bed": {"type": "string"},
                                                 "thresholds": _THRESHOLDS}},
          response=_PATIENT, status=201),
    Route("GET", "/api/v1/patients/{id}", get_patient, "One patient with assigned devices", "patients", (_PID,),
          response=_PATIENT),
    Route("PUT", "/api/v1/patients/{id}/thresholds", set_thresholds, "Replace threshold overrides", "patients",
          (_PID,), body=_THRESHOLDS, response=_PATIENT),
    Route("POST", "/api/v1/patients/{id}/devices", assign_device, "Assign a device (ward, bed)", "patients", (_PID,),
          body={"type": "object", "required": ["device_id"],
                "properties": {"device_id": DEVICE_ID, "ward": {"type": "string"}, "bed": {"type": "string"}}},
          response=_ASSIGNMENT, status=201),
    Route("DELETE", "/api/v1/patients/{id}/devices/{device_id}", unassign_device, "Unassign a device", "patients",
          (_PID, p("device_id", DEVICE_ID)), response=_ASSIGNMENT),
]
