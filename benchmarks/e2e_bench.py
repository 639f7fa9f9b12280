"""End-to-end benchmark: the whole stack on this machine under a stepped simulated fleet.

Private Mosquitto + tansu, PostgreSQL (configured server, fresh database; embedded if
none), gateway, worker (detectors on), dispatcher (alert engine + delivery) and a local
webhook receiver that verifies signatures. The fleet's devices start with detector states
aged an hour (benchmarks/e2e_warm.py), so the LSTM scores each of them once a minute as
in production (--fresh-states: new devices, no LSTM inference for their first hour).
Each step runs a fleet of rate/rate_hz devices
(`run_fleet`, in its own process(es)) for --step-s seconds plus a few probe devices with
an injected desaturation, then waits for storage to catch up and reports:

- published vs stored (counted in `vitals`): zero loss or not;
- publish → stored latency p50/p95/p99 (rows polled every 0.25 s for traced devices);
- onset of an injected desaturation → its alert.opened webhook received (p50/p95/p99;
  includes the spo2.low rule's 60 s persistence by design);
- Kafka consumer lag of the worker over time; CPU and RSS per process.

A step is *sustained* when everything is stored within --sustain-s of its end, neither
the lag nor the latency grows during it, and the publisher kept up; stepping stops at the first step that is not (unless --keep-going). Prints the
highest sustained rate; writes JSON and a PNG (rate, latency, lag, CPU over time).

    python -m benchmarks.e2e_bench [--quick] [--rates 1000,2500,5000,7500,10000] [--step-s 120]
    vitalstream bench e2e --quick --json out.json --png out.png
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from benchmarks.common import cpu_speed_ms, machine, quantile
from benchmarks.e2e_load import ProcGroups, Probes, Tracer, fleet_process, pg_backends, tree
from benchmarks.e2e_report import fmt_ms, plot, print_summary
from benchmarks.e2e_stack import Stack, prom, stack
from benchmarks.e2e_warm import warm_states, write_changelog

RULE_PERSISTENCE_S = 60  # spo2.low: SpO2 < 90 % for 60 s (docs/detectors.md)


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def q3(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "n": 0}
    return {"p50": quantile(values, 0.5), "p95": quantile(values, 0.95), "p99": quantile(values, 0.99),
            "n": len(values)}


class Monitor:
    """Every call to `tick` appends one timeline row: stored/accepted counters, lag, CPU."""

    def __init__(self, st: Stack, groups: ProcGroups, t0: float):
        self.st, self.groups, self.t0 = st, groups, t0
        self.rows: list[dict] = []

    def tick(self, target: float) -> dict:
        st = self.st
        workers = [(name, port) for name, port in st.ports.items() if name.startswith("worker")]
        gateway = st.ports["gateway"]
        vitals_topic = f'topic="{st.prefix}vitals"'
        lags, stored = [], []
        for name, port in workers:  # each worker reports the partitions it holds (both groups when split)
            lag = prom(port, "vitalstream_worker_consumer_lag")
            lags += [v for k, v in lag.items() if vitals_topic in k]
            if st.role(name) != "detectors":
                stored.append(prom(port, "vitalstream_worker_samples_stored_total").get('{result="inserted"}'))
        row = {
            "t": time.time() - self.t0, "target": target,
            "stored": None if None in stored else sum(stored),
            "accepted": sum(prom(gateway, "vitalstream_gateway_samples_accepted_total").values()) or None,
            "rejected": sum(prom(gateway, "vitalstream_gateway_samples_rejected_total").values()),
            "lag": sum(lags) if lags else None,
            "dead": st.dead(),
            "proc": self.groups.sample(time.time() - self.t0),
        }
        self.rows.append(row)
        return row


def wait_ready(st: Stack, timeout_s: float = 240, probe_id: str = "warmup-0") -> float:
    """Until one probe sample has gone all the way to `vitals` (worker joined, torch loaded)."""
    began = time.monotonic()
    probe = Probes(st.settings.core.mqtt_url or "", st.settings.core.mqtt_topic_root, [probe_id],
                   normal_s=3, low_s=0, tail_s=0).start()
    while st.count("device_id = %s", (probe_id,))[0] == 0:
        if st.dead() or time.monotonic() - began > timeout_s:
            raise RuntimeError(f"stack not ready (dead: {st.dead()}):\n{st.log_tail()}")
        time.sleep(1)
    probe.stop()
    return time.monotonic() - began


def count_lstm_scores(st: Stack, steps: list[dict], step_s: float) -> None:
    """LSTM scorings stored per step: the proof that inference ran (aged states: about
    one per device per minute; fresh ones: none)."""
    with psycopg.connect(st.db_url) as conn:
        for step in steps:
            lo = step["window_start_ms"]
            row = conn.execute("SELECT count(*), count(DISTINCT device_id) FROM scores WHERE detector = 'lstm' "
                               "AND window_end >= to_timestamp(%s / 1000.0) AND window_end < to_timestamp(%s / 1000.0)",
                               (lo, lo + step_s * 1000 + 1000)).fetchone()
            step["lstm_scores"], step["lstm_scored_devices"] = (int(row[0]), int(row[1])) if row else (0, 0)


def age_states(st: Stack, rates: list[float], args: argparse.Namespace) -> int:
    """Give every fleet device an hour-old detector state (benchmarks/e2e_warm.py): stop the
    workers, write the states to their changelog, start them again (they recover it)."""
    devices = max(1, int(round(max(rates) / args.rate_hz)))
    ids = [f"sim-{i:05d}" for i in range(devices)]
    began = time.monotonic()
    blobs = warm_states(ids, int(time.time() * 1000), seed=args.seed, progress=say)
    workers = [name for name in st.children if name.startswith("worker")]
    for name in workers:
        st.kill(name, signal.SIGTERM)
    topic = write_changelog(st.settings.core.kafka_bootstrap or "", st.prefix, blobs)
    for name in workers:
        st.start(name)
    wait_ready(st, probe_id="warmup-1")
    say(f"{devices:,} device states aged an hour (LSTM scoring from the first minute), written to {topic}, "
        f"workers restarted: {time.monotonic() - began:.0f} s")
    return devices


def run_step(st: Stack, idx: int, rate: float, args: argparse.Namespace, mon: Monitor, groups: ProcGroups,
             tracer: Tracer, probe_sets: list[tuple[int, Probes]]) -> dict:
    devices = max(1, int(round(rate / args.rate_hz)))
    n_pub = max(1, math.ceil(devices / args.per_publisher))
    say(f"step {idx}: {rate:,.0f} samples/s = {devices:,} devices at {args.rate_hz:g} Hz, {args.step_s:.0f} s, "
        f"{n_pub} publisher process(es)")
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    win_start_ms = int(time.time() * 1000) - 1000
    procs = []
    for p in range(n_pub):
        lo, hi = p * devices // n_pub, (p + 1) * devices // n_pub
        kwargs = {"mqtt_url": st.settings.core.mqtt_url, "topic_root": st.settings.core.mqtt_topic_root,
                  "devices": hi - lo, "rate_hz": args.rate_hz, "duration_s": args.step_s, "seed": args.seed,
                  "scenario": args.scenario, "device_prefix": "sim-", "first_index": lo}
        proc = ctx.Process(target=fleet_process, args=(kwargs, queue), daemon=True)
        proc.start()
        procs.append(proc)
        groups.add(f"publisher{p}", lambda proc=proc: [proc.pid] if proc.is_alive() else [])
    probes = Probes(st.settings.core.mqtt_url or "", st.settings.core.mqtt_topic_root,
                    [f"probe-{idx}-{k}" for k in range(args.probes)], seed=idx).start()
    tracer.probes.append(probes)
    probe_sets.append((idx, probes))
    began = time.time()
    while any(p.is_alive() for p in procs):
        row = mon.tick(rate)
        if row["dead"]:
            raise RuntimeError(f"processes died: {row['dead']}\n{st.log_tail()}")
        time.sleep(2)
    fleet = [queue.get(timeout=30) for _ in procs]
    errors = [f["error"] for f in fleet if "error" in f]
    if errors:
        raise RuntimeError(f"fleet failed: {errors}")
    pub_end = time.time()
    published = sum(f["samples"] for f in fleet)
    elapsed = max(f["elapsed_s"] for f in fleet)
    where, params = "device_id LIKE 'sim-%%' AND ts >= to_timestamp(%s / 1000.0)", (win_start_ms,)
    stored, caught_up_s = 0, None
    while True:  # catch-up: everything the fleet published, counted in the table
        stored = st.count(where, params)[0]
        if stored >= published:
            caught_up_s = time.time() - pub_end
            break
        if time.time() - pub_end > args.catchup_s:
            break
        mon.tick(0)
        time.sleep(0.5)
    # after the count: committed offsets move only at checkpoints, so the lag drains later
    # than the rows are stored, and waiting for it first would inflate caught_up_s
    drained_s = drain_time(mon, 4.0 * args.probes, pub_end, commit_allowance_s(st))
    step_rows = [r for r in mon.rows if began - mon.t0 <= r["t"] <= pub_end - mon.t0 and r["target"] > 0]
    lags = [r["lag"] for r in step_rows if r["lag"] is not None]
    lag_growing = _growing(lags, rate, commit_allowance_s(st))
    seen = [s for s in tracer.seen if began <= s.at <= pub_end + 5]
    with psycopg.connect(st.db_url) as conn:
        gw = conn.execute(
            "SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP "
            "(ORDER BY extract(epoch FROM received_at - ts)) FROM vitals WHERE " + where,
            params).fetchone()[0]
    cpu: dict[str, dict[str, float]] = {}
    for r in step_rows:
        for name, v in r["proc"].items():
            if name != "t":
                acc = cpu.setdefault(name, {"cpu_sum": 0.0, "n": 0, "rss_peak_mb": 0.0})
                acc["cpu_sum"] += v["cpu"]
                acc["n"] += 1
                acc["rss_peak_mb"] = max(acc["rss_peak_mb"], v["rss_mb"])
    per_proc = {k: {"cpu_avg_pct": round(v["cpu_sum"] / max(v["n"], 1), 1), "rss_peak_mb": round(v["rss_peak_mb"])}
                for k, v in cpu.items() if v["rss_peak_mb"] > 0}
    achieved = published / elapsed if elapsed else 0.0
    kept_up = achieved >= 0.95 * rate and max(f["max_lag_s"] for f in fleet) < 5
    backlog = max(0, published - stored)
    result = {
        "step": idx, "window_start_ms": win_start_ms, "target_samples_per_s": rate, "devices": devices, "publishers": n_pub,
        "published": published, "acked_messages": sum(f["acked"] for f in fleet),
        "published_messages": sum(f["published"] for f in fleet), "stored": stored,
        "not_stored_after_catchup": backlog, "lag_drained_after_s": None if drained_s is None else round(drained_s, 1),
        "achieved_publish_samples_per_s": round(achieved, 1),
        "publisher_max_lag_s": round(max(f["max_lag_s"] for f in fleet), 2), "publisher_kept_up": kept_up,
        "caught_up_after_s": None if caught_up_s is None else round(caught_up_s, 1),
        "publish_to_stored_s": q3([s.latency_s for s in seen if s.source == "fleet"]),
        "probe_publish_to_stored_s": q3([s.latency_s for s in seen if s.source == "probe"]),
        "gateway_received_minus_ts_s": dict(zip(("p50", "p95", "p99"), gw or (None, None, None), strict=True)),
        "lag_max": max(lags) if lags else None, "lag_end": lags[-1] if lags else None, "lag_growing": lag_growing,
        "processes": per_proc, "simulated_events": sum(f["events"] for f in fleet),
    }
    # Kept up = all stored soon after the input stops; a worker that merely catches up once
    # the publisher frees its CPU is not sustaining the rate.
    result["latency_growing"] = _growing([s.latency_s for s in sorted(seen, key=lambda x: x.at)], 1.0, 1.0)
    result["sustained"] = (backlog == 0 and caught_up_s is not None and caught_up_s <= args.sustain_s
                           and not lag_growing and not result["latency_growing"] and kept_up
                           and drained_s is not None)
    p99 = result["publish_to_stored_s"]["p99"]
    result["meets_target"] = result["sustained"] and p99 is not None and p99 <= 2.0
    say(f"step {idx}: published {published:,}, stored within {args.catchup_s:.0f} s of the end {stored:,} at "
        f"{achieved:,.0f}/s; "
        f"publish→stored p50 {fmt_ms(result['publish_to_stored_s']['p50'])} p99 {fmt_ms(p99)}; lag max "
        f"{result['lag_max']}; {'SUSTAINED' if result['sustained'] else 'NOT sustained'}")
    return result


def _growing(lags: list[float], rate: float, allowance_s: float) -> bool:
    """Lag growing: the median of the step's last quarter is above the second quarter's (the
    first is the ramp-up) by half again plus `allowance_s` of input. The worker commits
    offsets only after a checkpoint, so a steady lag saws between 0 and that many seconds."""
    if len(lags) < 4:
        return False
    n = len(lags) // 4
    second = sorted(lags[n:2 * n])[n // 2]
    last = sorted(lags[-n:])[n // 2]
    return last > 1.5 * second + allowance_s * rate


def commit_allowance_s(st: Stack) -> float:
    """Seconds of input the committed offset may trail by design: checkpoint + commit interval + 1."""
    cfg = st.settings.stream
    return float(getattr(cfg, "checkpoint_s", 0.0)) + float(cfg.commit_interval_s) + 1.0


def drain_time(mon: Monitor, rate: float, since: float, allowance_s: float, timeout_s: float = 30) -> float | None:
    """Seconds after the fleet stopped until the worker's lag is under what commits allow
    (the probes keep publishing a few samples a second)."""
    while time.time() - since < timeout_s:
        row = mon.tick(0)
        if row["lag"] is not None and row["lag"] <= max(allowance_s * rate, 50):
            return time.time() - since
        time.sleep(1)
    return None


def final_count(st: Stack, steps: list[dict], args: argparse.Namespace) -> None:
    """Loss, as opposed to backlog: once storage has stopped progressing (or everything is
    in), count each step's rows again; `lost` = published − stored then."""
    if not steps:
        return
    expected = sum(s["published"] for s in steps)
    where, params = "device_id LIKE 'sim-%%' AND ts >= to_timestamp(%s / 1000.0)", (steps[0]["window_start_ms"],)
    last, still = -1, time.time()
    started = still
    say(f"final count: waiting for storage to finish ({expected:,} fleet samples published) …")
    while time.time() - still < 20 and time.time() - started < args.final_wait_s:  # progressing, within the limit
        n = st.count(where, params)[0]
        if n >= expected:
            break
        if n != last:
            last, still = n, time.time()
        time.sleep(2)
    bounds = [s["window_start_ms"] for s in steps] + [None]
    for step, lo, hi in zip(steps, bounds, bounds[1:], strict=False):
        w = "device_id LIKE 'sim-%%' AND ts >= to_timestamp(%s / 1000.0)"
        p: tuple = (lo,)
        if hi is not None:
            w += " AND ts < to_timestamp(%s / 1000.0)"
            p = (lo, hi)
        step["stored_final"] = st.count(w, p)[0]
        step["lost"] = max(0, step["published"] - step["stored_final"])


