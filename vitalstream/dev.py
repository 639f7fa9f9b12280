"""`vitalstream dev`: the whole pipeline on one machine, on embedded defaults.

Starts whatever service is not configured (PostgreSQL, Kafka, MQTT), migrates, creates
the topics, runs gateway, worker, alert dispatcher and API as child processes (and a
simulated fleet with --devices N), prints where everything is and, every few seconds,
how many samples were received and stored. Ctrl-C stops all of it, leaving nothing behind.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import signal
import time
import urllib.request
from dataclasses import replace
from typing import Any

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    p = sub.add_parser("dev", help="the whole pipeline on embedded defaults; Ctrl-C stops it all")
    p.add_argument("--devices", type=int, default=0, help="also run a simulated fleet of N devices")
    p.add_argument("--rate", type=float, default=1.0, help="samples per second per simulated device")
    p.add_argument("--scenario", default="default", help="simulator scenario (see docs/simulators.md)")
    # Busier than real wards (~3 events per patient-day) so alerts show up within minutes.
    p.add_argument("--event-rates", default="desaturation=12,tachycardia=8,fever=4,sensor_off=6",
                   help="simulated events per patient-day (demo default; '' for the scenario's own)")
    p.add_argument("--duration", type=float, default=0, help="stop after S seconds (0: run until Ctrl-C)")
    p.add_argument("--no-api", action="store_true", help="do not start the API and dashboard")
    p.set_defaults(func=run)


def _metric(url: str, name: str) -> float | None:
    """Sum of a Prometheus metric's samples (all label sets) from a /metrics endpoint."""
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - our own loopback endpoint
            text = resp.read().decode()
    except OSError:
        return None
    total = None
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in " {"):
            total = (total or 0.0) + float(line.rsplit(" ", 1)[1])
    return total


def _available(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def run(args: argparse.Namespace, settings: Any) -> int:
    from storage.migrate import migrate_sync

    from .services import free_port, resolved, services
    from .supervise import service_env, start_child, stop_children
    from .topics import ensure_topics

    stop = False

    def on_signal(signum: int, _frame: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    children = []
    with services(settings) as svc:
        try:
            settings = resolved(settings, svc)
            migrate_sync(settings.core.database_url, settings=settings.storage)
            asyncio.run(ensure_topics(settings))
            gw_port, wk_port = free_port(), free_port()
            env = service_env(settings, VITALSTREAM_GATEWAY_METRICS_PORT=str(gw_port),
                              VITALSTREAM_WORKER_METRICS_PORT=str(wk_port))
            logs = settings.core.state_dir / "logs"
            children.append(start_child("worker", ["worker"], env, logs))
            children.append(start_child("gateway", ["gateway"], env, logs))
            if _available("alerts.cli"):
                children.append(start_child("dispatcher", ["dispatcher"], env, logs))
            api_url = None
            if not args.no_api and _available("api.cli"):
                children.append(start_child("api", ["api"], env, logs))
                api_url = f"http://{settings.api.host}:{settings.api.port}/"
            if args.devices:
                children.append(start_child("simulator", [
                    "simulate", "--devices", str(args.devices), "--rate", str(args.rate),
                    "--duration", str(args.duration or 10 * 365 * 86400), "--scenario", args.scenario,
                    *(["--event-rates", args.event_rates, "--warmup", "90"] if args.event_rates else []),
                ], env, logs))
            print("vitalstream dev is running:")
            print(f"  PostgreSQL  {settings.core.database_url}")
            print(f"  Kafka       {settings.core.kafka_bootstrap}")
            print(f"  MQTT        {settings.core.mqtt_url}  (devices publish to {settings.core.mqtt_topic_root}/<device_id>)")
            print(f"  metrics     gateway http://127.0.0.1:{gw_port}/metrics  worker http://127.0.0.1:{wk_port}/metrics")
            if api_url:
                print(f"  API         {api_url}  (token: vitalstream token create --role admin, with the env below)")
            print(f"  logs        {logs}/")
            print(f"  env         VITALSTREAM_DATABASE_URL={settings.core.database_url} "
                  f"VITALSTREAM_KAFKA_BOOTSTRAP={settings.core.kafka_bootstrap} VITALSTREAM_MQTT_URL={settings.core.mqtt_url}")
            print("Ctrl-C stops everything.", flush=True)
            started = time.monotonic()
            while not stop:
                time.sleep(5)
                received = _metric(f"http://127.0.0.1:{gw_port}/metrics", "vitalstream_gateway_samples_accepted_total")
                stored = _metric(f"http://127.0.0.1:{wk_port}/metrics", "vitalstream_worker_samples_stored_total")
                alerts = _metric(f"http://127.0.0.1:{wk_port}/metrics", "vitalstream_worker_alert_candidates_total")
                dead = [c.name for c in children if not c.alive()]
                print(f"[{time.monotonic() - started:6.0f} s] samples received {int(received or 0):,} "
                      f"stored {int(stored or 0):,}  alert candidates {int(alerts or 0):,}"
                      + (f"  STOPPED: {', '.join(dead)} (see logs)" if dead else ""), flush=True)
                if args.duration and time.monotonic() - started > args.duration:
                    break
        except KeyboardInterrupt:
            pass
        finally:
            print("stopping…", flush=True)
            stop_children(children)
    print("stopped.")
    return 0
