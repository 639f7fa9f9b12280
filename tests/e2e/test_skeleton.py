"""Walking skeleton: MQTT → gateway → Kafka → faust worker → PostgreSQL, real processes."""

from __future__ import annotations

import time

import psycopg
import pytest

from tests.helpers import count_rows, publish_qos1, sample_payload, wait_until
from vitalstream.supervise import service_env, start_child, stop_children


@pytest.fixture
def pipeline(scoped_settings, tmp_path):
    prefix = scoped_settings.core.topic_prefix.rstrip(".")
    env = service_env(scoped_settings, VITALSTREAM_WORKER_APP_ID="skeleton",
                      VITALSTREAM_GATEWAY_CLIENT_ID=f"gw-{prefix}")
    children = [start_child("worker", ["worker"], env, tmp_path),
                start_child("gateway", ["gateway"], env, tmp_path)]
    # QoS 1 messages published before the gateway's first subscription have no session to queue in.
    wait_until(lambda: "subscribed" in children[1].log_path.read_text(), 60, what="the gateway's subscription")
    yield scoped_settings
    stop_children(children)
    for child in children:
        print(f"--- {child.name} log tail ---\n" + child.log_path.read_text()[-3000:])


def test_thousand_samples_stored_once_with_their_values(pipeline):
    settings = pipeline
    url = settings.core.database_url
    now = int(time.time() * 1000)
    payloads = [sample_payload(f"dev-{d:04d}", seq, now - (100 - seq) * 1000) for d in range(10) for seq in range(100)]
    publish_qos1(settings.core.mqtt_url, settings.core.mqtt_topic_root, payloads)
    wait_until(lambda: count_rows(url) >= 1000, 120, what="1000 rows in vitals")

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT device_id, seq, (extract(epoch FROM ts) * 1000)::bigint, hr, spo2, rr, temp, sbp, dbp, activity "
            "FROM vitals ORDER BY device_id, seq").fetchall()
    assert len(rows) == 1000
    expected = sorted((p["device_id"], p["seq"], p["ts"], p["hr"], p["spo2"], p["rr"], p["temp"], p["sbp"], p["dbp"],
                       p["activity"]) for p in payloads)
    assert [tuple(r) for r in rows] == expected

    # A redelivery of 50 samples stores nothing new.
    publish_qos1(settings.core.mqtt_url, settings.core.mqtt_topic_root, payloads[:50])
    marker = sample_payload("dev-marker", 0, now)  # proves the worker got past the redelivered ones
    publish_qos1(settings.core.mqtt_url, settings.core.mqtt_topic_root, [marker])
    wait_until(lambda: count_rows(url) == 1001, 60, what="the marker row")
    assert count_rows(url, "SELECT count(*) FROM vitals WHERE device_id <> 'dev-marker'") == 1000
