"""Small helpers shared by integration tests (real services only)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable

import paho.mqtt.client as mqtt
import psycopg

from vitalstream.mqtturl import parse_mqtt_url


def wait_until(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.25, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what or predicate}")


def sample_payload(device_id: str, seq: int, ts_ms: int) -> dict:
    """A plausible single-sample payload whose values are derivable from (device, seq)."""
    return {"device_id": device_id, "seq": seq, "ts": ts_ms, "hr": 60 + seq % 40, "spo2": 95 + seq % 5,
            "rr": 12 + seq % 6, "temp": 36.5, "sbp": 120, "dbp": 80, "activity": 0.1}


def publish_qos1(mqtt_url: str, topic_root: str, payloads: Iterable[dict], *, max_inflight: int = 500) -> int:
    """Publish payloads at QoS 1 and wait until the broker acknowledged every one."""
    target = parse_mqtt_url(mqtt_url)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="", protocol=mqtt.MQTTv311)
    if target.username:
        client.username_pw_set(target.username, target.password)
    client.max_inflight_messages_set(max_inflight)
    client.connect(target.host, target.port)
    client.loop_start()
    infos = []
    try:
        for payload in payloads:
            topic = f"{topic_root}/{payload['device_id']}"
            infos.append(client.publish(topic, json.dumps(payload), qos=1))
        for info in infos:
            info.wait_for_publish(timeout=60)
            assert info.is_published()
    finally:
        client.loop_stop()
        client.disconnect()
    return len(infos)


def count_rows(database_url: str, sql: str = "SELECT count(*) FROM vitals", params: tuple = ()) -> int:
    with psycopg.connect(database_url) as conn:
        return int(conn.execute(sql, params).fetchone()[0])
