"""Load for the fault-injection tests: devices publishing over MQTT (QoS 1) at a fixed rate.

Device time runs ten times faster than the wall clock (one sample per device per 0.1 s,
`ts` one second apart, starting 15 minutes in the past), so an injected desaturation
reaches the spo2.low rule's 60 s persistence in about 6 s of test time. The first
`injected` devices drop to SpO2 83 % for device seconds 60-180; the rest stay normal.
With `bad_every` set, every n-th message is a malformed payload instead (one DLQ record
each, no valid sample in it).
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, field

from tests.ingest.ingest_support import Publisher

DESAT = range(60, 180)  # device seconds with SpO2 83 %


def malformed(device_id: str, seq: int, ts: int, n: int) -> tuple[str, bytes]:
    """The n-th kind of bad payload for a device (topic device, raw bytes)."""
    good = {"device_id": device_id, "seq": seq, "ts": ts, "hr": 70, "spo2": 97}
    kinds = [
        b'{"device_id": "' + device_id.encode() + b'", "seq": ',  # truncated JSON
        json.dumps({**good, "hr": 900}).encode(),  # out of range
        json.dumps({**good, "spo2": 130}).encode(),
        json.dumps({**good, "device_id": "someone-else"}).encode(),  # topic/payload mismatch
        b"",  # empty
        json.dumps({**good, "ts": 1000}).encode(),  # 1970
        json.dumps({k: v for k, v in good.items() if k != "seq"}).encode(),
        json.dumps({**good, "hr": "fast"}).encode(),
        b"[1, 2, 3]",  # JSON, not an object
        json.dumps({**good, "samples": []}).encode(),
        json.dumps({**good, "pad": "x" * 70_000}).encode(),  # over 64 KiB
        b'{"device_id": "' + device_id.encode() + b'", "seq": 1, "ts": 1, "hr": NaN}',
    ]
    return device_id, kinds[n % len(kinds)]


@dataclass
class Load:
    port: int
    topic_root: str
    prefix: str
    devices: int = 40
    injected: int = 6
    rate: float = 400.0  # messages per second, all devices together
    seconds: float = 24.0
    bad_every: int = 0
    published: set[tuple[str, int]] = field(default_factory=set)
    bad: int = 0
    sent: int = 0  # messages handed to the client so far (valid and malformed)
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def device(self, d: int) -> str:
        return f"{self.prefix}-{d:03d}"

    @property
    def injected_devices(self) -> list[str]:
        return [self.device(d) for d in range(self.injected)]

    def start(self) -> Load:
        threading.Thread(target=self._guarded, daemon=True, name=f"load-{self.prefix}").start()
        return self

    def wait(self, timeout_s: float = 120) -> None:
        assert self.done.wait(timeout_s), "publishing did not finish"
        if self.error:
            raise self.error

    def _guarded(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # noqa: BLE001 - re-raised in wait()
            self.error = exc
        finally:
            self.done.set()

    def _run(self) -> None:
        rng = random.Random(self.prefix)
        pub = Publisher(self.port, window=2000)
        base = int(time.time() * 1000) - 15 * 60_000
        rounds = int(self.seconds * self.rate / self.devices)
        t0 = time.monotonic()
        n = 0
        try:
            for i in range(rounds):
                for d in range(self.devices):
                    device = self.device(d)
                    ts = base + i * 1000
                    n += 1
                    if self.bad_every and n % self.bad_every == 0:
                        _, data = malformed(device, i, ts, self.bad)
                        pub.publish(f"{self.topic_root}/{device}", data)
                        self.bad += 1
                        self.sent += 1
                    spo2 = 83 + rng.randint(-1, 1) if d < self.injected and i in DESAT else 97 + rng.randint(-1, 1)
                    doc = {"device_id": device, "seq": i, "ts": ts, "hr": 72 + rng.randint(-3, 3), "spo2": spo2,
                           "rr": 15 + rng.randint(-1, 1), "temp": round(36.8 + rng.uniform(-0.1, 0.1), 2),
                           "activity": round(rng.uniform(0, 0.03), 3)}
                    pub.publish(f"{self.topic_root}/{device}", json.dumps(doc).encode())
                    self.published.add((device, i))
                    self.sent += 1
                ahead = t0 + (i + 1) * self.devices / self.rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            pub.flush(120)  # every message acknowledged by the broker (so it is the stack's to keep)
        finally:
            pub.close()