def webhook_latencies(st: Stack, probe_sets: list[tuple[int, Probes]]) -> dict[int, dict]:
    opened = st.receiver.opened()
    out: dict[int, dict] = {}
    for idx, ps in probe_sets:
        lat, missing = [], []
        for p in ps.probes.values():
            hook = opened.get((p.device_id, "spo2.low"))
            if hook is None or p.onset_ts_ms is None:
                missing.append(p.device_id)
            else:
                lat.append(hook.received_at - p.onset_ts_ms / 1000)
        out[idx] = {**q3(lat), "missing": missing,
                    "beyond_rule_persistence_p50": None if not lat else quantile(lat, 0.5) - RULE_PERSISTENCE_S}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="1000,2500,5000,7500,10000", help="samples/s per step, comma-separated")
    ap.add_argument("--step-s", type=float, default=120, help="seconds per step")
    ap.add_argument("--quick", action="store_true", help="short steps at 500,1000,2500 samples/s (a loaded machine)")
    ap.add_argument("--rate-hz", type=float, default=1.0, help="samples per second per device")
    ap.add_argument("--scenario", default="default", help="simulator scenario (events in the fleet)")
    ap.add_argument("--probes", type=int, default=4, help="devices per step with an injected desaturation")
    ap.add_argument("--tracers", type=int, default=12, help="fleet devices polled for publish → stored")
    ap.add_argument("--per-publisher", type=int, default=4000, help="devices per publisher process")
    ap.add_argument("--catchup-s", type=float, default=60, help="how long a step may take to store its backlog")
    ap.add_argument("--sustain-s", type=float, default=10,
                    help="a sustained step has everything stored within this long of its end")
    ap.add_argument("--final-wait-s", type=float, default=600,
                    help="at the end, how long storage may keep working off a backlog before loss is counted")
    ap.add_argument("--keep-going", action="store_true", help="run every step even after one is not sustained")
    ap.add_argument("--workers", type=int, default=1, help="worker processes (one consumer group; up to the partitions)")
    ap.add_argument("--split-roles", action="store_true",
                    help="the workers run role detectors, and one `worker-storage` (role storage) stores")
    ap.add_argument("--private-pg", action="store_true",
                    help="a private PostgreSQL in the run dir instead of the configured server")
    ap.add_argument("--fresh-states", action="store_true",
                    help="start the fleet with new detector states (no LSTM inference for the first hour; "
                         "default: states aged an hour, benchmarks/e2e_warm.py)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--run-dir", type=Path, help="logs and private services (default: a new temp dir)")
    ap.add_argument("--json", type=Path, help="result file (default: RUN_DIR/e2e_bench.json)")
    ap.add_argument("--png", type=Path, help="plot (default: RUN_DIR/e2e_bench.png)")
    args = ap.parse_args(argv)
    if args.quick:
        if args.rates == ap.get_default("rates"):
            args.rates = "500,1000,2500"
        if args.step_s == ap.get_default("step_s"):
            args.step_s = 45
        args.catchup_s = min(args.catchup_s, 45)
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    result_workers = args.workers
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="e2e-bench-"))
    # A plain kill stops the stack too (the `finally` blocks run), not just this process.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    speed = cpu_speed_ms()
    say(f"end-to-end benchmark on {machine()}, load average {os.getloadavg()[0]:.1f}, CPU speed {speed} ms "
        f"(benchmarks.common.cpu_speed_ms, lower is faster); run dir {run_dir}")
    result: dict = {"machine": machine(), "cpu_speed_ms": speed, "load_avg_start": os.getloadavg(), "rates": rates,
                    "step_s": args.step_s,
                    "rate_hz": args.rate_hz, "scenario": args.scenario, "workers": result_workers,
                    "split_roles": args.split_roles, "steps": []}
    t0 = time.time()
    procs = ("worker", *(f"worker{i}" for i in range(2, args.workers + 1)),
             *(("worker-storage",) if args.split_roles else ()), "gateway", "dispatcher")
    with stack(run_dir, private_pg=args.private_pg, start=procs, split_roles=args.split_roles) as st:
        groups = ProcGroups()
        for name in st.pids():  # looked up at each sample: age_states restarts the workers
            groups.add(name, lambda name=name: tree(st.pids()[name]))
        groups.add("postgres (bench db)", pg_backends(st.db_url))
        groups.add("bench (probes, tracer, receiver)", lambda: [os.getpid()])
        mon = Monitor(st, groups, t0)
        say(f"stack up (PostgreSQL {st.server_url.rsplit('@', 1)[-1]}, tansu {st.settings.core.kafka_bootstrap}, "
            f"MQTT {st.settings.core.mqtt_url}); waiting for the first sample to be stored …")
        result["ready_after_s"] = round(wait_ready(st), 1)
        say(f"ready after {result['ready_after_s']} s")
        result["aged_states"] = 0 if args.fresh_states else age_states(st, rates, args)
        tracer = Tracer(st.db_url)
        tracer.fleet = [f"sim-{i:05d}" for i in range(args.tracers)]
        tracer.start()
        probe_sets: list[tuple[int, Probes]] = []
        try:
            for idx, rate in enumerate(rates, 1):
                step = run_step(st, idx, rate, args, mon, groups, tracer, probe_sets)
                result["steps"].append(step)
                if not step["sustained"] and not args.keep_going:
                    say("not sustained: stopping here")
                    break
            say("waiting for the injected desaturations' webhooks …")
            deadline = time.time() + 150
            while time.time() < deadline and not all(ps.done.is_set() for _, ps in probe_sets):
                mon.tick(0)
                time.sleep(2)
            wanted = {(p, "spo2.low") for _, ps in probe_sets for p in ps.probes}
            while time.time() < deadline + 30 and not wanted <= set(st.receiver.opened()):
                time.sleep(1)
        finally:
            tracer.stop()
            for _, ps in probe_sets:
                ps.stop()
        final_count(st, result["steps"], args)
        count_lstm_scores(st, result["steps"], args.step_s)
        hooks = webhook_latencies(st, probe_sets)
        for step in result["steps"]:
            step["onset_to_webhook_s"] = hooks.get(step["step"])
        result["webhooks"] = {"received": len(st.receiver.hooks), "bad_signatures": st.receiver.bad_signatures,
                              "by_type": {}, "by_kind": {}}
        for h in st.receiver.hooks:
            result["webhooks"]["by_type"][h.type] = result["webhooks"]["by_type"].get(h.type, 0) + 1
            result["webhooks"]["by_kind"][h.kind] = result["webhooks"]["by_kind"].get(h.kind, 0) + 1
        result["restarts"] = st.dead()
        result["seen"] = [(s.at - t0, s.latency_s, s.source) for s in tracer.seen]
    result["timeline"] = mon.rows
    sustained = [s["target_samples_per_s"] for s in result["steps"] if s["sustained"]]
    result["highest_sustained_samples_per_s"] = max(sustained) if sustained else None
    met = [s["target_samples_per_s"] for s in result["steps"] if s["meets_target"]]
    result["highest_meeting_p99_2s"] = max(met) if met else None
    json_path = args.json or run_dir / "e2e_bench.json"
    png_path = args.png or run_dir / "e2e_bench.png"
    json_path.write_text(json.dumps(result, indent=1, default=str))
    plot(result, png_path)
    print_summary(result)
    print(f"JSON: {json_path}\nPNG:  {png_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
