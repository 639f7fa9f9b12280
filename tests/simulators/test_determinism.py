"""Same seed -> the same bytes; different seeds or patients -> different data; chunking never matters."""

from __future__ import annotations

import numpy as np

from simulators import generate_cohort, patient_plan, write_events_jsonl, write_samples_jsonl
from simulators.render import render


def _write(tmp_path, name: str, seed: int) -> tuple[bytes, bytes]:
    traces = list(generate_cohort(3, hours=6, rate_hz=1, seed=seed, scenario="default"))
    s, e = tmp_path / f"{name}.jsonl", tmp_path / f"{name}.events.jsonl"
    write_samples_jsonl(traces, s)
    write_events_jsonl([ev for t in traces for ev in t.events], e)
    return s.read_bytes(), e.read_bytes()


def test_same_seed_gives_identical_bytes(tmp_path) -> None:
    a = _write(tmp_path, "a", 42)
    b = _write(tmp_path, "b", 42)
    assert a == b
    assert len(a[0]) > 1_000_000 and a[1]  # samples and at least one event


def test_different_seeds_and_patients_differ(tmp_path) -> None:
    a = _write(tmp_path, "a", 1)
    c = _write(tmp_path, "c", 2)
    assert a[0] != c[0]
    p0, p1 = (patient_plan(i, hours=1, rate_hz=1, seed=1) for i in (0, 1))
    assert p0.base != p1.base
    assert not np.array_equal(render(p0, 0, 600)[0], render(p1, 0, 600)[0], equal_nan=True)


def test_any_chunking_renders_the_same_samples() -> None:
    """The live fleet renders a couple of minutes at a time; it must match the offline trace."""
    plan = patient_plan(5, hours=12, rate_hz=1, seed=3, scenario="default")
    whole, keep = render(plan, 0, plan.n)
    for size in (97, 1000, 4096):
        parts = [render(plan, i, min(i + size, plan.n)) for i in range(0, plan.n, size)]
        assert np.array_equal(whole, np.concatenate([p[0] for p in parts]), equal_nan=True)
        assert np.array_equal(keep, np.concatenate([p[1] for p in parts]))


def test_offline_output_is_identical_for_any_number_of_workers(tmp_path) -> None:
    from simulators.offline import run_offline

    digests = []
    for jobs in (1, 2):
        out = tmp_path / f"s{jobs}.csv.gz"
        st = run_offline(devices=3, hours=2, rate_hz=1, seed=9, scenario="default", samples_out=out,
                         events_out=None, progress=False, jobs=jobs)
        assert st.samples > 3 * 7000
        digests.append(out.read_bytes())
    assert digests[0] == digests[1]


def test_segments_continue_the_same_patient_with_fresh_schedules() -> None:
    """Long live runs are planned a day at a time: same person, new day."""
    day0 = patient_plan(4, hours=24, rate_hz=1 / 60, seed=2, scenario="default")
    day1 = patient_plan(4, hours=24, rate_hz=1 / 60, seed=2, scenario="default", segment=1)
    assert day0.base == day1.base and day0.device_id == day1.device_id
    assert not np.array_equal(day0.bouts.start, day1.bouts.start)
    assert not np.array_equal(render(day0, 0, 600)[0], render(day1, 0, 600)[0], equal_nan=True)
