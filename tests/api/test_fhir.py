"""FHIR export validated with fhir.resources' R4B models (R4-compatible vital signs), not strings."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation

from api import fhir
from api.routes.fhir import parse_dates

from .conftest import T0, auth, seed_patient, seed_vitals

LOINC, UCUM = "http://loinc.org", "http://unitsofmeasure.org"


def codes(obs: Observation) -> set[str]:
    return {c.code for c in obs.code.coding if c.system == LOINC}


def test_one_sample_maps_to_five_valid_observations():
    row = {"device_id": "dev-1", "seq": 7, "ts": T0, "hr": 72.0, "spo2": 97.5, "rr": 14.0, "temp": 36.7,
           "sbp": 121.0, "dbp": 79.0, "activity": 0.1, "patient_id": 5}
    obs = [Observation.model_validate(o) for o in fhir.observations(row)]
    by_code = {frozenset(codes(o)): o for o in obs}
    assert set(by_code) == {frozenset({"8867-4"}), frozenset({"2708-6", "59408-5"}), frozenset({"9279-1"}),
                            frozenset({"8310-5"}), frozenset({"85354-9"})}
    units = {o.code.coding[0].code: (o.valueQuantity.code, o.valueQuantity.system) for o in obs
             if o.valueQuantity is not None}
    assert units == {"8867-4": ("/min", UCUM), "2708-6": ("%", UCUM), "9279-1": ("/min", UCUM),
                     "8310-5": ("Cel", UCUM)}
    bp = by_code[frozenset({"85354-9"})]
    assert bp.valueQuantity is None
    comps = {c.code.coding[0].code: (c.valueQuantity.value, c.valueQuantity.code) for c in bp.component}
    assert comps == {"8480-6": (121.0, "mm[Hg]"), "8462-4": (79.0, "mm[Hg]")}
    for o in obs:
        assert o.status == "final" and o.category[0].coding[0].code == "vital-signs"
        assert o.subject.reference == "Patient/5" and o.device.reference == "Device/dev-1"


def test_missing_metrics_are_left_out_and_underscored_devices_use_identifiers():
    row = {"device_id": "dev_1", "seq": 1, "ts": T0, "hr": 80.0, "spo2": None, "rr": None, "temp": None,
           "sbp": None, "dbp": 70.0, "activity": None, "patient_id": None}
    obs = [Observation.model_validate(o) for o in fhir.observations(row)]
    assert len(obs) == 2 and obs[0].subject is None
    assert obs[0].device.reference is None and obs[0].device.identifier.value == "dev_1"
    assert [c.code.coding[0].code for c in obs[1].component] == ["8462-4"]


def test_fhir_date_search():
    lo, hi = parse_dates(["ge2026-03-01T00:00:00Z", "lt2026-03-02T00:00:00Z"])
    assert (hi - lo) == timedelta(days=1)
    lo, hi = parse_dates(["2026-03-01"])
    assert lo.isoformat().startswith("2026-03-01T00:00") and hi - lo == timedelta(days=1)


async def test_search_by_patient_returns_a_valid_paged_searchset(client, conn, role_tokens):
    pid = await seed_patient(conn, "Ada", device_id="dev-1")
    await seed_vitals(conn, "dev-1", T0, 30)
    await seed_vitals(conn, "dev-2", T0, 5)  # someone else's device: never in this export
    h = auth(role_tokens["integrator"])
    url = f"/fhir/Observation?patient={pid}&date=ge2026-03-01T11:00:00Z&date=lt2026-03-01T13:00:00Z&_count=20"
    total, pages = 0, 0
    while url:
        resp = await client.get(url, headers=h)
        assert resp.status == 200, await resp.text()
        assert resp.content_type == "application/fhir+json"
        bundle = Bundle.model_validate(await resp.json())
        assert bundle.type == "searchset"
        for entry in bundle.entry or []:
            obs = Observation.model_validate(entry.resource.model_dump())
            assert obs.subject.reference == f"Patient/{pid}" and obs.device.identifier.value == "dev-1"
            total += 1
        nxt = [link.url for link in bundle.link if link.relation == "next"]
        url = nxt[0].split("://", 1)[1].split("/", 1)[1] if nxt else None
        url = "/" + url if url else None
        pages += 1
    assert pages == 2 and total == 30 * 5
    cur = await conn.execute("SELECT actor, target FROM audit_log WHERE action = 'fhir.export'")
    rows = await cur.fetchall()
    assert len(rows) == 2 and all(t == f"patient:{pid}" and a.endswith("test-integrator") for a, t in rows)


async def test_search_by_device(client, conn, role_tokens):
    await seed_vitals(conn, "dev-9", T0, 2, hr=None, spo2=None, rr=None, temp=None)
    resp = await client.get("/fhir/Observation?device=dev-9&date=2026-03-01", headers=auth(role_tokens["admin"]))
    bundle = Bundle.model_validate(await resp.json())
    assert len(bundle.entry) == 2 and all(codes(e.resource) == {"85354-9"} for e in bundle.entry)


@pytest.mark.parametrize("query,param", [
    ("", "patient"), ("patient=1&device=d", "patient"), ("patient=abc", "patient"), ("device=a%20b", "device"),
    ("device=d&date=ge2026-99-01", "date"), ("device=d&_count=0", "_count"), ("device=d&code=1", "code"),
    ("device=d&date=", "date"), ("device=d&_cursor=nonsense", "_cursor"),
])
async def test_bad_fhir_parameters_give_an_operation_outcome(client, role_tokens, query, param):
    resp = await client.get(f"/fhir/Observation?{query}", headers=auth(role_tokens["integrator"]))
    assert resp.status == 400
    doc = await resp.json()
    assert doc["resourceType"] == "OperationOutcome" and doc["error"]["param"] == param


async def test_subject_follows_the_assignment_at_the_sample_time(client, conn, role_tokens):
    """A wearable moved from patient A to patient B: each sample belongs to whoever wore it."""
    a = await seed_patient(conn, "A")
    b = await seed_patient(conn, "B")
    await seed_vitals(conn, "moved-1", T0, 20, step_s=60)  # 12:00 .. 12:19
    switch = T0 + timedelta(minutes=10)
    await conn.execute("INSERT INTO device_assignments (device_id, patient_id, assigned_at, unassigned_at) "
                       "VALUES ('moved-1', %s, %s, %s)", (a, T0 - timedelta(hours=1), switch))
    await conn.execute("INSERT INTO device_assignments (device_id, patient_id, assigned_at) "
                       "VALUES ('moved-1', %s, %s)", (b, switch))
    h = auth(role_tokens["integrator"])
    by_device = Bundle.model_validate(await (await client.get(
        "/fhir/Observation?device=moved-1&date=2026-03-01&_count=100", headers=h)).json())
    subjects = [e.resource.subject.reference for e in by_device.entry if "8867-4" in codes(e.resource)]
    assert subjects == [f"Patient/{a}"] * 10 + [f"Patient/{b}"] * 10
    for pid, n in ((a, 10), (b, 10)):
        bundle = Bundle.model_validate(await (await client.get(
            f"/fhir/Observation?patient=Patient/{pid}&date=2026-03-01", headers=h)).json())
        assert len(bundle.entry) == n * 5
        assert {e.resource.subject.reference for e in bundle.entry} == {f"Patient/{pid}"}


async def test_unassigned_device_exports_valid_observations_with_device_and_no_subject(client, conn, role_tokens):
    """FHIR R4 Observation.subject is 0..1: a sample nobody was assigned to wear is exported
    with its `device` and without a `subject` (never a guessed patient); each Observation and
    the Bundle validate as R4. Samples after an assignment carry the patient as well."""
    await seed_vitals(conn, "loose-1", T0, 4, step_s=60)  # all five vitals, 12:00 .. 12:03
    pid = await seed_patient(conn, "Late")
    await conn.execute("INSERT INTO device_assignments (device_id, patient_id, assigned_at) "
                       "VALUES ('loose-1', %s, %s)", (pid, T0 + timedelta(minutes=2)))
    resp = await client.get("/fhir/Observation?device=loose-1&date=2026-03-01&_count=100",
                            headers=auth(role_tokens["integrator"]))
    assert resp.status == 200
    raw = await resp.json()
    bundle = Bundle.model_validate(raw)
    assert len(bundle.entry) == 4 * 5
    assert ["subject" in e["resource"] for e in raw["entry"]] == [False] * 10 + [True] * 10  # absent, not null
    subjects = []
    for entry in bundle.entry:
        obs = Observation.model_validate(entry.resource.model_dump())
        assert obs.device.reference == "Device/loose-1"
        assert obs.device.identifier.system == fhir.DEVICE_SYSTEM and obs.device.identifier.value == "loose-1"
        subjects.append(obs.subject.reference if obs.subject is not None else None)
    assert subjects == [None] * 10 + [f"Patient/{pid}"] * 10
