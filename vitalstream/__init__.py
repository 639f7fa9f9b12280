"""vitalstream: wearable vitals → Kafka → detectors → TimescaleDB, alerts as signed webhooks."""

__version__ = "0.1.0"
