"""`vitalstream simulate` (live fleet over MQTT, or --offline to files) and `vitalstream replay FILE`."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import re
import sys
from typing import Any

SCENARIO_NAMES = ("default", "normal", "deterioration", "consumer", "infection")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="simulated wearables publishing over MQTT (or --offline: a labelled data set)",
        description="A fleet of simulated wearables with realistic physiology and labelled injected events.",
    )
    p.add_argument("--devices", type=int, default=10, help="number of simulated devices (default 10)")
    p.add_argument("--rate", type=float, default=None, help="samples per second per device (default: scenario's)")
    p.add_argument("--duration", type=float, default=60.0, help="live: seconds to run (default 60)")
    p.add_argument("--hours", type=float, default=24.0, help="offline: simulated hours per device (default 24)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scenario", choices=SCENARIO_NAMES, default="default")
    p.add_argument("--event-rates", default=None, help="override events per patient-day, e.g. 'fever=1,sensor_off=0'")
    p.add_argument("--warmup", type=float, default=None,
                   help="seconds before the first injected event (default 30 min; less in short runs)")
    p.add_argument("--events-out", default=None, help="ground-truth events (JSON Lines)")
    p.add_argument("--batch", type=int, default=1, help="live: samples per MQTT message (batched payload form)")
    p.add_argument("--device-prefix", default="sim-", help="device ids are PREFIX00000, PREFIX00001, ...")
    p.add_argument("--first-index", type=int, default=0, help="index of the first device (fleets side by side)")
    p.add_argument("--offline", action="store_true", help="write files at simulated time instead of publishing")
    p.add_argument("--samples-out", default=None, help="offline: samples file (.jsonl, .csv, optionally .gz)")
    p.add_argument("--start-ms", type=int, default=None, help="offline: epoch ms of the first sample")
    p.add_argument("--jobs", type=int, default=None, help="offline: worker processes (default: CPUs - 1, at most 4)")
    p.add_argument("--max-outstanding", type=int, default=5_000, help="live: unacknowledged QoS 1 messages at most")
    p.set_defaults(func=run_simulate)

    r = subparsers.add_parser(
        "replay",
        help="replay a recorded stream (JSONL/CSV, .gz, MIMIC numerics CSV) over MQTT",
        description="Publishes a recorded stream over MQTT preserving its relative timing, scaled by --speed.",
    )
    r.add_argument("file")
    r.add_argument("--speed", type=float, default=1.0, help="time scale (2 = twice as fast; 0 = as fast as possible)")
    r.add_argument("--loop", action="store_true", help="replay again and again (implies --rewrite-ts)")
    r.add_argument("--rewrite-ts", action="store_true", help="timestamps become now; seq offset so as not to collide")
    r.add_argument("--strict", action="store_true", help="refuse the file if any row is malformed")
    r.add_argument("--max-outstanding", type=int, default=5_000)
    r.set_defaults(func=run_replay)


def _mqtt_url(settings: Any, command: str) -> str | None:
    url = settings.core.mqtt_url
    if url is None:
        print(
            f"vitalstream {command}: no MQTT broker configured; set VITALSTREAM_MQTT_URL "
            "(e.g. mqtt://127.0.0.1:1883) or use `vitalstream dev`, which starts one.",
            file=sys.stderr,
        )
    return url


def _scenario(args: argparse.Namespace) -> Any:
    from .scenarios import get_scenario, parse_rates

    sc = get_scenario(args.scenario)
    if args.event_rates:
        sc = sc.with_rates(**parse_rates(args.event_rates))
    if args.warmup is not None:
        sc = dataclasses.replace(sc, warmup_s=args.warmup)
    return sc


def run_simulate(args: argparse.Namespace, settings: Any) -> int:
    if not re.fullmatch(r"[A-Za-z0-9_-]{0,58}", args.device_prefix):
        print("vitalstream simulate: --device-prefix must match [A-Za-z0-9_-]{0,58}", file=sys.stderr)
        return 2
    try:
        sc = _scenario(args)
    except ValueError as exc:
        print(f"vitalstream simulate: {exc}", file=sys.stderr)
        return 2
    rate = args.rate if args.rate is not None else sc.default_rate_hz
    if args.offline:
        return _offline(args, sc, rate)
    url = _mqtt_url(settings, "simulate")
    if url is None:
        return 2
    return _live(args, settings, url, sc, rate)


def _offline(args: argparse.Namespace, sc: Any, rate: float) -> int:
    from .offline import run_offline
    from .patient import DEFAULT_START_MS

    if not args.samples_out:
        print("vitalstream simulate --offline: --samples-out FILE is required", file=sys.stderr)
        return 2
    st = run_offline(
        devices=args.devices, hours=args.hours, rate_hz=rate, seed=args.seed, scenario=sc,
        samples_out=args.samples_out, events_out=args.events_out,
        start_ms=args.start_ms if args.start_ms is not None else DEFAULT_START_MS,
        device_prefix=args.device_prefix, first_index=args.first_index, jobs=args.jobs,
    )
    print(
        f"wrote {st.samples:,} samples from {st.devices} devices ({args.hours:g} h each, scenario {sc.name}) "
        f"and {st.events} events in {st.elapsed_s:.1f} s ({st.samples_per_s:,.0f} samples/s)"
    )
    return 0


def _live(args: argparse.Namespace, settings: Any, url: str, sc: Any, rate: float) -> int:
    from .fleet import run_fleet
    from .publisher import PublishError

    def show(st: Any, outstanding: int) -> None:
        print(
            f"published {st.published:,} msgs ({st.samples:,} samples), acked {st.acked:,}, "
            f"{st.msg_rate:,.0f} msg/s, {outstanding:,} unacked, max lag {st.max_lag_s:.1f} s",
            file=sys.stderr, flush=True,
        )

    print(
        f"simulating {args.devices} devices at {rate:g} Hz for {args.duration:g} s "
        f"(scenario {sc.name}) -> {url} topic {settings.core.mqtt_topic_root}/<device_id>",
        file=sys.stderr, flush=True,
    )
    try:
        st = asyncio.run(
            run_fleet(
                url, settings.core.mqtt_topic_root, args.devices, rate, args.duration, args.seed, sc,
                batch=args.batch, device_prefix=args.device_prefix, first_index=args.first_index,
                events_out=args.events_out, max_outstanding=args.max_outstanding, progress=show,
            )
        )
    except PublishError as exc:
        print(f"vitalstream simulate: {exc}", file=sys.stderr)
        return 1
    show(st, st.published - st.acked)
    print(f"done: {st.published:,} messages, {st.samples:,} samples, {len(st.events)} events in {st.elapsed_s:.1f} s")
    return 0


def run_replay(args: argparse.Namespace, settings: Any) -> int:
    from .publisher import PublishError
    from .readers import MalformedRow
    from .replay import load_recording, replay

    def bad(err: MalformedRow) -> None:
        print(f"skipping malformed row: {err}", file=sys.stderr)

    try:
        rec = load_recording(args.file, strict=args.strict, on_error=bad)
    except MalformedRow as exc:
        print(f"vitalstream replay: refused (--strict): {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"vitalstream replay: {exc}", file=sys.stderr)
        return 1
    url = _mqtt_url(settings, "replay")
    if url is None:
        return 2
    if args.speed < 0:
        print("vitalstream replay: --speed must be >= 0", file=sys.stderr)
        return 2

    def show(st: Any, outstanding: int) -> None:
        print(
            f"published {st.published:,}/{st.rows:,} (pass {st.passes + 1}), acked {st.acked:,}, "
            f"{st.msg_rate:,.0f} msg/s",
            file=sys.stderr, flush=True,
        )

    print(
        f"replaying {len(rec):,} samples from {len(rec.devices)} devices ({rec.stats.bad} bad rows skipped) "
        f"at speed {args.speed:g} -> {settings.core.mqtt_topic_root}/<device_id>",
        file=sys.stderr, flush=True,
    )
    try:
        st = asyncio.run(
            replay(
                url, settings.core.mqtt_topic_root, rec, speed=args.speed, loop=args.loop,
                rewrite_ts=args.rewrite_ts, max_outstanding=args.max_outstanding, progress=show,
            )
        )
    except PublishError as exc:
        print(f"vitalstream replay: {exc}", file=sys.stderr)
        return 1
    print(f"done: {st.published:,} samples published, {st.acked:,} acked, {st.bad_rows} bad rows, {st.elapsed_s:.1f} s")
    return 0
