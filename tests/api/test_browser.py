"""The dashboard in a real headless Chromium against the running API and PostgreSQL:
sign in with a token, watch a tile update live, acknowledge an alert, check the database."""

from __future__ import annotations

import asyncio
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from .cdp import chromium, chromium_binary
from .conftest import open_alert, seed_patient, seed_vitals, touch_device

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(chromium_binary() is None, reason="chromium not installed")]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "dashboard.png"


async def seed_history(conn, device_id: str, now: datetime, **trends: tuple[float, float]) -> None:
    """Six hours at one sample a minute drifting from start to end values, with some wobble."""
    n = 360
    await seed_vitals(conn, device_id, now - timedelta(minutes=n), 0)
    rows = []
    for i in range(n):
        f = i / (n - 1)
        wobble = math.sin(i / 7.0)
        vals = {k: round(a + (b - a) * f + wobble * (0.1 if k == "temp" else 1.5), 1) for k, (a, b) in trends.items()}
        vals["spo2"] = min(100.0, vals["spo2"])
        rows.append((device_id, now - timedelta(minutes=n - i), i, vals["hr"], vals["spo2"], vals["rr"], vals["temp"],
                     118 + 4 * wobble, 78 + 2 * wobble))
    async with conn.cursor() as cur:
        await cur.executemany("INSERT INTO vitals (device_id, ts, seq, hr, spo2, rr, temp, sbp, dbp) "
                              "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", rows)
    await touch_device(conn, device_id, rows[-1][1])


async def test_dashboard_login_live_tile_and_acknowledge(client, conn, role_tokens, tmp_path):
    now = datetime.now(UTC).replace(microsecond=0)
    ada = await seed_patient(conn, "Ada Lovelace", ward="4B", bed="12", device_id="watch-ada")
    bob = await seed_patient(conn, "Bob Stable", ward="4B", bed="3", device_id="watch-bob")
    cyd = await seed_patient(conn, "Cyd Febrile", ward="4B", bed="7", device_id="watch-cyd")
    await seed_history(conn, "watch-ada", now, hr=(88, 112), spo2=(96, 91), rr=(16, 23), temp=(37.0, 37.4))
    await seed_history(conn, "watch-bob", now, hr=(72, 76), spo2=(97, 97), rr=(14, 14), temp=(36.8, 36.7))
    await seed_history(conn, "watch-cyd", now, hr=(80, 96), spo2=(96, 96), rr=(15, 18), temp=(37.2, 38.6))
    alert_id = await open_alert(conn, "watch-ada", ts=now - timedelta(minutes=3),
                                summary="SpO2 91 % and RR 23 for 5 min; NEWS2 7")
    base = str(client.make_url("/"))
    async with chromium() as page:
        await page.send("Page.navigate", url=base)
        await page.wait_for("document.getElementById('login-form') !== null")
        # Sign in through the form, as a nurse would.
        await page.js("document.getElementById('token').focus()")
        await page.send("Input.insertText", text=role_tokens["clinician"])
        await page.js("document.querySelector('#login-form button[type=submit]').click()")
        await page.wait_for("document.querySelectorAll('.tile').length === 3")
        order = await page.js("[...document.querySelectorAll('.tile')].map(t => +t.dataset.patientId)")
        assert order[0] == ada  # the sickest (NEWS2 high + open high alert) first
        assert set(order) == {ada, bob, cyd}
        assert await page.js("sessionStorage.getItem('vitalstream.token') !== null")
        await page.wait_for("document.getElementById('live-state').textContent === 'live'")
        # A new sample arrives in the database: the tile shows it without a reload.
        await seed_vitals(conn, "watch-bob", datetime.now(UTC), 1, seq0=1000, hr=131.0)
        hr = f"document.querySelector('.tile[data-patient-id=\"{bob}\"] [data-vital=hr] .v').textContent"
        assert await page.wait_for(f"{hr} === '131' && {hr}") == "131"
        await asyncio.sleep(1.2)  # let the update highlight fade before the picture
        await page.screenshot(SCREENSHOT)
        # Patient view: charts from the bucketed aggregates and the alert history.
        await page.js(f"document.querySelector('.tile[data-patient-id=\"{ada}\"]').click()")
        button = f"document.querySelector('button[data-action=ack][data-alert-id=\"{alert_id}\"]')"
        await page.wait_for(f"{button} !== null && !{button}.disabled")
        # The charts load their aggregates independently of the alert history: wait for them.
        assert await page.wait_for("document.querySelectorAll('[data-chart]').length >= 4")
        await page.js(f"{button}.click()")
        row = f"document.querySelector('tr[data-alert-id=\"{alert_id}\"]')"
        await page.wait_for(f"{row} && {row}.dataset.status === 'acknowledged'")
        await page.screenshot(SCREENSHOT.with_name("dashboard-patient.png"))
        assert not [c for c in page.console if "Error" in c], page.console
    cur = await conn.execute("SELECT status, acknowledged_by FROM alerts WHERE id = %s", (alert_id,))
    status, by = await cur.fetchone()
    assert status == "acknowledged" and by.endswith(":test-clinician")
    cur = await conn.execute("SELECT actor FROM audit_log WHERE action = 'alert.ack' AND target = %s",
                             (f"alert:{alert_id}",))
    assert [r[0] for r in await cur.fetchall()] == [by]
    assert SCREENSHOT.stat().st_size > 10_000
    assert json.loads(json.dumps(order))  # order came back as plain ids
