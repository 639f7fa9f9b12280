"""Virtual patients with realistic physiology and labelled clinical events; replay of recorded streams.

Public API (others code against it):
    generate_patient, generate_cohort, PatientTrace, Event, SCENARIOS, Scenario
    write_samples_jsonl, write_samples_csv, write_events_jsonl, read_samples, read_events
    run_fleet (simulators.fleet), replay (simulators.replay)
"""

from .model import EVENT_KINDS, Event, PatientTrace
from .patient import DEFAULT_START_MS, generate_cohort, generate_patient, patient_plan
from .readers import MalformedRow, ReadStats, read_events, read_samples
from .scenarios import SCENARIOS, Scenario, get_scenario
from .writers import write_events_jsonl, write_samples, write_samples_csv, write_samples_jsonl

__all__ = [
    "DEFAULT_START_MS",
    "EVENT_KINDS",
    "SCENARIOS",
    "Event",
    "MalformedRow",
    "PatientTrace",
    "ReadStats",
    "Scenario",
    "generate_cohort",
    "generate_patient",
    "get_scenario",
    "patient_plan",
    "read_events",
    "read_samples",
    "write_events_jsonl",
    "write_samples",
    "write_samples_csv",
    "write_samples_jsonl",
]
