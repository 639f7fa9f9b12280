"""Ward ordering (pure) and the ward endpoint: the sickest patient comes first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.ward import news2_of, sickest_first

from .conftest import auth, open_alert, seed_patient, seed_vitals


def test_news2_of_a_wearable_sample():
    score = news2_of({"hr": 135, "spo2": 90, "rr": 26, "temp": 39.5, "sbp": 88})
    assert score["total"] == 3 + 3 + 3 + 2 + 3 and score["risk"] == "high"
    assert news2_of({"activity": 0.1}) is None and news2_of(None) is None


def test_sickest_first():
    calm = {"patient_id": 1, "news2": {"total": 0, "risk": "low"}, "alerts": []}
    alerting = {"patient_id": 2, "news2": {"total": 1, "risk": "low"},
                "alerts": [{"severity": "high", "status": "open"}]}
    medium = {"patient_id": 3, "news2": {"total": 5, "risk": "medium"}, "alerts": []}
    red = {"patient_id": 4, "news2": {"total": 3, "risk": "low-medium"}, "alerts": []}
    unknown = {"patient_id": 5, "news2": None, "alerts": []}
    order = [t["patient_id"] for t in sickest_first([calm, unknown, red, medium, alerting])]
    assert order == [2, 3, 4, 1, 5]


async def test_ward_endpoint_orders_tiles(client, conn, role_tokens):
    calm = await seed_patient(conn, "Calm", bed="1", device_id="d-calm")
    sick = await seed_patient(conn, "Sick", bed="2", device_id="d-sick")
    recent = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    await seed_vitals(conn, "d-calm", recent, 5)
    await seed_vitals(conn, "d-sick", recent, 5, hr=135.0, spo2=89.0, rr=26.0)
    await open_alert(conn, "d-sick")
    body = await (await client.get("/api/v1/ward?ward=A", headers=auth(role_tokens["clinician"]))).json()
    assert [t["patient_id"] for t in body["tiles"]] == [sick, calm]
    top = body["tiles"][0]
    assert top["news2"]["risk"] == "high" and top["alerts"][0]["severity"] == "high" and top["trend"]
