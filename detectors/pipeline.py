"""The per-device detector pipeline the stream worker (and offline evaluation) calls.

    pipeline = Pipeline(config, lstm=load_lstm(model_dir))
    state = pipeline.new_state("dev-0001")            # or state_from_bytes(stored)
    step = pipeline.observe(state, samples)           # cheap, pure Python, per batch
    if step.lstm_due:                                 # collect due devices across a batch...
        more = pipeline.score_lstm([state, ...])      # ...one batched torch pass (blocking: run in a thread)
    publish(step.candidates); store(step.scores); save(state_to_bytes(state))

Per sample, in time order: dedup by seq, drop what is older than the reorder window,
signal quality per vital, then - on the usable values only - threshold rules, NEWS2, the
LSTM's window and the resting-HR early warning. Conditions become candidates through
`emit` (start / severity change / clear / periodic refresh).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import numpy as np

from vitalstream.records import METRICS, Sample

from . import plugins
from .candidate import AlertCandidate
from .conditions import emit_signal, rule_condition, signal_condition
from .emit import emit, from_candidate, need_emit
from .news2_monitor import NEWS2_KIND, News2Config, news2_condition, news2_now, news2_step, push_recent
from .rhythm import hr_irregularity
from .rules import DEFAULT_RULES, Rule, RuleState, apply_overrides, rule_step
from .signal_quality import SqiConfig, VitalQuality, sqi_step
from .state import DeviceState

ALL_DETECTORS = ("rules", "news2", "signal", "lstm", "early_warning")
CLINICAL = ("hr", "spo2", "rr", "temp", "sbp", "dbp")  # activity is context, not a vital to alarm on


@dataclass(frozen=True, slots=True)
class Score:
    detector: str  # "news2", "lstm"
    ts_ms: int
    score: float
    threshold: float | None = None
    contributions: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class StepResult:
    scores: list[Score] = field(default_factory=list)
    candidates: list[AlertCandidate] = field(default_factory=list)
    lstm_due: bool = False


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    rules: tuple[Rule, ...] = DEFAULT_RULES
    sqi: SqiConfig = SqiConfig()
    news2: News2Config = News2Config()
    window_s: float = 300.0  # samples older than newest-minus-this are dropped, never scored
    refresh_s: float = 60.0  # an ongoing condition is re-sent at most this often
    # Persistence timers restart across a longer gap in a vital; a ward cuff measures BP
    # every 15-60 min, so consecutive cuff readings count as 'still low'.
    default_gap_s: float = 300.0
    max_gap_s: Mapping[str, float] = field(default_factory=lambda: {"sbp": 3900.0, "dbp": 3900.0})
    news2_every_s: float = 5.0  # NEWS2 recomputed at most this often
    moving_g: float = 0.15  # accelerometer activity that counts as moving (walking is ~0.2-0.3 g)
    moving_hold_s: float = 600.0  # HR/RR take minutes to settle after exertion
    rewarm_s: float = 600.0  # temperature distrusted this long after the sensor was off the skin
    score_interval_s: float = 60.0  # NEWS2 scores reported at most this often per device
    dedup_n: int = 512  # seqs remembered per device for duplicate detection
    detectors: frozenset[str] = frozenset(ALL_DETECTORS)

    @classmethod
    def from_settings(cls, settings: Any) -> PipelineConfig:
        """From vitalstream.config.DetectorSettings (the `detectors` settings section)."""
        base = cls()
        on = set(base.detectors)
        if not getattr(settings, "lstm_enabled", True):
            on.discard("lstm")
        if not getattr(settings, "early_warning_enabled", True):
            on.discard("early_warning")
        return cls(
            rules=apply_overrides(DEFAULT_RULES, getattr(settings, "rule_overrides", None)),
            window_s=getattr(settings, "window_s", base.window_s),
            refresh_s=getattr(settings, "refresh_s", base.refresh_s),
            detectors=frozenset(on),
        )


_clinical_values = attrgetter(*CLINICAL)  # a sample's clinical values as a tuple, in CLINICAL order


def _phase_ms(device_id: str, period_s: float) -> int:
    """A stable per-device offset in [0, period): crc32, not hash(), which changes per process."""
    return zlib.crc32(device_id.encode()) % max(1, int(period_s * 1000))


class Pipeline:
    def __init__(self, config: PipelineConfig | Any | None = None, lstm: Any = None, early_warning: bool = True,
                 overrides_for: Callable[[str], Mapping[str, Mapping[str, Any]] | None] | None = None):
        if config is None:
            config = PipelineConfig()
        elif not isinstance(config, PipelineConfig):
            config = PipelineConfig.from_settings(config)
        self.config = config
        self.lstm = lstm if (lstm is not None and plugins.HAVE_LSTM and "lstm" in config.detectors) else None
        self.early_warning = early_warning and plugins.HAVE_EW and "early_warning" in config.detectors
        self.overrides_for = overrides_for  # per-patient thresholds, looked up when a state is created
        self._rules_cache: dict[str, tuple[Rule, ...]] = {}
        self._plans: dict[int, list[tuple[Rule, float, bool, float, float | None]]] = {}  # by id() of a rules tuple

    # -- state --------------------------------------------------------------------------
    def new_state(self, device_id: str) -> DeviceState:
        state = DeviceState(device_id)
        if self.overrides_for is not None:
            self.set_overrides(state, self.overrides_for(device_id))
        state.lstm = plugins.lstm_new() if self.lstm is not None else None
        state.ew = plugins.ew_new_state() if self.early_warning else None
        return state

    def set_overrides(self, state: DeviceState, overrides: Mapping[str, Mapping[str, Any]] | None) -> None:
        """Per-patient rule thresholds, e.g. {"spo2.low": {"on": 88, "off": 90}}; validated now
        (RuleOverrideError) so a bad override is refused where it is entered."""
        clean = {k: dict(v) for k, v in (overrides or {}).items()}
        apply_overrides(self.config.rules, clean)
        state.overrides = clean

    def _rule_plan(self, state: DeviceState) -> list[tuple[Rule, float, bool, float, float | None]]:
        """The enabled rules with their gap allowance, direction and thresholds (cached per
        override set; the thresholds feed the idle fast path in `_step`)."""
        rules = self.rules_for(state)
        plan = self._plans.get(id(rules))
        if plan is None:
            cfg = self.config
            plan = self._plans[id(rules)] = [
                (r, cfg.max_gap_s.get(r.vital, cfg.default_gap_s), r.direction == "low", r.on, r.high_at)
                for r in rules if r.enabled]
        return plan

    def rules_for(self, state: DeviceState) -> tuple[Rule, ...]:
        if not state.overrides:
            return self.config.rules
        key = repr(sorted((k, sorted(v.items())) for k, v in state.overrides.items()))
        rules = self._rules_cache.get(key)
        if rules is None:
            rules = self._rules_cache[key] = apply_overrides(self.config.rules, state.overrides)
        return rules

    # -- per batch ------------------------------------------------------------------------
    def observe(self, state: DeviceState, samples: Sequence[Sample]) -> StepResult:
        result = StepResult()
        cfg = self.config
        lstm_rows: tuple[list[int], list[list[float]]] | None = ([], []) if state.lstm is not None else None
        for s in sorted(samples, key=lambda x: x.ts_ms):
            if state.seen(s.seq):
                continue  # redelivered: already scored
            if state.last_ts is not None and s.ts_ms <= state.last_ts:
                # Late: remembered for dedup, but the detectors do not rewind; a sample
                # older than the window gets nothing more either.
                if s.ts_ms >= state.last_ts - cfg.window_s * 1000:
                    self._remember(state, s.seq)
                continue
            self._remember(state, s.seq)
            state.last_ts = s.ts_ms
            self._step(state, s, result, lstm_rows)
        if lstm_rows is not None and lstm_rows[0] and plugins.lstm_feed(state.lstm, *lstm_rows):
            state.lstm_due = True
        result.lstm_due = state.lstm_due
        return result

    def _remember(self, state: DeviceState, seq: int) -> None:
        state.remember(seq, self.config.dedup_n)

    def _step(self, state: DeviceState, s: Sample, out: StepResult,
              lstm_rows: tuple[list[int], list[list[float]]] | None) -> None:
        cfg, ts, on = self.config, s.ts_ms, self.config.detectors
        activity = s.activity
        ctx = state.ctx
        if activity is not None and activity >= cfg.moving_g:
            ctx["moved"] = ts
        moved = ctx.get("moved")
        moving = moved is not None and ts - moved <= cfg.moving_hold_s * 1000
        usable: dict[str, float | None] = {}
        lost: dict[str, dict[str, Any]] = {}
        sqi, sqi_cfg, recent = state.sqi, cfg.sqi, state.recent
        for vital, value in zip(CLINICAL, _clinical_values(s)):
            q = sqi.get(vital)
            if q is None:
                q = sqi[vital] = VitalQuality()
            res = sqi_step(sqi_cfg, vital, q, ts, value, activity)
            good = res.usable
            if vital == "temp":
                # HR, SpO2 and RR are tracked before temperature: when most of them are lost
                # the wearable is off the skin, and its thermistor reads the room (and then
                # takes minutes to re-warm), so temperature is distrusted too.
                if len(lost) >= 2:
                    ctx["toff"] = ts + int(cfg.rewarm_s * 1000)
                if good is not None and ts <= ctx.get("toff", -1):
                    good = None
            usable[vital] = good
            if good is not None:
                push_recent(recent, vital, ts, good)
            if res.lost:
                lost[vital] = {"reason": res.reason, **(res.detail or {})}
        usable["hr_irregularity"] = hr_irregularity(ctx, ts, usable["hr"], moving)
        # NEWS2 at most every news2_every_s: its timers are minutes long, its cost is not small.
        scored, computed = None, False
        if ("news2" in on or "rules" in on) and ts - ctx.get("n2t", -(1 << 62)) >= cfg.news2_every_s * 1000:
            # The first computation is backdated by a per-device phase, so devices that start
            # together (a fleet, a ward reconnecting) do not all recompute in the same second.
            ctx["n2t"], computed = ts - (_phase_ms(state.device_id, cfg.news2_every_s) if "n2t" not in ctx else 0), True
            scored = news2_now(state.recent, ts, cfg.news2)
            ctx["n2"] = None if scored is None else [scored[0].total, scored[0].risk]
        refresh = cfg.refresh_s
        cands = out.candidates
        if "signal" in on and need_emit(state, "signal.lost", bool(lost), "low", ts, refresh, tuple(lost)):
            cands += emit_signal(state, signal_condition(lost, ts), ts, refresh)
        if "rules" in on:
            rstates, emitted = state.rules, state.emitted
            for rule, gap, low, on_at, high_at in self._rule_plan(state):
                rs = rstates.get(rule.kind)
                value = usable.get(rule.vital)
                if rs is None:
                    if value is None:
                        continue
                    rs = rstates[rule.kind] = RuleState()
                elif value is None:
                    if not rs.active and rs.pending_since is None:
                        continue  # nothing measured, nothing pending: nothing can change
                elif (not rs.active and rs.pending_since is None and rs.high_since is None and rs.clear_since is None
                      and (value >= on_at if low else value <= on_at)
                      and (high_at is None or (value >= high_at if low else value <= high_at))
                      and not (moving and rule.activity_aware) and rule.kind not in emitted):
                    # Idle and staying idle (the usual case, 8 rules per sample): exactly what
                    # rule_step does here, without the call (tests/detectors/test_pipeline.py).
                    rs.last_ts, rs.last_value, rs.pending_n, rs.worst = ts, value, 0, None
                    continue
                rule_step(rule, rs, ts, value, gap, moving)
                if (rs.active or rule.kind in emitted) and need_emit(state, rule.kind, rs.active, rs.severity, ts,
                                                                       refresh):
                    c = emit(state, rule_condition(rule, rs, ts, ctx.get("n2")), ts, refresh)
                    if c is not None:
                        cands.append(c)
        if "news2" in on:
            if computed:
                news2_step(state.news2, cfg.news2, ts, scored)
            n2 = state.news2
            if need_emit(state, NEWS2_KIND, bool(n2.get("active")), n2.get("sev"), ts, refresh):
                c = emit(state, news2_condition(n2, ts, scored), ts, refresh)
                if c is not None:
                    cands.append(c)
            if scored is not None and ts - (state.last_score_ts or -(1 << 62)) >= cfg.score_interval_s * 1000:
                state.last_score_ts = ts
                n = scored[0]
                out.scores.append(Score("news2", ts, float(n.total), 5.0,
                                        {k: float(v) for k, v in n.parameter_scores.items()}))
        if lstm_rows is not None:  # fed to the LSTM per observe() call, vectorised
            nan = math.nan
            lstm_rows[0].append(ts)
            lstm_rows[1].append([nan if usable[m] is None else usable[m] for m in CLINICAL]  # type: ignore[misc]
                                + [nan if activity is None else activity])
        if state.ew is not None:
            c = plugins.ew_step(state.ew, state.device_id, ts, usable.get("hr"), activity)
            if c is not None:
                c = emit(state, from_candidate(c), ts, refresh)
                if c is not None:
                    cands.append(c)

    # -- batched LSTM ----------------------------------------------------------------------
    def score_lstm(self, states: list[DeviceState]) -> list[StepResult]:
        """Score every due device in one forward pass; one StepResult per input state (empty
        for a state that was not due or has no full window yet). Blocking torch work."""
        results = [StepResult() for _ in states]
        if self.lstm is None:
            for st in states:
                st.lstm_due = False
            return results
        idx, windows = [], []
        for i, st in enumerate(states):
            if not st.lstm_due or st.lstm is None:
                continue
            st.lstm_due = False
            w = plugins.lstm_get_window(st.lstm)
            if w is not None:
                idx.append(i)
                windows.append(w)
        if not windows:
            return results
        scores, contribs = self.lstm.score_batch(np.stack(windows))
        threshold = float(self.lstm.threshold)
        for j, i in enumerate(idx):
            st, ts = states[i], states[i].last_ts or 0
            score, contrib = float(scores[j]), np.asarray(contribs[j], dtype=float)
            results[i].scores.append(Score("lstm", ts, score, threshold, dict(zip(METRICS, contrib.tolist()))))
            c = plugins.lstm_candidate(st.lstm, st.device_id, ts, score, contrib, threshold)
            if c is not None:
                cand = emit(st, from_candidate(c), ts, self.config.refresh_s)
                if cand is not None:
                    results[i].candidates.append(cand)
        return results
