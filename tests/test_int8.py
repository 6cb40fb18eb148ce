"""Int8 scoring: calibration on the audio, the quantized pass, and a folder run that keeps it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from woodcock_widgets.cli import main as cli_main
from woodcock_widgets.errors import PredictionError
from woodcock_widgets.ml.bundle import ModelBundle
from woodcock_widgets.ml.int8 import calibrate_int8, int8_calibration, int8_model
from woodcock_widgets.ml.predict import predict
from woodcock_widgets.ml.scoring import prepare_model, score_batch
from woodcock_widgets.workflow.folder_int8 import CALIBRATION_NAME
from woodcock_widgets.workflow.folder_outputs import read_scores
from woodcock_widgets.workflow.folder_predict import predict_folder

SR = 22050


def _write(path: Path, seconds: float, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    chirp = np.sin(2 * np.pi * (1500 + 900 * (t % 1.0)) * t) * ((t % 3.0) < 0.8)
    x = 0.05 * rng.standard_normal(len(t)) + 0.3 * chirp
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x.astype(np.float32), SR)
    return path


@pytest.fixture(scope="module")
def model_path(trained_run) -> Path:
    return trained_run / "best.pt"


@pytest.fixture(scope="module")
def clips(small_data) -> list[Path]:
    table = pd.read_csv(small_data)
    return [small_data.parent / f for f in table["filename"]]


def _is_quantized(model: torch.nn.Module) -> bool:
    return any(type(m).__module__.startswith("torch.ao.nn.quantized") for m in model.modules())


def test_int8_scores_stay_close_to_float_on_real_clips(model_path, clips):
    bundle = ModelBundle.load(model_path)
    float_pass = prepare_model(bundle, "cpu", "fp32")
    cal = int8_calibration(float_pass, bundle.preprocessing, clips, windows=16)
    assert cal.windows == 16 and len(cal.files) == 16  # a 2 s clip is one window
    # this 2-epoch model scores near 0.5, so a top class may flip: the report says how often
    assert 0 < cal.max_abs_diff < 0.1 and 0.5 <= cal.same_top_class <= 1.0
    assert set(cal.describe()) >= {"windows", "files", "max_abs_diff", "digest"}
    q = prepare_model(bundle, "cpu", "int8", cal.observers)
    assert q.int8 and _is_quantized(q.model) and not _is_quantized(float_pass.model)
    # every clip, calibration windows or not
    want = predict(bundle, clips, precision="fp32")
    got = predict(bundle, clips, precision="int8")
    assert len(got) == len(want) == len(clips)
    diff = np.abs(got[["absent", "present"]].to_numpy() - want[["absent", "present"]].to_numpy())
    assert diff.max() < 0.1
    assert np.allclose(got[["absent", "present"]].sum(axis=1), 1.0, atol=1e-5)


def test_calibration_is_deterministic_and_belongs_to_its_network(model_path, clips, trained_run):
    bundle = ModelBundle.load(model_path)
    float_pass = prepare_model(bundle, "cpu", "fp32")
    a = int8_calibration(float_pass, bundle.preprocessing, clips[:4], windows=8)
    b = int8_calibration(float_pass, bundle.preprocessing, clips[:4], windows=8)
    assert a.digest == b.digest
    x = torch.rand(2, float_pass.channels, 64, 64)
    other = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU()).eval()
    wrong = calibrate_int8(other, [x])
    with pytest.raises(PredictionError, match="another network"):
        int8_model(float_pass.model, x[:1], wrong)


def test_int8_refuses_without_calibration_or_off_the_cpu(model_path, tmp_path):
    bundle = ModelBundle.load(model_path)
    with pytest.raises(PredictionError, match="activation ranges"):
        prepare_model(bundle, "cpu", "int8")
    with pytest.raises(PredictionError, match="CPU only"):
        prepare_model(bundle, "cuda", "int8", {})
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(PredictionError, match="bad.wav"):
        int8_calibration(prepare_model(bundle, "cpu", "fp32"), bundle.preprocessing, [bad])


def test_int8_with_an_embedding_bundle_is_refused_not_ignored(tmp_path):
    from types import SimpleNamespace

    embedding_like = SimpleNamespace(score_recording=lambda *a, **k: None)  # what predict checks
    with pytest.raises(PredictionError, match="CNN bundles"):
        predict(embedding_like, [tmp_path / "a.wav"], precision="int8")


@pytest.mark.slow
def test_folder_run_keeps_its_calibration_when_resumed(model_path, tmp_path):
    audio = tmp_path / "season"
    for k in range(2):
        _write(audio / f"night{k}.wav", 9.0, k)
    out = tmp_path / "out"
    s = predict_folder(model_path, audio, out, workers=1, precision="int8", progress=False)
    assert s.scored == 2 and not s.failed
    run = json.loads((out / "run.json").read_text())
    assert run["precision"] == "int8" and run["int8_calibration"]["windows"] > 0
    saved = out / CALIBRATION_NAME
    stamp = saved.stat().st_mtime_ns
    entries = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert all(e["int8"] for e in entries)
    # a new recording arrives: the rerun scores it with the same calibration, read back
    _write(audio / "night2.wav", 5.0, 2)
    s2 = predict_folder(model_path, audio, out, workers=1, precision="int8", progress=False)
    assert s2.scored == 1 and s2.skipped == 2
    assert saved.stat().st_mtime_ns == stamp
    again = json.loads((out / "run.json").read_text())
    assert again["int8_calibration"]["digest"] == run["int8_calibration"]["digest"]
    df = read_scores(out / "scores" / "night2.wav.parquet")
    assert len(df) == 3 and df[["absent", "present"]].sum(axis=1).between(0.999, 1.001).all()
    # mixing precisions in one folder is refused
    with pytest.raises(PredictionError, match="int8"):
        predict_folder(model_path, audio, out, workers=1, precision="fp32", progress=False)


def test_cli_predict_precision_int8_file_list(model_path, clips, tmp_path, capsys):
    out = tmp_path / "scores.csv"
    files = [str(c) for c in clips[:4]]
    code = cli_main(
        ["predict", "--model", str(model_path), *files, "--out", str(out), "--precision", "int8"]
    )
    assert code == 0 and "wrote" in capsys.readouterr().out
    got = pd.read_csv(out)
    want = predict(ModelBundle.load(model_path), files, precision="fp32")
    assert np.abs(got["present"].to_numpy() - want["present"].to_numpy()).max() < 0.1


def test_score_batch_of_an_int8_model_matches_its_calibration_report(model_path, clips):
    bundle = ModelBundle.load(model_path)
    float_pass = prepare_model(bundle, "cpu", "fp32")
    cal = int8_calibration(float_pass, bundle.preprocessing, clips[:4], windows=8)
    q = prepare_model(bundle, "cpu", "int8", cal.observers)
    from woodcock_widgets.audio.images import model_image, stack_images

    pre = bundle.preprocessing
    images = [model_image(pre.image(pre.load_clip(c)), pre.image_shape) for c in clips[:4]]
    x = stack_images(images, 3, True)  # three channels in: the stem reads the first
    diff = np.abs(score_batch(q, x) - score_batch(float_pass, x)).max()
    assert diff <= max(cal.max_abs_diff * 3, 0.02)
    assert os.fspath(clips[0]) in cal.files
