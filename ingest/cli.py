"""`vitalstream gateway` and `vitalstream devices provision`."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from vitalstream.config import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    gw = subparsers.add_parser("gateway", help="MQTT → Kafka gateway (scale out: run several with a share group)")
    gw.add_argument("--client-id", help="MQTT client id = persistent session (env VITALSTREAM_GATEWAY_CLIENT_ID); "
                    "stable across restarts, unique per gateway")
    gw.add_argument("--share-group", help="MQTT shared-subscription group (env VITALSTREAM_GATEWAY_SHARE_GROUP)")
    gw.add_argument("--metrics-port", type=int, help="Prometheus /metrics port, 0 = off (env VITALSTREAM_GATEWAY_METRICS_PORT)")
    gw.add_argument("--max-in-flight", type=int, help="unacknowledged MQTT messages at most (env VITALSTREAM_GATEWAY_MAX_IN_FLIGHT)")
    gw.add_argument("--retire", action="store_true",
                    help="take this gateway (its --client-id) out of its share group for good: hand over "
                         "what its session holds, then end the session; only while other members run")
    gw.set_defaults(func=run_gateway_command)

    devices = subparsers.add_parser("devices", help="device credentials for the MQTT broker")
    dsub = devices.add_subparsers(dest="devices_command", metavar="ACTION")
    dsub.required = True
    prov = dsub.add_parser("provision", help="issue per-device credentials; write Mosquitto password file and ACL")
    which = prov.add_mutually_exclusive_group(required=True)
    which.add_argument("--count", type=int, help="issue N new devices named <prefix>NNNN")
    which.add_argument("--device-id", action="append", dest="device_ids", metavar="ID", help="a device id (repeatable)")
    prov.add_argument("--prefix", default="dev-", help="id prefix with --count (default dev-)")
    prov.add_argument("--out", required=True, type=Path, help="directory for the files (existing devices are kept)")
    prov.add_argument("--gateway-user", default="vitalstream-gateway", help="the gateway's MQTT account")
    prov.add_argument("--broker-url", default=None,
                      help="broker URL for gateway.env (default: VITALSTREAM_MQTT_URL or mqtt://127.0.0.1:1883)")
    prov.set_defaults(func=run_provision_command)


def _overrides(args: argparse.Namespace, settings: Settings) -> Settings:
    ingest = settings.ingest
    if args.client_id:
        ingest = replace(ingest, client_id=args.client_id)
    if args.share_group:
        ingest = replace(ingest, share_group=args.share_group)
    if args.metrics_port is not None:
        ingest = replace(ingest, metrics_port=args.metrics_port)
    if args.max_in_flight is not None:
        ingest = replace(ingest, max_in_flight=max(1, min(65535, args.max_in_flight)))
    return replace(settings, ingest=ingest)


def run_gateway_command(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio
    import signal

    from .gateway import run_gateway

    settings = _overrides(args, settings)
    if not settings.core.mqtt_url or not settings.core.kafka_bootstrap:
        print("vitalstream gateway: set VITALSTREAM_MQTT_URL and VITALSTREAM_KAFKA_BOOTSTRAP "
              "(or run `vitalstream dev`, which starts embedded brokers)", file=sys.stderr)
        return 2

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_gateway(settings, stop=stop, retire=args.retire)

    if args.retire and not settings.ingest.share_group:
        print("vitalstream gateway: --retire needs --share-group (the group to leave)", file=sys.stderr)
        return 2
    asyncio.run(main())
    return 0


def run_provision_command(args: argparse.Namespace, settings: Settings) -> int:
    from .provision import provision

    try:
        report = provision(args.out, count=args.count, device_ids=args.device_ids, prefix=args.prefix,
                           gateway_user=args.gateway_user, topic_root=settings.core.mqtt_topic_root,
                           broker_url=args.broker_url or settings.core.mqtt_url or "mqtt://127.0.0.1:1883")
    except ValueError as exc:
        print(f"vitalstream devices provision: {exc}", file=sys.stderr)
        return 2
    print(f"{len(report.new_devices)} new device(s), {report.total_devices} in all; files in {args.out}:")
    for path in report.files:
        print(f"  {path}")
    print(f"load into Mosquitto: include {args.out / 'mosquitto.conf'} (see docs/ingest.md); "
          f"the gateway's VITALSTREAM_MQTT_URL is in {args.out / 'gateway.env'}")
    return 0
