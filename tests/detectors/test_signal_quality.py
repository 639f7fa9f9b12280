"""Signal quality: sensor off / dropout, invalid values, flatline, motion artefact."""

from __future__ import annotations

from detectors.signal_quality import SqiConfig, SqiResult, VitalQuality, sqi_step

CFG = SqiConfig()
S = 1000


def feed(vital: str, values: list[float | None], step_s: float = 1.0, activity: float | list[float] = 0.0,
         q: VitalQuality | None = None, t0: int = 0) -> tuple[VitalQuality, list[SqiResult]]:
    q = q or VitalQuality()
    acts = activity if isinstance(activity, list) else [activity] * len(values)
    out = [sqi_step(CFG, vital, q, t0 + int(i * step_s * S), v, a) for i, (v, a) in enumerate(zip(values, acts))]
    return q, out


def test_clean_signal_is_usable() -> None:
    _, res = feed("hr", [70.0, 71.0, 72.0, 71.0])
    assert [r.usable for r in res] == [70.0, 71.0, 72.0, 71.0]
    assert not any(r.lost for r in res)


def test_sensor_off_is_lost_after_lost_s_not_before() -> None:
    q, _ = feed("spo2", [97.0 + (i % 2) for i in range(60)])
    q, res = feed("spo2", [None] * 40, q=q, t0=60 * S)
    # last value at t=59 s; lost once 30 s have passed (t=89 s, i.e. the 30th missing sample)
    lost = [r.lost for r in res]
    assert lost.index(True) == 29 and all(lost[29:])
    assert res[-1].reason == "missing" and res[-1].usable is None
    # and it comes back at once with a valid value
    _, back = feed("spo2", [97.0], q=q, t0=100 * S)
    assert back[0].usable == 97.0 and not back[0].lost and q.reason is None


def test_single_dropouts_are_not_lost() -> None:
    values = [70.0 + (i % 3) if i % 7 else None for i in range(300)]
    _, res = feed("hr", values)
    assert not any(r.lost for r in res)
    assert sum(r.usable is None for r in res) == sum(v is None for v in values)


def test_lost_is_judged_against_the_devices_own_cadence() -> None:
    # A once-a-minute wearable: two minutes without HR is not yet 'lost' (3.5 intervals).
    q, _ = feed("hr", [70.0, 72.0, 71.0, 73.0, 70.0], step_s=60)
    _, res = feed("hr", [None, None, None, None], step_s=60, q=q, t0=5 * 60 * S)
    assert [r.lost for r in res] == [False, False, False, True]  # missing 60/120/180/240 s; lost past 3.5*60=210 s


def test_vital_never_reported_is_not_lost() -> None:
    _, res = feed("sbp", [None] * 100)
    assert not any(r.lost for r in res)


def test_invalid_zero_counts_as_missing() -> None:
    q, res = feed("spo2", [97.0, 98.0, 97.0] + [0.0] * 40)
    assert res[3].usable is None and res[3].reason == "invalid"
    assert res[-1].lost


def test_flatline_detected_after_its_span() -> None:
    q, res = feed("hr", [70.0] * 400)
    lost = [r.lost for r in res]
    assert lost.index(True) == 300  # 300 s of exact repeats
    assert res[-1].reason == "flatline"
    _, res2 = feed("hr", [74.0], q=q, t0=400 * S)
    assert res2[0].usable == 74.0 and not res2[0].lost


def test_temperature_is_not_flatline_checked() -> None:
    _, res = feed("temp", [36.8] * 2000)
    assert not any(r.lost for r in res)


def test_motion_artefact_suppresses_and_then_expires() -> None:
    values = [70.0, 71.0, 150.0, 60.0, 140.0, 72.0] + [72.0 + (i % 2) for i in range(40)]
    acts = [0.4] * 6 + [0.0] * 40
    _, res = feed("hr", values, activity=acts)
    assert res[2].usable is None and res[2].reason == "artefact"
    assert not any(r.lost for r in res)  # a few seconds of artefact: distrusted, not lost
    assert res[-1].usable is not None  # hold (30 s) has expired


def test_jump_at_rest_is_not_an_artefact() -> None:
    _, res = feed("hr", [70.0, 71.0, 150.0, 151.0], activity=0.0)
    assert [r.usable for r in res] == [70.0, 71.0, 150.0, 151.0]


def test_persistent_artefacts_become_lost() -> None:
    values = [70.0 if i % 2 else 160.0 for i in range(150)]  # artefacts for longer than artefact_lost_s
    _, res = feed("hr", values, activity=0.6)
    assert res[-1].lost and res[-1].reason == "artefact"


def test_tracker_round_trips_as_list() -> None:
    q, _ = feed("hr", [70.0, 71.0, None])
    assert VitalQuality.from_list(q.to_list()) == q


def test_spo2_flat_at_the_ceiling_is_not_a_stuck_sensor() -> None:
    _, res = feed("spo2", [100.0] * 2000)
    assert not any(r.lost for r in res)
    _, res = feed("spo2", [95.0] * 2000)
    assert res[-1].lost and res[-1].reason == "flatline"
