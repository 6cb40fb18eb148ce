"""The field recordings in ../shared/real_audio: loading, padding, resampling, prediction."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from woodcock_widgets import Audio, Preprocessing, Spectrogram
from woodcock_widgets.audio.clip import audio_info
from woodcock_widgets.errors import AudioLoadError

pytestmark = pytest.mark.real_audio

ROOT = Path(__file__).resolve().parents[1]
LOCA = [f"LOCA_2021_09_24_652_{i}.wav" for i in range(3, 9)]
ARU = [f"aru_{i}.wav" for i in range(1, 6)]

# file: (sample rate, channels, seconds) as the folder's README documents them
DOCUMENTED = {
    "birds_10s.wav": (32000, 1, 10.13),
    "rugr_drum.wav": (32000, 1, 10.0),
    **{f: (32000, 1, 3.0) for f in ARU},
    **{f: (22050, 1, 1.0) for f in LOCA},
    "audiomoth_gps.wav": (48000, 1, 2.0),
    "silence_10s.mp3": (44100, 1, 10.0),
    "veryshort.wav": (44100, 1, 0.14),
    "stereo.wav": (44100, 2, 5 / 44100),
}


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_recording_loads_with_documented_rate_channels_duration(real_audio, name):
    rate, channels, seconds = DOCUMENTED[name]
    info = audio_info(real_audio / name)
    assert (info.samplerate, info.channels) == (rate, channels)
    a = Audio.from_file(real_audio / name)
    assert a.sample_rate == rate
    assert a.samples.ndim == 1 and np.isfinite(a.samples).all()
    assert a.duration == pytest.approx(seconds, abs=0.01)


def test_stereo_is_mixed_down_to_mono(real_audio):
    raw, _ = sf.read(str(real_audio / "stereo.wav"), dtype="float32", always_2d=True)
    assert raw.shape == (5, 2)
    a = Audio.from_file(real_audio / "stereo.wav")
    np.testing.assert_allclose(a.samples, raw.mean(axis=1))


def test_mp3_silence_gives_a_finite_spectrogram(real_audio):
    a = Audio.from_file(real_audio / "silence_10s.mp3", sample_rate=22050)
    spec = Spectrogram.from_audio(a)
    assert np.isfinite(spec.values).all()
    assert (spec.values == spec.decibel_limits[0]).all()
    t = Preprocessing().file_to_tensor(real_audio / "silence_10s.mp3")
    assert torch.isfinite(t).all() and (t == -1).all()


def test_veryshort_still_gives_a_tensor(real_audio):
    path = real_audio / "veryshort.wav"
    a = Audio.from_file(path)
    # shorter than one window of this size: one padded frame, finite
    spec = Spectrogram.from_audio(a, window_samples=8192, overlap_samples=4096)
    assert spec.values.shape == (4097, 1) and np.isfinite(spec.values).all()
    t = Preprocessing(image_shape=(64, 64)).file_to_tensor(path)
    assert tuple(t.shape) == (3, 64, 64) and torch.isfinite(t).all()
    assert (t > -1).any()  # the 0.14 s of sound is in there


def test_empty_two_channel_file_names_the_file(real_audio):
    path = real_audio / "empty_2c.wav"
    info = audio_info(path)  # a valid header: 44.1 kHz, 2 channels, no frames
    assert (info.samplerate, info.channels, info.frames) == (44100, 2, 0)
    with pytest.raises(AudioLoadError, match="no samples") as ei:
        Audio.from_file(path)
    assert str(path) in str(ei.value)
    with pytest.raises(AudioLoadError) as ei:
        Preprocessing().file_to_tensor(path)
    assert str(path) in str(ei.value)


@pytest.mark.parametrize("name", LOCA)
def test_one_second_clips_are_padded_to_two(real_audio, name):
    pre = Preprocessing(image_shape=(64, 64))
    clip = pre.load_clip(real_audio / name)
    assert clip.sample_rate == 22050 and len(clip.samples) == 44100
    original = Audio.from_file(real_audio / name).samples
    np.testing.assert_array_equal(clip.samples[:22050], original)
    assert not clip.samples[22050:].any()
    t = pre.file_to_tensor(real_audio / name)
    assert tuple(t.shape) == (3, 64, 64)
    assert (t[:, :, -24:] == -1).all()  # the padded second is silence


@pytest.mark.parametrize("name", ["aru_1.wav", "audiomoth_gps.wav"])
def test_other_rates_are_resampled_to_22050(real_audio, name):
    pre = Preprocessing(image_shape=(64, 64))
    clip = pre.load_clip(real_audio / name)
    assert clip.sample_rate == 22050 and len(clip.samples) == 44100
    # energy kept (these recordings have little above 11 kHz)
    a = Audio.from_file(real_audio / name, duration=2.0)
    rms = np.sqrt(np.mean(a.samples**2))
    assert np.sqrt(np.mean(clip.samples**2)) == pytest.approx(rms, rel=0.1)
    assert tuple(pre.file_to_tensor(real_audio / name).shape) == (3, 64, 64)


@pytest.mark.slow
def test_prediction_on_the_soundscape_with_overlap(real_audio, trained_run):
    from woodcock_widgets.ml.bundle import ModelBundle
    from woodcock_widgets.ml.predict import predict

    bundle = ModelBundle.load(trained_run / "best.pt")
    path = real_audio / "birds_10s.wav"  # 10.13 s at 32 kHz
    df = predict(bundle, [path], overlap=1.0)
    assert df["start_time"].tolist() == [float(s) for s in range(10)]
    assert df["end_time"].tolist() == [float(s + 2) for s in range(10)]
    assert (df["file"] == str(path)).all()
    np.testing.assert_allclose(df[bundle.class_names].sum(axis=1), 1.0, atol=1e-5)
    plain = predict(bundle, [path])
    assert list(zip(plain["start_time"], plain["end_time"])) == [
        (s, s + 2) for s in range(0, 12, 2)
    ]
    # the same audio in the same window scores the same with or without overlap
    np.testing.assert_allclose(
        df[bundle.class_names].to_numpy()[[0, 2, 4, 6, 8]],
        plain[bundle.class_names].to_numpy()[:5],
        atol=1e-4,
    )


def _run_fixture_check(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess:
    """Run a one-test session that uses the ``real_audio`` fixture with the folder missing."""
    probe = tmp_path / "test_probe.py"
    probe.write_text("def test_probe(real_audio):\n    assert real_audio.is_dir()\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["WOODCOCK_REAL_AUDIO"] = str(tmp_path / "no_such_folder")
    env["PYTHONPATH"] = str(Path(__file__).parent)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "conftest", str(probe), "-q", "-rs"]
        + ["-p", "no:cacheprovider", "--rootdir", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_missing_folder_fails_on_ci_and_skips_elsewhere(tmp_path):
    on_ci = _run_fixture_check(tmp_path, "true")
    assert on_ci.returncode == 1, on_ci.stdout + on_ci.stderr
    assert "CI must run the real-recording tests" in on_ci.stdout
    assert "1 error" in on_ci.stdout and "skipped" not in on_ci.stdout
    local = _run_fixture_check(tmp_path, None)
    assert local.returncode == 0, local.stdout + local.stderr
    assert "1 skipped" in local.stdout and "WOODCOCK_REAL_AUDIO" in local.stdout
