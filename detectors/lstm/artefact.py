"""The versioned artefact directory a training run writes and the detector loads.

    manifest.json       format/feature versions, model version, sha256 of every file
    model_config.json   architecture (ModelConfig)
    normalisation.json  the feature constants the model was trained under (features.py)
    thresholds.json     calibrated threshold + the decision constants it was calibrated with
    metrics.json        training/validation losses, calibration and evaluation figures
    provenance.json     data source, seed, command line, code revision
    weights.pt          torch state_dict (loaded with weights_only=True)

Loading refuses an artefact whose format, feature constants or decision constants differ
from this code's: its weights or threshold would be applied to inputs they were not made
for, and a silently wrong anomaly score is worse than a detector that does not start.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .decide import decision_constants
from .features import FEATURE_VERSION, feature_constants

ARTEFACT_FORMAT = 1
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "default"
JSON_FILES = ("model_config.json", "normalisation.json", "thresholds.json", "metrics.json", "provenance.json")
WEIGHTS = "weights.pt"


class ArtefactError(ValueError):
    """The model directory is missing, damaged or made for other code: retrain or pick another."""


@dataclass(frozen=True)
class Artefact:
    path: Path
    manifest: dict[str, Any]
    model_config: dict[str, Any]
    thresholds: dict[str, Any]
    metrics: dict[str, Any]
    provenance: dict[str, Any]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _json_roundtrip(value: Any) -> Any:
    return json.loads(json.dumps(value))


def write_artefact(out: Path, *, version: str, weights: bytes, docs: dict[str, dict[str, Any]]) -> Path:
    """Write an artefact dir; docs maps each JSON_FILES name except normalisation.json to its content."""
    out.mkdir(parents=True, exist_ok=True)
    docs = {**docs, "normalisation.json": feature_constants()}
    (out / WEIGHTS).write_bytes(weights)
    for name in JSON_FILES:
        (out / name).write_text(json.dumps(docs[name], indent=2, sort_keys=True) + "\n")
    manifest = {
        "format_version": ARTEFACT_FORMAT,
        "feature_version": FEATURE_VERSION,
        "version": version,
        "files": {name: _sha256(out / name) for name in (*JSON_FILES, WEIGHTS)},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return out


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ArtefactError(f"{path.parent}: missing {path.name}; not an LSTM artefact directory") from None
    except json.JSONDecodeError as exc:
        raise ArtefactError(f"{path}: not valid JSON ({exc})") from None


def read_artefact(path: Path) -> Artefact:
    """Read and check an artefact dir (weights are checked by hash, loaded by the detector)."""
    manifest = _read_json(path / "manifest.json")
    fmt = manifest.get("format_version")
    if fmt != ARTEFACT_FORMAT:
        raise ArtefactError(
            f"{path}: artefact format {fmt!r}, this code reads format {ARTEFACT_FORMAT}; retrain with `vitalstream train`"
        )
    feat = manifest.get("feature_version")
    if feat != FEATURE_VERSION:
        raise ArtefactError(
            f"{path}: trained on feature version {feat!r}, this code computes feature version {FEATURE_VERSION}; "
            "retrain with `vitalstream train`"
        )
    for name, digest in manifest.get("files", {}).items():
        if not (path / name).is_file():
            raise ArtefactError(f"{path}: missing {name}")
        if _sha256(path / name) != digest:
            raise ArtefactError(f"{path}: {name} does not match its manifest hash (damaged or edited)")
    norm = _read_json(path / "normalisation.json")
    expected = _json_roundtrip(feature_constants())
    diff = sorted(k for k in set(norm) | set(expected) if norm.get(k) != expected.get(k))
    if diff:
        raise ArtefactError(f"{path}: normalisation differs from this code's in {diff}; retrain with `vitalstream train`")
    thresholds = _read_json(path / "thresholds.json")
    decision = _json_roundtrip(decision_constants())
    if thresholds.get("decision") != decision:
        raise ArtefactError(
            f"{path}: threshold was calibrated with decision constants {thresholds.get('decision')}, "
            f"this code uses {decision}; recalibrate with `vitalstream train`"
        )
    return Artefact(
        path=path,
        manifest=manifest,
        model_config=_read_json(path / "model_config.json"),
        thresholds=thresholds,
        metrics=_read_json(path / "metrics.json"),
        provenance=_read_json(path / "provenance.json"),
    )
