"""Artefact versioning, score_batch contract, and reproducible training."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from detectors.lstm import FEATURE_VERSION, N_FEATURES, WINDOW, load_detector
from detectors.lstm.artefact import ArtefactError, read_artefact, write_artefact
from detectors.lstm.dataset import Trace, trace_windows
from detectors.lstm.decide import decision_constants
from detectors.lstm.model import ModelConfig, build_model
from detectors.lstm.train import FitConfig, fit


def _tiny_artefact(path: Path, kind: str = "autoencoder", decoder: str = "lstm", pack: int = 1) -> Path:
    torch.manual_seed(0)
    cfg = ModelConfig(kind=kind, hidden=8, latent=4, decoder=decoder, pack=pack)
    buf = io.BytesIO()
    torch.save(build_model(cfg).state_dict(), buf)
    docs = {"model_config.json": cfg.to_dict(),
            "thresholds.json": {"threshold": 1.5, "decision": decision_constants()},
            "metrics.json": {}, "provenance.json": {"source": "test"}}
    return write_artefact(path, version="test-1", weights=buf.getvalue(), docs=docs)


def _windows(synth, n_traces=2, hours=3.0):
    ws = [trace_windows(Trace("d", *synth(s, hours=hours, rate_hz=1 / 20))).windows for s in range(n_traces)]
    return np.concatenate(ws)


@pytest.mark.parametrize("kind,decoder,pack", [("autoencoder", "lstm", 1), ("autoencoder", "mlp", 1),
                                               ("forecaster", "lstm", 1), ("autoencoder", "lstm", 3)])
def test_score_batch_shapes_and_contributions(tmp_path, kind, decoder, pack, synth):
    det = load_detector(_tiny_artefact(tmp_path / "m", kind, decoder, pack))
    assert det.threshold == 1.5 and det.version == "test-1"
    x = _windows(synth)[:37]
    scores, contrib = det.score_batch(x)
    assert scores.shape == (37,) and contrib.shape == (37, 7)
    assert np.all(scores >= 0) and np.all(np.isfinite(scores))
    np.testing.assert_allclose(contrib.sum(axis=1), 1.0, atol=1e-5)
    assert np.all(contrib[:, 6] == 0.0)  # activity explains, it is never blamed
    s0, c0 = det.score_batch(np.zeros((0, WINDOW, N_FEATURES), np.float32))
    assert s0.shape == (0,) and c0.shape == (0, 7)
    all_missing = np.zeros((1, WINDOW, N_FEATURES), np.float32)
    all_missing[:, :, 7:] = 1.0
    s, c = det.score_batch(all_missing)
    assert s[0] == 0.0 and c.sum() == 0.0  # nothing observed: nothing to judge
    with pytest.raises(ValueError, match="windows must be"):
        det.score_batch(np.zeros((2, 30, N_FEATURES)))
    # batched and one-by-one agree
    one = np.concatenate([det.score_batch(x[i : i + 1])[0] for i in range(5)])
    np.testing.assert_allclose(one, scores[:5], rtol=1e-4, atol=1e-6)


def test_packed_autoencoder_scores_each_minute_and_bad_packs_are_refused():
    torch.manual_seed(0)
    model = build_model(ModelConfig(hidden=8, latent=4, pack=3)).eval()
    x = torch.zeros(2, WINDOW, N_FEATURES)
    x[1, 10:20, 0] = 5.0  # a 10-minute HR excursion in the second window only
    pred, target = model(x)
    assert pred.shape == target.shape == (2, WINDOW, 6)
    assert torch.equal(target[1, 10:20, 0], torch.full((10,), 5.0))  # targets stay per minute, in order
    with pytest.raises(ValueError, match="pack must divide"):
        build_model(ModelConfig(pack=7))
    with pytest.raises(ValueError, match="autoencoder only"):
        build_model(ModelConfig(kind="forecaster", pack=2))


def _edit_json(path: Path, name: str, fn) -> None:
    doc = json.loads((path / name).read_text())
    fn(doc)
    (path / name).write_text(json.dumps(doc))


def test_artefact_mismatches_are_refused_with_a_clear_message(tmp_path):
    good = _tiny_artefact(tmp_path / "good")
    read_artefact(good)

    feat = _tiny_artefact(tmp_path / "feat")
    _edit_json(feat, "manifest.json", lambda d: d.update(feature_version=0))
    with pytest.raises(ArtefactError, match="feature version 0.*retrain"):
        load_detector(feat)

    fmt = _tiny_artefact(tmp_path / "fmt")
    _edit_json(fmt, "manifest.json", lambda d: d.update(format_version=9))
    with pytest.raises(ArtefactError, match="format 9"):
        load_detector(fmt)

    norm = _tiny_artefact(tmp_path / "norm")
    _edit_json(norm, "normalisation.json", lambda d: d.update(window=120))
    with pytest.raises(ArtefactError, match="manifest hash"):  # edited after writing
        load_detector(norm)

    dec = tmp_path / "dec"
    _tiny_artefact(dec)
    _edit_json(dec, "thresholds.json", lambda d: d["decision"].update(alpha=0.5))
    _edit_json(dec, "manifest.json", lambda d: d["files"].pop("thresholds.json"))  # hash no longer checked
    with pytest.raises(ArtefactError, match="decision constants"):
        load_detector(dec)

    with pytest.raises(ArtefactError, match="missing manifest.json"):
        load_detector(tmp_path / "nowhere")


def test_normalisation_mismatch_is_refused(tmp_path):
    art = _tiny_artefact(tmp_path / "n")
    _edit_json(art, "normalisation.json", lambda d: d.update(grid_ms=30_000))
    _edit_json(art, "manifest.json", lambda d: d["files"].pop("normalisation.json"))
    with pytest.raises(ArtefactError, match=r"normalisation differs.*grid_ms"):
        load_detector(art)


def test_tiny_seeded_training_run_reproduces_the_same_loss(synth):
    x = _windows(synth, 2, hours=2.5)
    cfg = ModelConfig(kind="autoencoder", hidden=8, latent=4)
    fcfg = FitConfig(epochs=2, batch=32, seed=3)
    a = fit(x[:64], x[64:96], cfg, fcfg, progress=None)
    b = fit(x[:64], x[64:96], cfg, fcfg, progress=None)
    assert [h["train_loss"] for h in a.history] == [h["train_loss"] for h in b.history]
    assert a.best_val_loss == b.best_val_loss
    assert a.history[-1]["train_loss"] < a.history[0]["train_loss"] * 1.5  # it trains, not explodes
    c = fit(x[:64], x[64:96], cfg, FitConfig(epochs=2, batch=32, seed=4), progress=None)
    assert c.history[0]["train_loss"] != a.history[0]["train_loss"]  # the seed matters


def test_train_artefact_writes_a_loadable_versioned_dir(tmp_path, synth):
    from detectors.lstm.dataset import Trace
    from detectors.lstm.pipeline import TrainOptions, train_artefact

    traces = [Trace(f"d{s}", *synth(s, hours=2.5, rate_hz=1 / 30)) for s in range(6)]
    opts = TrainOptions(out=tmp_path / "art", hours=2.5, devices=6, seed=1,
                        model=ModelConfig(hidden=8, latent=4), fit=FitConfig(epochs=1, batch=64, seed=1),
                        eval_devices=0)
    out = train_artefact(opts, log=io.StringIO(), progress=None, traces=traces)
    art = read_artefact(out)
    assert art.manifest["version"].startswith(f"lstm-autoencoder-f{FEATURE_VERSION}-s1-")
    assert {"weights.pt", "model_config.json", "normalisation.json", "thresholds.json", "metrics.json",
            "provenance.json"} <= set(art.manifest["files"])
    assert art.provenance["seed"] == 1 and art.provenance["split"]["train_devices"] >= 1
    assert art.metrics["history"] and art.thresholds["threshold"] > 0
    det = load_detector(out)
    assert det.threshold == art.thresholds["threshold"]


def test_read_samples_csv_and_jsonl(tmp_path):
    from detectors.lstm.dataset import read_samples

    csv_path = tmp_path / "s.csv"
    csv_path.write_text("device_id,seq,ts,hr,spo2,rr,temp,sbp,dbp,activity\n"
                        "a,2,2000,71,,15,,,,0.1\na,1,1000,70,97,14,36.6,120,80,0\nb,1,1500,60,99,,,,,\n")
    traces = read_samples(csv_path)
    assert [t.device_id for t in traces] == ["a", "b"]
    assert list(traces[0].ts_ms) == [1000, 2000] and traces[0].values[0, 4] == 120
    assert np.isnan(traces[0].values[1, 1])
    jl = tmp_path / "s.jsonl"
    jl.write_text('{"device_id":"a","seq":1,"ts":1000,"hr":70,"spo2":null}\n\n'
                  '{"device_id":"a","seq":2,"ts":"1970-01-01T00:00:02.5Z","hr":71}\n')
    t = read_samples(jl)[0]
    assert t.values[0, 0] == 70 and np.isnan(t.values[0, 1]) and list(t.ts_ms) == [1000, 2500]
