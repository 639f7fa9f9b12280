"""Named event mixes and device profiles ("default", "normal", "deterioration", "consumer", "infection")."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from .model import EVENT_KINDS

# Events per patient-day for the default evaluation mix: ~2.7 events per patient-day,
# enough events per cohort to measure recall while leaving most of the day clean.
DEFAULT_RATES: dict[str, float] = {
    "desaturation": 0.5,
    "tachycardia": 0.4,
    "bradycardia": 0.25,
    "fever": 0.25,
    "hypotension": 0.3,
    "deterioration": 0.15,
    "arrhythmia": 0.35,
    "sensor_off": 0.5,
}


@dataclass(frozen=True)
class Scenario:
    name: str
    event_rates: dict[str, float] = field(default_factory=dict)  # kind -> events per patient-day
    default_rate_hz: float = 1.0  # sample rate when the caller does not choose one
    cuff_interval_s: float | None = 900.0  # ward NIBP cycle (15 min); None: no blood pressure at all
    artefacts: float = 1.0  # scales motion artefacts, flatlines, dropouts
    consumer_gaps: bool = False  # night-time non-wear, charging, off-wrist: rows simply absent
    infection_prob: float = 0.0  # chance that a patient gets one multi-day infection
    warmup_s: float | None = None  # quiet time before the first event; None: 30 min (less in short runs)

    def __post_init__(self) -> None:
        unknown = set(self.event_rates) - set(EVENT_KINDS)
        if unknown:
            raise ValueError(f"unknown event kinds {sorted(unknown)}; known: {', '.join(EVENT_KINDS)}")
        if any(r < 0 for r in self.event_rates.values()):
            raise ValueError("event rates must be >= 0")

    def with_rates(self, **rates: float) -> Scenario:
        return replace(self, event_rates={**self.event_rates, **rates})


_CONSUMER_RATES = {k: v / 2 for k, v in DEFAULT_RATES.items() if k not in ("sensor_off", "hypotension")}

SCENARIOS: dict[str, Scenario] = {
    "default": Scenario("default", dict(DEFAULT_RATES)),
    "normal": Scenario("normal", {}),
    "deterioration": Scenario("deterioration", {"deterioration": 1.0, "sensor_off": 0.3}),
    "consumer": Scenario(
        "consumer", _CONSUMER_RATES, default_rate_hz=1 / 60, cuff_interval_s=None, consumer_gaps=True
    ),
    "infection": Scenario(
        "infection", {}, default_rate_hz=1 / 60, cuff_interval_s=None, consumer_gaps=True, infection_prob=0.5
    ),
}


def get_scenario(scenario: str | Scenario) -> Scenario:
    if isinstance(scenario, Scenario):
        return scenario
    try:
        return SCENARIOS[scenario]
    except KeyError:
        raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}") from None


def parse_rates(text: str) -> dict[str, float]:
    """'desaturation=1,fever=0.5' -> {'desaturation': 1.0, 'fever': 0.5} (for --event-rates)."""
    rates: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"expected kind=rate, got {part!r}")
        rates[kind.strip()] = float(value)
    return rates
