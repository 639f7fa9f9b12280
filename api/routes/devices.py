"""Devices: list (with latest sample and assignment), provision, and their vitals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp import web

from vitalstream.records import METRICS

from .. import params as P
from .. import vitals_query
from ..auth import current_token, requires
from ..db import audit, fetch_all, fetch_one
from ..errors import bad_param, conflict, json_response, not_found
from ..routing import CURSOR, DEVICE_ID, LIMIT, TIME, Route, p, page_of, q
from ..state import POOL, SETTINGS

_DEVICE_SQL = """
SELECT d.device_id, d.label, d.created_at, d.last_seen_at,
       a.patient_id, a.ward, a.bed, a.assigned_at
FROM devices d
LEFT JOIN device_assignments a ON a.device_id = d.device_id AND a.unassigned_at IS NULL
"""


@requires("devices:read")
async def list_devices(request: web.Request) -> web.Response:
    query = request.query
    P.only_known(query, ("limit", "cursor", "ward"))
    api = request.app[SETTINGS].api
    limit = P.page_limit(query, api.page_size_default, api.page_size_max)
    after = P.decode_cursor(query, (str,))
    ward = query.get("ward") or None
    async with request.app[POOL].connection() as conn:
        rows = await fetch_all(
            conn,
            _DEVICE_SQL + " WHERE (%(after)s::text IS NULL OR d.device_id > %(after)s)"
            " AND (%(ward)s::text IS NULL OR a.ward = %(ward)s) ORDER BY d.device_id LIMIT %(n)s",
            {"after": after[0] if after else None, "ward": ward, "n": limit + 1},
        )
        page = rows[:limit]
        latest = await vitals_query.latest(conn, [r["device_id"] for r in page])
    for row in page:
        row["latest"] = latest.get(row["device_id"])
    nxt = P.encode_cursor([page[-1]["device_id"]]) if len(rows) > limit else None
    return json_response({"items": page, "next_cursor": nxt})


@requires("devices:read")
async def get_device(request: web.Request) -> web.Response:
    device_id = P.device_id("id", request.match_info["id"])
    P.only_known(request.query, ())
    async with request.app[POOL].connection() as conn:
        row = await fetch_one(conn, _DEVICE_SQL + " WHERE d.device_id = %s", (device_id,))
        if row is None:
            raise not_found(f"device {device_id}")
        row["latest"] = (await vitals_query.latest(conn, [device_id])).get(device_id)
    return json_response(row)


@requires("devices:write")
async def provision_device(request: web.Request) -> web.Response:
    body = await json_body(request)
    device_id = P.device_id("device_id", body.get("device_id"))
    label = body.get("label")
    if label is not None and (not isinstance(label, str) or len(label) > 200):
        raise bad_param("label", "expected a string of at most 200 characters")
    async with request.app[POOL].connection() as conn, conn.transaction():
        row = await fetch_one(
            conn,
            "INSERT INTO devices (device_id, label) VALUES (%s, %s) ON CONFLICT (device_id) DO NOTHING "
            "RETURNING device_id, label, created_at, last_seen_at",
            (device_id, label),
        )
        if row is None:
            raise conflict(f"device {device_id} already exists")
        await audit(conn, current_token(request).actor, "device.provision", f"device:{device_id}", {"label": label})
    return json_response(row, status=201)


@requires("vitals:read")
async def device_vitals(request: web.Request) -> web.Response:
    device_id = P.device_id("id", request.match_info["id"])
    query = request.query
    P.only_known(query, ("from", "to", "bucket", "limit", "cursor"))
    api = request.app[SETTINGS].api
    end = P.opt_time(query, "to") or datetime.now(UTC)
    start = P.opt_time(query, "from") or end - timedelta(hours=1)
    if start >= end:
        raise bad_param("from", "must be before `to`")
    bucket_name = P.opt_choice(query, "bucket", tuple(P.BUCKETS))
    token = current_token(request)
    async with request.app[POOL].connection() as conn:
        if bucket_name is not None:
            if "cursor" in query or "limit" in query:
                raise bad_param("cursor" if "cursor" in query else "limit", "not used with bucket")
            bucket = P.BUCKETS[bucket_name]
            if (end - start) / bucket > api.max_buckets:
                raise bad_param("from", f"range holds more than {api.max_buckets} {bucket_name} buckets")
            items = await vitals_query.bucketed(conn, device_id, start, end, bucket_name)
            doc = {"device_id": device_id, "bucket": bucket_name, "from": start, "to": end, "items": items}
        else:
            if (end - start).total_seconds() > api.raw_max_range_s:
                raise bad_param("from", f"raw range wider than {api.raw_max_range_s} s; give `bucket`")
            limit = P.page_limit(query, api.page_size_default, api.page_size_max)
            after = P.decode_cursor(query, (datetime, int))
            page = await vitals_query.raw_page(conn, device_id, start, end, limit, tuple(after) if after else None)
            nxt = P.encode_cursor(page.next_key) if page.next_key else None
            doc = {"device_id": device_id, "from": start, "to": end, "items": page.items, "next_cursor": nxt}
        # Reading patient data out of the system is an export: audited with the token's identity.
        detail = {"from": start.isoformat(), "to": end.isoformat(), "bucket": bucket_name, "rows": len(doc["items"])}
        await audit(conn, token.actor, "vitals.read", f"device:{device_id}", detail)
    return json_response(doc)


async def json_body(request: web.Request, name: str = "body") -> dict:
    """The request's JSON object; `name` is the parameter a 400 names (the body's meaning)."""
    try:
        body = await request.json()
    except ValueError:
        raise bad_param(name, "expected a JSON object") from None
    if not isinstance(body, dict):
        raise bad_param(name, "expected a JSON object")
    return body


_SAMPLE = {"type": "object", "properties": {"ts": {"type": "string", "format": "date-time"}, "seq": {"type": "integer"},
                                            **{m: {"type": ["number", "null"]} for m in METRICS}}}
_DEVICE = {
    "type": "object",
    "properties": {
        "device_id": DEVICE_ID, "label": {"type": ["string", "null"]},
        "created_at": {"type": "string"}, "last_seen_at": {"type": ["string", "null"]},
        "patient_id": {"type": ["integer", "null"]}, "ward": {"type": ["string", "null"]},
        "bed": {"type": ["string", "null"]}, "latest": {"oneOf": [_SAMPLE, {"type": "null"}]},
    },
}
ROUTES = [
    Route("GET", "/api/v1/devices", list_devices, "List devices with their latest sample", "devices",
          (LIMIT, CURSOR, q("ward", "string", "only devices assigned in this ward")), response=page_of(_DEVICE)),
    Route("POST", "/api/v1/devices", provision_device, "Provision a device", "devices",
          body={"type": "object", "required": ["device_id"],
                "properties": {"device_id": DEVICE_ID, "label": {"type": "string", "maxLength": 200}}},
          response=_DEVICE, status=201),
    Route("GET", "/api/v1/devices/{id}", get_device, "One device", "devices", (p("id", DEVICE_ID),),
          response=_DEVICE),
    Route("GET", "/api/v1/devices/{id}/vitals", device_vitals, "Vitals of a device: raw (paged) or bucketed",
          "vitals",
          (p("id", DEVICE_ID), q("from", TIME, "start (inclusive); default to - 1 h"),
           q("to", TIME, "end (exclusive); default now"),
           q("bucket", {"type": "string", "enum": list(P.BUCKETS)}, "aggregate per bucket (avg/min/max/count)"),
           LIMIT, CURSOR),
          response={"type": "object", "properties": {"items": {"type": "array"},
                                                     "next_cursor": {"type": ["string", "null"]}}}),
]
