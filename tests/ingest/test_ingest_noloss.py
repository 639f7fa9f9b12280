"""No loss: a gateway SIGKILLed twice mid-stream and restarted loses no sample.

The broker keeps the gateway's persistent session; what the killed process had taken but
not acknowledged (it acknowledges only after Kafka did) is redelivered to the restarted
one. `published` is the set of (device_id, seq) sent; the assertion compares it with what
is in the `vitals` topic then a worker stores them and the table holds exactly that many rows.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from tests.ingest.ingest_support import (
    GatewayProcess,
    gateway_env,
    publish_while_killing,
    start_mosquitto,
    wait_for_keys,
)
from tests.helpers import count_rows, wait_until
from vitalstream.config import Settings
from vitalstream.supervise import service_env, start_child, stop_children

SAMPLES = 20_000


@pytest.mark.slow
async def test_sigkill_twice_loses_nothing(tmp_path: Path, settings: Settings, topic_prefix: str,
                                           database_url: str) -> None:
    broker = start_mosquitto(tmp_path / "mqtt")  # unbounded session queue, as docs/ingest.md asks
    bootstrap = settings.core.kafka_bootstrap or ""
    gateway = GatewayProcess(
        gateway_env(mqtt_url=broker.url(), kafka_bootstrap=bootstrap, topic_prefix=topic_prefix),
        tmp_path,
    )
    try:
        await asyncio.to_thread(gateway.start)
        published = await asyncio.to_thread(
            publish_while_killing, gateway, broker.port, samples=SAMPLES, devices=40, rate_hz=2500,
            kill_at=(0.3, 0.65),
        )
        assert len(published) == SAMPLES and gateway.runs == 3
        keys, total = await wait_for_keys(bootstrap, f"{topic_prefix}vitals", SAMPLES, 120)
        missing = published - keys
        assert not missing, f"{len(missing)} samples lost, e.g. {sorted(missing)[:5]}"
        assert keys == published
        # Redelivery after a kill may duplicate a few records; storage dedups on (device_id, seq).
        assert total >= SAMPLES
        # After the worker has run, the table holds each sample exactly once.
        scoped = replace(settings, core=replace(settings.core, topic_prefix=topic_prefix, database_url=database_url))
        worker = start_child("worker", ["worker", "--storage-only"],
                             service_env(scoped, VITALSTREAM_WORKER_APP_ID="noloss"), tmp_path)
        try:
            await asyncio.to_thread(wait_until, lambda: count_rows(database_url) >= SAMPLES, 180,
                                    what="20,000 rows in vitals")
            await asyncio.sleep(2)
            assert count_rows(database_url) == SAMPLES
            assert count_rows(database_url, "SELECT count(DISTINCT (device_id, seq)) FROM vitals") == SAMPLES
        finally:
            stop_children([worker])
        assert gateway.terminate() == 0  # and the last one stops cleanly on SIGTERM
        log = (tmp_path / "gateway-3.log").read_text()
        assert "gateway stopped" in log, log[-2000:]
    finally:
        gateway.terminate()
        broker.stop()
