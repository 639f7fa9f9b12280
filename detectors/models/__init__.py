"""Shipped LSTM artefacts (a package so that wheels carry them as package data)."""
