"""Load and observation for the end-to-end benchmark.

- `fleet_process`: a simulated fleet (`simulators.fleet.run_fleet`) in its own process, so
  the publisher has a core's worth of GIL to itself; it reports its FleetStats.
- `Probes`: a few devices published here at 1 Hz that start normal and then drop to
  SpO2 83 % (an injected desaturation with an exact onset); their alerts' webhooks give
  onset → webhook latency, and their publish times give an exact publish → stored latency.
- `Tracer`: polls `vitals` for the probe devices and a handful of fleet devices and
  records when each sample became visible (publish → stored).
- `ProcGroups`: CPU (% of one core) and RSS per process, or per group of processes
  (PostgreSQL backends of the benchmark database).
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil
import psycopg


def fleet_process(kwargs: dict, queue) -> None:  # noqa: ANN001 - a multiprocessing queue
    """Target of a spawned process: run one fleet, put its stats on `queue`."""
    from simulators.fleet import run_fleet

    try:
        stats = asyncio.run(run_fleet(**kwargs))
        queue.put({"samples": stats.samples, "published": stats.published, "acked": stats.acked,
                   "elapsed_s": stats.elapsed_s, "max_lag_s": stats.max_lag_s, "events": len(stats.events)})
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which decides
        queue.put({"error": repr(exc)})


# --- probes: injected desaturations ------------------------------------------------


@dataclass
class Probe:
    device_id: str
    onset_ts_ms: int | None = None
    published: dict[int, float] = field(default_factory=dict)  # seq -> wall time of publish()


class Probes:
    """`n` devices at 1 Hz for `normal_s` + `low_s` + `tail_s` seconds; SpO2 83 % during `low_s`
    (below the spo2.low rule's 90 % for 60 s, and its 85 % high-severity bound)."""

    def __init__(self, mqtt_url: str, topic_root: str, names: list[str], *, normal_s: int = 10, low_s: int = 80,
                 tail_s: int = 10, seed: int = 0):
        self.mqtt_url = mqtt_url
        self.topic_root = topic_root
        self.probes = {n: Probe(n) for n in names}
        self.normal_s, self.low_s, self.tail_s = normal_s, low_s, tail_s
        self.rng = random.Random(seed)
        self.samples = 0
        self.done = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="probes")

    def start(self) -> Probes:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _values(self, low: bool) -> dict:
        r = self.rng
        spo2 = 83 + r.randint(-1, 1) if low else 97 + r.randint(-1, 1)
        return {"hr": 72 + r.randint(-3, 3), "spo2": spo2, "rr": 15 + r.randint(-1, 1),
                "temp": round(36.8 + r.uniform(-0.1, 0.1), 2), "activity": round(r.uniform(0, 0.03), 3)}

    def _run(self) -> None:
        import paho.mqtt.client as mqtt

        from vitalstream.mqtturl import parse_mqtt_url

        target = parse_mqtt_url(self.mqtt_url)
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="")
        client.connect(target.host, target.port)
        client.loop_start()
        try:
            t0 = time.time()
            seq0 = int(t0)
            total = self.normal_s + self.low_s + self.tail_s
            for i in range(total):
                if self._stop.is_set():
                    break
                delay = t0 + i - time.time()
                if delay > 0:
                    time.sleep(delay)
                low = self.normal_s <= i < self.normal_s + self.low_s
                for probe in self.probes.values():
                    ts = int(time.time() * 1000)
                    doc = {"device_id": probe.device_id, "seq": seq0 + i, "ts": ts, **self._values(low)}
                    if low and probe.onset_ts_ms is None:
                        probe.onset_ts_ms = ts
                    probe.published[seq0 + i] = time.time()
                    client.publish(f"{self.topic_root}/{probe.device_id}", json.dumps(doc), qos=1)
                    self.samples += 1
            time.sleep(1.0)  # let the last PUBACKs arrive before disconnecting
        finally:
            client.loop_stop()
            client.disconnect()
            self.done.set()


# --- publish → stored --------------------------------------------------------------


@dataclass
class Seen:
    at: float  # wall clock when first visible in `vitals`
    latency_s: float
    source: str  # "probe" (exact publish time) or "fleet" (sample ts = scheduled publish time)


