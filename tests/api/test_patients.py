"""Patients: create/list/get, threshold overrides (validated), assign/unassign devices."""

from __future__ import annotations

import pytest

from .conftest import auth, seed_device


async def test_patient_lifecycle(client, conn, role_tokens):
    admin = auth(role_tokens["admin"])
    resp = await client.post("/api/v1/patients", json={"external_id": "MRN-1", "name": "Ada Lovelace",
                                                       "ward": "4B", "bed": "12"}, headers=admin)
    assert resp.status == 201, await resp.text()
    pid = (await resp.json())["id"]
    assert (await client.post("/api/v1/patients", json={"external_id": "MRN-1"}, headers=admin)).status == 409
    # thresholds
    resp = await client.put(f"/api/v1/patients/{pid}/thresholds", json={"spo2": {"low": 88}}, headers=admin)
    assert resp.status == 200 and (await resp.json())["thresholds"] == {"spo2": {"low": 88.0}}
    cur = await conn.execute("SELECT thresholds FROM patients WHERE id = %s", (pid,))
    assert (await cur.fetchone())[0] == {"spo2": {"low": 88.0}}
    # assignment by a device-admin
    await seed_device(conn, "w-1")
    dev_admin = auth(role_tokens["device-admin"])
    resp = await client.post(f"/api/v1/patients/{pid}/devices", json={"device_id": "w-1", "bed": "14"},
                             headers=dev_admin)
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["ward"] == "4B"
    assert (await client.post(f"/api/v1/patients/{pid}/devices", json={"device_id": "w-1"},
                              headers=dev_admin)).status == 409
    clinician = auth(role_tokens["clinician"])
    got = await (await client.get(f"/api/v1/patients/{pid}", headers=clinician)).json()
    assert got["bed"] == "14" and [d["device_id"] for d in got["devices"]] == ["w-1"]
    listing = await (await client.get("/api/v1/patients?ward=4B", headers=clinician)).json()
    assert [p["id"] for p in listing["items"]] == [pid]
    resp = await client.delete(f"/api/v1/patients/{pid}/devices/w-1", headers=dev_admin)
    assert resp.status == 200 and (await resp.json())["unassigned_at"]
    got = await (await client.get(f"/api/v1/patients/{pid}", headers=clinician)).json()
    assert got["devices"] == []
    assert (await client.delete(f"/api/v1/patients/{pid}/devices/w-1", headers=dev_admin)).status == 404
    assert (await client.get("/api/v1/patients/424242", headers=clinician)).status == 404


@pytest.mark.parametrize("body,param", [
    ({"spo2": {"low": 130}}, "thresholds.spo2.low"), ({"pulse": {"low": 40}}, "thresholds.pulse"),
    ({"hr": {"low": 120, "high": 100}}, "thresholds.hr"), ({"hr": {"mid": 1}}, "thresholds.hr"),
    ({"hr": {"low": True}}, "thresholds.hr.low"), ([1], "thresholds"),
])
async def test_bad_thresholds(client, role_tokens, conn, body, param):
    admin = auth(role_tokens["admin"])
    pid = (await (await client.post("/api/v1/patients", json={"name": "x"}, headers=admin)).json())["id"]
    resp = await client.put(f"/api/v1/patients/{pid}/thresholds", json=body, headers=admin)
    assert resp.status == 400 and (await resp.json())["error"]["param"] == param


async def test_patient_pages(client, role_tokens):
    admin = auth(role_tokens["admin"])
    ids = [(await (await client.post("/api/v1/patients", json={"name": f"p{i}"}, headers=admin)).json())["id"]
           for i in range(5)]
    got, cursor = [], None
    while True:
        page = await (await client.get("/api/v1/patients?limit=2" + (f"&cursor={cursor}" if cursor else ""),
                                       headers=admin)).json()
        got += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert got == ids
    resp = await client.post("/api/v1/patients", json={"name": "x", "age": 3}, headers=admin)
    assert resp.status == 400 and (await resp.json())["error"]["param"] == "age"
