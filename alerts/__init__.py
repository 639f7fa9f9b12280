"""Alerts: alert candidates → alert lifecycle → signed webhooks (INTERFACE §4; docs/alerts.md).

policy/model: the pure policy · store: its decisions in PostgreSQL (+ outbox) ·
engine: Kafka consumer running it · actions/queries: what the API calls ·
signing/verify: Standard Webhooks v1 · delivery/dispatcher: the outbox delivered ·
subscriptions/urls: who gets what · cli: `vitalstream dispatcher|alert-engine|webhooks`.
"""