class Tracer:
    """Polls `vitals` every `interval_s` for the watched devices' new rows."""

    def __init__(self, db_url: str, interval_s: float = 0.25):
        self.db_url = db_url
        self.interval_s = interval_s
        self.fleet: list[str] = []
        self.probes: list[Probes] = []
        self.seen: list[Seen] = []
        self._keys: set[tuple[str, int]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="tracer")

    def start(self) -> Tracer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            cursor_ms = int(time.time() * 1000) - 5_000
            while not self._stop.wait(self.interval_s):
                probes = {p.device_id: p for ps in list(self.probes) for p in ps.probes.values()}
                devices = list(probes) + self.fleet
                if not devices:
                    continue
                # One (device_id, ts) index range per traced device. Without the LIMIT the
                # planner flattens the lateral subquery and, with statistics that lag a
                # table growing by thousands of rows a second, picks a parallel seq scan
                # of `vitals`, four times a second: up to half a core of PostgreSQL spent on
                # measuring, growing with the table, in a benchmark of CPU. A subquery with
                # a LIMIT is never flattened (no traced device has 100,000 rows in 30 s).
                rows = conn.execute(
                    "SELECT v.device_id, v.seq, (extract(epoch FROM v.ts) * 1000)::bigint "
                    "FROM unnest(%s::text[]) AS d(id) CROSS JOIN LATERAL ("
                    "  SELECT device_id, seq, ts FROM vitals"
                    "  WHERE device_id = d.id AND ts > to_timestamp(%s / 1000.0)"
                    "  ORDER BY ts LIMIT 100000) v",
                    (devices, cursor_ms)).fetchall()
                now = time.time()
                newest = cursor_ms
                for device_id, seq, ts_ms in rows:
                    if (device_id, seq) in self._keys:
                        continue
                    self._keys.add((device_id, seq))
                    newest = max(newest, ts_ms)
                    probe = probes.get(device_id)
                    if probe is not None and seq in probe.published:
                        self.seen.append(Seen(now, now - probe.published[seq], "probe"))
                    elif probe is None:
                        self.seen.append(Seen(now, now - ts_ms / 1000, "fleet"))
                # A window behind the newest row: devices and partitions arrive unevenly.
                cursor_ms = max(cursor_ms, newest - 30_000)


# --- CPU and memory ----------------------------------------------------------------


class ProcGroups:
    """CPU (% of one core) and RSS (MiB) per named group of processes, sampled on demand."""

    def __init__(self) -> None:
        self.groups: dict[str, Callable[[], list[int]]] = {}
        self._procs: dict[int, psutil.Process] = {}
        self.series: list[dict] = []  # {"t": .., name: {"cpu": .., "rss_mb": ..}}

    def add(self, name: str, pids: Callable[[], list[int]]) -> None:
        self.groups[name] = pids

    def _proc(self, pid: int) -> psutil.Process | None:
        """A known process; a new one is only baselined now (its first CPU reading would
        cover a few microseconds and read as nonsense), and measured from the next sample on."""
        proc = self._procs.get(pid)
        if proc is None:
            try:
                proc = psutil.Process(pid)
                proc.cpu_percent(None)
            except psutil.Error:
                return None
            self._procs[pid] = proc
            return None
        return proc

    def sample(self, t: float) -> dict:
        row: dict = {"t": t}
        for name, pids in self.groups.items():
            cpu = rss = 0.0
            try:
                wanted = pids()
            except Exception:  # noqa: BLE001 - a group that cannot be listed this time is skipped
                continue
            for pid in wanted:
                proc = self._proc(pid)
                if proc is None:
                    continue
                try:
                    with proc.oneshot():
                        # No process can use more than every core; a reading above that is a
                        # recycled pid (a short-lived PostgreSQL backend) measured across two processes.
                        cpu += min(proc.cpu_percent(None), 100.0 * (psutil.cpu_count() or 1))
                        rss += proc.memory_info().rss / 2**20
                except psutil.Error:
                    self._procs.pop(pid, None)
            row[name] = {"cpu": cpu, "rss_mb": rss}
        self.series.append(row)
        return row


def tree(pid: int) -> list[int]:
    """A process and its descendants (the `vitalstream` child's python, postgres backends)."""
    try:
        proc = psutil.Process(pid)
        return [pid, *(c.pid for c in proc.children(recursive=True))]
    except psutil.Error:
        return []


def pg_backends(db_url: str) -> Callable[[], list[int]]:
    """The PostgreSQL server processes serving the benchmark database (works on a shared server)."""
    conn = psycopg.connect(db_url, autocommit=True)

    def pids() -> list[int]:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                            "AND pid <> pg_backend_pid()").fetchall()
        return [r[0] for r in rows]

    return pids
