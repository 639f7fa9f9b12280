"""Offline evaluation of detectors and the alert policy against labelled data (INTERFACE §6)."""
