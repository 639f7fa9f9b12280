"""The default LSTM artefact, loaded by detectors.lstm.load_detector() (see docs/lstm.md)."""
