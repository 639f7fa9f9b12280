"""GET /fhir/Observation: vitals exported as a FHIR R4 searchset Bundle (paged)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from aiohttp import web

from vitalstream.records import METRICS

from .. import fhir
from .. import params as P
from ..auth import current_token, requires
from ..db import audit, fetch_all
from ..errors import ApiError, bad_param, dumps
from ..routing import Param, Route, q
from ..state import POOL, SETTINGS

_DATE = re.compile(r"^(eq|ge|gt|le|lt)?(.+)$")
_COLS = ", ".join(f"v.{m}" for m in METRICS)


def parse_dates(values: list[str]) -> tuple[datetime, datetime]:
    """FHIR `date` search (one or two values with ge/gt/le/lt/eq prefixes) → [start, end)."""
    if len(values) > 2:
        raise bad_param("date", "give at most two date values (a lower and an upper bound)")
    start: datetime | None = None
    end: datetime | None = None
    for raw in values:
        match = _DATE.fullmatch(raw)
        if match is None:
            raise bad_param("date", f"not a FHIR date search value: {raw!r}")
        prefix, text = match.groups()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):  # a whole day (UTC)
            try:
                lo = datetime.fromisoformat(text).replace(tzinfo=UTC)
            except ValueError:
                raise bad_param("date", f"not a date: {text!r}") from None
            hi = lo + timedelta(days=1)
        else:
            lo = hi = P.parse_time("date", text)
        prefix = prefix or "eq"
        if prefix in ("ge", "gt"):
            start = lo if prefix == "ge" else hi
        elif prefix in ("le", "lt"):
            end = hi if prefix == "le" else lo
            if prefix == "le" and lo == hi:
                end = hi + timedelta(microseconds=1)
        else:
            start, end = lo, (hi if hi > lo else hi + timedelta(microseconds=1))
    end = end or datetime.now(UTC)
    start = start or end - timedelta(days=1)
    if start >= end:
        raise bad_param("date", "the lower bound must be before the upper bound")
    return start, end


def _operation_outcome(exc: ApiError) -> web.Response:
    doc = {"resourceType": "OperationOutcome",
           "issue": [{"severity": "error", "code": "invalid", "diagnostics": exc.message,
                      **({"expression": [exc.param]} if exc.param else {})}],
           **exc.body()}
    return web.Response(text=dumps(doc), status=exc.status, content_type="application/fhir+json")


@requires("fhir:read")
async def search_observations(request: web.Request) -> web.Response:
    try:
        return await _search(request)
    except ApiError as exc:
        if exc.status == 400:
            return _operation_outcome(exc)
        raise


async def _search(request: web.Request) -> web.Response:
    query = request.query
    P.only_known(query, ("patient", "subject", "device", "date", "_count", "_cursor", "_format"))
    patient_raw = query.get("patient") or query.get("subject")
    device_raw = query.get("device")
    if bool(patient_raw) == bool(device_raw):
        raise bad_param("patient", "give exactly one of patient or device")
    api = request.app[SETTINGS].api
    count = P.opt_int(query, "_count", lo=1, hi=api.page_size_max) or api.page_size_default
    start, end = parse_dates(query.getall("date", []))
    after = P.decode_cursor({"_cursor": query.get("_cursor", "")}, (datetime, str, int), name="_cursor")
    args: dict = {"start": start, "end": end, "n": count + 1,
                  "a_ts": after[0] if after else None, "a_dev": after[1] if after else "",
                  "a_seq": after[2] if after else -1}
    page_sql = "AND (%(a_ts)s::timestamptz IS NULL OR (v.ts, v.device_id, v.seq) > (%(a_ts)s, %(a_dev)s, %(a_seq)s))"
    if patient_raw:
        text = patient_raw.removeprefix("Patient/")
        args["patient"] = P.path_int("patient", text)
        sql = (f"SELECT v.device_id, v.ts, v.seq, {_COLS}, a.patient_id FROM device_assignments a "
               "JOIN vitals v ON v.device_id = a.device_id AND v.ts >= a.assigned_at "
               "AND (a.unassigned_at IS NULL OR v.ts < a.unassigned_at) "
               "WHERE a.patient_id = %(patient)s AND v.ts >= %(start)s AND v.ts < %(end)s ")
        target = f"patient:{args['patient']}"
    else:
        args["device"] = P.device_id("device", device_raw.removeprefix("Device/"))
        sql = (f"SELECT v.device_id, v.ts, v.seq, {_COLS}, a.patient_id FROM vitals v "
               "LEFT JOIN LATERAL (SELECT patient_id FROM device_assignments x WHERE x.device_id = v.device_id "
               "AND x.assigned_at <= v.ts AND (x.unassigned_at IS NULL OR v.ts < x.unassigned_at) "
               "ORDER BY x.assigned_at DESC LIMIT 1) a ON true "
               "WHERE v.device_id = %(device)s AND v.ts >= %(start)s AND v.ts < %(end)s ")
        target = f"device:{args['device']}"
    sql += page_sql + " ORDER BY v.ts, v.device_id, v.seq LIMIT %(n)s"
    async with request.app[POOL].connection() as conn:
        rows = await fetch_all(conn, sql, args)
        page = rows[:count]
        await audit(conn, current_token(request).actor, "fhir.export", target,
                    {"from": start.isoformat(), "to": end.isoformat(), "samples": len(page)})
    base = f"{request.scheme}://{request.host}"
    self_url = str(request.url)
    next_url = None
    if len(rows) > count:
        last = page[-1]
        params = [(k, v) for k, v in query.items() if k != "_cursor"]
        params.append(("_cursor", P.encode_cursor([last["ts"], last["device_id"], last["seq"]])))
        next_url = f"{base}/fhir/Observation?{urlencode(params)}"
    doc = fhir.bundle(base, page, self_url, next_url)
    return web.Response(text=dumps(doc), content_type="application/fhir+json")


ROUTES = [
    Route("GET", "/fhir/Observation", search_observations,
          "FHIR R4 searchset Bundle of vital-signs Observations", "fhir",
          (q("patient", "string", "Patient id (or Patient/id); exactly one of patient/device"),
           q("subject", "string", "same as patient (Patient/id)"),
           q("device", "string", "device id (or Device/id)"),
           Param("date", "query", {"type": "array", "items": {"type": "string"}},
                 "FHIR date search, e.g. date=ge2026-01-01T00:00:00Z&date=lt2026-01-02; default: last 24 h"),
           q("_count", {"type": "integer", "minimum": 1}, "samples per page (each gives up to 5 Observations)"),
           q("_cursor", "string", "from the Bundle's next link"),
           q("_format", "string", "accepted and ignored: the answer is always application/fhir+json")),
          response={"type": "object", "description": "FHIR Bundle (type searchset)"},
          content_type="application/fhir+json", strict_query=False),
]
