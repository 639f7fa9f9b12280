"""Every query against a brute-force Python computation over the same samples, on plain
PostgreSQL and (where available) TimescaleDB with part of the data materialised in the
continuous aggregates and the newest part only in raw rows (real-time aggregation)."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from storage import queries as q
from storage.rows import ms_to_dt
from storage.timescale import refresh_aggregates
from storage.writer import VitalsWriter
from vitalstream.records import METRICS, Sample

from .conftest import StorageDb
from .data import make_samples, ms, now_minute_ms


@dataclass
class Loaded:
    db: StorageDb
    samples: list[Sample]
    start: datetime
    end: datetime


@pytest.fixture
async def loaded(storage_db: StorageDb) -> Loaded:
    end_ms = now_minute_ms() - 10 * 60_000
    span_s = 30 * 3600
    samples = make_samples(4, 1500, end_ms=end_ms, span_s=span_s, seed=5)
    cut_ms = end_ms - 3 * 3600 * 1000
    cut_ms -= cut_ms % 3_600_000  # an hour edge: materialised below it, raw-only above
    older = [s for s in samples if s.ts_ms < cut_ms]
    newer = [s for s in samples if s.ts_ms >= cut_ms]
    async with VitalsWriter(storage_db.url, storage_db.settings) as w:
        await w.write(older, received_at_ms=end_ms)
        if storage_db.flavor == "timescale":
            async with await psycopg.AsyncConnection.connect(storage_db.url, autocommit=True) as conn:
                await refresh_aggregates(conn, until=ms_to_dt(cut_ms))
        await w.write(newer, received_at_ms=end_ms)
    return Loaded(storage_db, samples, ms_to_dt(end_ms - span_s * 1000), ms_to_dt(end_ms))


def _random_ranges(lo: datetime, hi: datetime, n: int, seed: int) -> list[tuple[datetime, datetime]]:
    rng = random.Random(seed)
    span_ms = ms(hi) - ms(lo)
    out = [(lo - timedelta(minutes=1), hi + timedelta(minutes=1))]
    for _ in range(n):
        a = ms(lo) + rng.randrange(span_ms)
        b = a + rng.randrange(1, span_ms // 3)
        out.append((ms_to_dt(a), ms_to_dt(b)))
    out.append((hi + timedelta(hours=1), hi + timedelta(hours=2)))  # empty
    return out


def _brute_buckets(samples: list[Sample], device: str, lo: datetime, hi: datetime, width: timedelta) -> dict:
    buckets: dict[datetime, list[Sample]] = {}
    for s in samples:
        t = ms_to_dt(s.ts_ms)
        if s.device_id == device and lo <= t < hi:
            start = q.ORIGIN + ((t - q.ORIGIN) // width) * width
            buckets.setdefault(start, []).append(s)
    out = {}
    for start, members in sorted(buckets.items()):
        stats = {}
        for m in METRICS:
            vals = [getattr(s, m) for s in members if getattr(s, m) is not None]
            stats[m] = (min(vals), max(vals), sum(vals) / len(vals), len(vals)) if vals else (None, None, None, 0)
        out[start] = (len(members), stats)
    return out


async def test_raw_range_matches_brute_force(loaded: Loaded) -> None:
    async with await psycopg.AsyncConnection.connect(loaded.db.url) as conn:
        for device in ("dev-000", "dev-003"):
            for a, b in _random_ranges(loaded.start, loaded.end, 5, seed=1):
                got = await q.raw_range(conn, device, a, b)
                want = sorted(
                    (s for s in loaded.samples if s.device_id == device and a <= ms_to_dt(s.ts_ms) < b),
                    key=lambda s: (s.ts_ms, s.seq),
                )
                assert [(r.seq, ms(r.ts), r.hr, r.spo2, r.rr, r.temp, r.sbp, r.dbp, r.activity) for r in got] == [
                    (s.seq, s.ts_ms, *s.metrics()) for s in want
                ]
        limited = await q.raw_range(conn, "dev-001", loaded.start, loaded.end, limit=7)
        assert len(limited) == 7


@pytest.mark.parametrize("bucket", ["1m", "5m", "1h", "1d"])
async def test_bucketed_matches_brute_force(loaded: Loaded, bucket: str) -> None:
    width = q.BUCKETS[bucket]
    async with await psycopg.AsyncConnection.connect(loaded.db.url) as conn:
        for device in ("dev-000", "dev-002"):
            for a, b in _random_ranges(loaded.start, loaded.end, 4, seed=2):
                got = await q.bucketed(conn, device, a, b, bucket)
                lo, hi = q.align_range(a, b, bucket)
                want = _brute_buckets(loaded.samples, device, lo, hi, width)
                assert [r.bucket for r in got] == list(want)
                for row in got:
                    count, stats = want[row.bucket]
                    assert row.count == count
                    for m in METRICS:
                        lo_v, hi_v, avg_v, n = stats[m]
                        got_m = row.metrics[m]
                        assert (got_m.min, got_m.max, got_m.count) == (lo_v, hi_v, n), (row.bucket, m)
                        assert got_m.avg == (None if avg_v is None else pytest.approx(avg_v, rel=1e-9))


async def test_bucketed_rejects_bad_arguments(loaded: Loaded) -> None:
    async with await psycopg.AsyncConnection.connect(loaded.db.url) as conn:
        with pytest.raises(ValueError, match="bucket"):
            await q.bucketed(conn, "dev-000", loaded.start, loaded.end, "7m")
        with pytest.raises(ValueError, match="timezone"):
            await q.bucketed(conn, "dev-000", loaded.start.replace(tzinfo=None), loaded.end, "1m")


def test_align_range_widens_to_whole_buckets() -> None:
    a = datetime(2026, 3, 1, 10, 7, 30, tzinfo=UTC)
    b = datetime(2026, 3, 1, 10, 9, 0, tzinfo=UTC)
    assert q.align_range(a, b, "1m") == (a.replace(second=0), b)
    assert q.align_range(a, b, "5m") == (a.replace(minute=5, second=0), a.replace(minute=10, second=0))
    assert q.align_range(a, b, "1d") == (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC))


async def test_latest_samples_and_devices(loaded: Loaded) -> None:
    newest: dict[str, Sample] = {}
    for s in loaded.samples:
        cur = newest.get(s.device_id)
        if cur is None or (s.ts_ms, s.seq) > (cur.ts_ms, cur.seq):
            newest[s.device_id] = s
    async with await psycopg.AsyncConnection.connect(loaded.db.url, autocommit=True) as conn:
        got = await q.latest_samples(conn)
        assert [(r.device_id, r.seq, ms(r.ts)) for r in got] == [
            (d, newest[d].seq, newest[d].ts_ms) for d in sorted(newest)
        ]
        some = await q.latest_samples(conn, ["dev-002", "nope"])
        assert [(r.device_id, r.seq) for r in some] == [("dev-002", newest["dev-002"].seq)]

        await conn.execute("INSERT INTO patients (id, external_id, name, ward, bed) VALUES (9, 'MRN9', 'A B', 'W', '1')")
        await conn.execute("INSERT INTO device_assignments (device_id, patient_id, bed) VALUES ('dev-001', 9, '4')")
        devices = await q.list_devices(conn)
    assert [d.device_id for d in devices] == sorted(newest)
    assert {d.device_id: ms(d.last_seen_at) for d in devices if d.last_seen_at} == {
        k: v.ts_ms for k, v in newest.items()
    }
    assigned = next(d for d in devices if d.device_id == "dev-001")
    assert (assigned.patient_id, assigned.patient_external_id, assigned.ward, assigned.bed) == (9, "MRN9", "W", "4")


async def test_enforce_retention(storage_db: StorageDb) -> None:
    now = now_minute_ms()
    day = 86_400_000
    old = [Sample("r1", i, now - 40 * day - i * 1000, hr=50.0) for i in range(50)]
    young = [Sample("r1", 100 + i, now - 2 * day - i * 1000, hr=50.0) for i in range(30)]
    async with VitalsWriter(storage_db.url, storage_db.settings) as w:
        await w.write(old + young)
    st = replace(storage_db.settings, raw_retention_days=30)
    async with await psycopg.AsyncConnection.connect(storage_db.url, autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO scores (device_id, window_end, detector, score)"
            " VALUES ('r1', now() - interval '31 days', 'x', 1), ('r1', now() - interval '1 day', 'x', 1)"
        )
        result = await q.enforce_retention(conn, st)
        remaining = await (await conn.execute("SELECT count(*) FROM vitals")).fetchone()
    if storage_db.flavor == "timescale":
        assert result.skipped  # chunks are dropped by the retention policy job instead
        return
    assert (result.vitals_deleted, result.scores_deleted, result.skipped) == (50, 1, False)
    assert remaining == (30,)
