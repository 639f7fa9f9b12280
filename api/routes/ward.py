"""GET /api/v1/ward: one tile per monitored patient, sickest first (the dashboard's ward view)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp import web

from .. import params as P
from .. import vitals_query
from ..auth import requires
from ..db import fetch_all
from ..errors import json_response
from ..routing import Route, q
from ..state import POOL, SETTINGS
from ..ward import news2_of, sickest_first
from .alerts import ALERT_COLS, ALERT_FROM

TREND_WINDOW = timedelta(minutes=30)
TREND_BUCKET = timedelta(minutes=1)


@requires("patients:read")
async def ward_overview(request: web.Request) -> web.Response:
    query = request.query
    P.only_known(query, ("ward", "limit"))
    api = request.app[SETTINGS].api
    limit = P.page_limit(query, api.page_size_max, api.page_size_max)
    ward = query.get("ward") or None
    async with request.app[POOL].connection() as conn:
        patients = await fetch_all(
            conn,
            "SELECT p.id AS patient_id, p.external_id, p.name, COALESCE(a.ward, p.ward) AS ward, "
            "COALESCE(a.bed, p.bed) AS bed, a.device_id FROM device_assignments a JOIN patients p "
            "ON p.id = a.patient_id WHERE a.unassigned_at IS NULL "
            "AND (%(ward)s::text IS NULL OR COALESCE(a.ward, p.ward) = %(ward)s) "
            "ORDER BY p.id, a.assigned_at LIMIT %(n)s",
            {"ward": ward, "n": limit + 1},
        )
        truncated = len(patients) > limit
        patients = patients[:limit]
        devices = [r["device_id"] for r in patients]
        latest = await vitals_query.latest(conn, devices)
        since = datetime.now(UTC) - TREND_WINDOW
        trends = await vitals_query.trend(conn, devices, since, TREND_BUCKET)
        alerts = await fetch_all(
            conn, f"SELECT {ALERT_COLS} FROM {ALERT_FROM} WHERE al.status <> 'resolved' AND al.device_id = ANY(%s) "
            "ORDER BY al.opened_at DESC", (devices,))
    # A patient wearing two devices gets one tile (first device); the others are listed.
    tiles: dict[int, dict] = {}
    for row in patients:
        tile = tiles.get(row["patient_id"])
        if tile is not None:
            tile["other_devices"].append(row["device_id"])
            tile["alerts"] += [a for a in alerts if a["device_id"] == row["device_id"]]
            continue
        sample = latest.get(row["device_id"])
        tiles[row["patient_id"]] = {
            **row, "other_devices": [], "latest": sample, "news2": news2_of(sample),
            "trend": trends.get(row["device_id"], []),
            "alerts": [a for a in alerts if a["device_id"] == row["device_id"]],
        }
    return json_response({"ward": ward, "generated_at": datetime.now(UTC), "truncated": truncated,
                          "tiles": sickest_first(list(tiles.values()))})


ROUTES = [
    Route("GET", "/api/v1/ward", ward_overview, "Ward view: patients sickest first (NEWS2, open alerts)", "patients",
          (q("ward", "string", "one ward; default every ward"), q("limit", {"type": "integer", "minimum": 1})),
          response={"type": "object", "properties": {"tiles": {"type": "array", "items": {"type": "object"}}}}),
]
