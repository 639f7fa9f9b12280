"""Health, metrics, JSON errors for unknown routes/methods, dashboard headers."""

from __future__ import annotations

from .conftest import auth


async def test_metrics_count_requests_by_route_template(client, role_tokens):
    h = auth(role_tokens["clinician"])
    for dev in ("a", "b", "c"):
        await client.get(f"/api/v1/devices/{dev}/vitals?bucket=1m", headers=h)
    await client.get("/api/v1/webhooks", headers=h)  # 403
    text = await (await client.get("/metrics")).text()
    line = 'vitalstream_api_requests_total{route="/api/v1/devices/{id}/vitals",method="GET",status="200"} 3'
    assert line in text
    assert 'vitalstream_api_auth_failures_total{status="403"} 1' in text
    assert "vitalstream_api_request_seconds_bucket{" in text and "vitalstream_api_live_clients 0" in text
    assert "/devices/a/" not in text  # concrete ids never become labels


async def test_unknown_routes_and_methods_answer_json(client, role_tokens):
    resp = await client.get("/api/v1/nothing-here")
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
    resp = await client.delete("/api/v1/alerts", headers=auth(role_tokens["admin"]))
    assert resp.status == 405 and (await resp.json())["error"]["code"]


async def test_dashboard_is_self_contained(client):
    resp = await client.get("/")
    html = await resp.text()
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    assert "http://" not in html and "https://" not in html  # no CDN, no external resources
    for asset in ("/static/app.js", "/static/style.css"):
        body = (await (await client.get(asset)).text()).replace("http://www.w3.org/2000/svg", "")  # a namespace
        assert "http://" not in body and "https://" not in body
