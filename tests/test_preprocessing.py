"""Tests for woodcock_widgets.audio.preprocessing: tutorial defaults, round trip, file → tensor."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from woodcock_widgets import Audio, Preprocessing
from woodcock_widgets.audio.preprocessing import image_to_tensor


def _noise(seconds: float, sr: int, seed: int = 0, amp: float = 0.1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (amp * rng.standard_normal(int(round(seconds * sr)))).astype(np.float32)


def test_defaults_follow_the_tutorial():
    # DESIGN.md §1 step 6: 22050 Hz, Hann 512 with 50% overlap, dB in [-100, -20],
    # 224x224, 3 identical channels (normalised to [-1, 1]); 2-second clips (step 1)
    p = Preprocessing()
    assert p.sample_rate == 22050
    assert p.clip_seconds == 2.0
    assert p.window_samples == 512 and p.overlap_samples == 256
    assert p.decibel_limits == (-100.0, -20.0)
    assert p.bandpass is None
    assert p.image_shape == (224, 224)
    assert p.channels == 3


def test_to_dict_from_dict_round_trip():
    p = Preprocessing(
        sample_rate=16000, clip_seconds=3.0, bandpass=(500, 8000), image_shape=[64, 96]
    )
    d = p.to_dict()
    assert json.loads(json.dumps(d)) == d  # JSON-ready
    assert d["bandpass"] == [500.0, 8000.0] and d["image_shape"] == [64, 96]
    back = Preprocessing.from_dict(json.loads(json.dumps(d)))
    assert back == p
    assert Preprocessing.from_dict(Preprocessing().to_dict()) == Preprocessing()
    # keys written by a newer version are ignored
    assert Preprocessing.from_dict({**d, "future_setting": 1}) == p


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sample_rate": 0},
        {"clip_seconds": -1.0},
        {"overlap_samples": 512},
        {"overlap_samples": -1},
    ],
)
def test_invalid_settings_raise(kwargs):
    with pytest.raises(ValueError):
        Preprocessing(**kwargs)


def test_file_to_tensor_pads_a_short_clip(tmp_path):
    pre = Preprocessing(image_shape=(64, 64))
    path = tmp_path / "short.wav"
    sf.write(str(path), _noise(0.5, 44100), 44100, subtype="FLOAT")
    clip = pre.load_clip(path)
    assert clip.sample_rate == 22050
    assert len(clip.samples) == 2 * 22050
    assert not clip.samples[int(0.55 * 22050) :].any()  # zero-padded after the 0.5 s of audio
    t = pre.file_to_tensor(path)
    assert tuple(t.shape) == (3, 64, 64) and t.dtype == torch.float32
    assert t.min() >= -1 and t.max() <= 1
    # the padded three quarters are silence: the image's right part sits at -1
    assert (t[:, :, 52:] == -1).all()
    assert (t[:, :, :12] > -1).any()


def test_load_clip_offset_and_trim(tmp_path):
    sr = 22050
    x = np.zeros(5 * sr, np.float32)
    x[3 * sr : 4 * sr] = 0.5
    path = tmp_path / "long.wav"
    sf.write(str(path), x, sr, subtype="FLOAT")
    pre = Preprocessing()
    clip = pre.load_clip(path, offset=3.0)
    assert clip.duration == pytest.approx(2.0)
    np.testing.assert_array_equal(clip.samples, x[3 * sr : 5 * sr])


def test_small_tensor_and_expand_equal_audio_to_tensor():
    pre = Preprocessing(image_shape=(96, 80))
    audio = Audio(_noise(1.7, 44100, seed=3), 44100)  # other rate and length: both fixed
    full = pre.audio_to_tensor(audio)
    small = pre.small_tensor(audio)
    assert small.dtype == torch.float16 and tuple(small.shape) == (1, 96, 80)
    big = pre.expand(small)
    assert big.dtype == torch.float32 and tuple(big.shape) == tuple(full.shape) == (3, 96, 80)
    torch.testing.assert_close(big, full, atol=2e-3, rtol=0)


def test_bandpass_setting_limits_rows_before_resize():
    pre = Preprocessing(bandpass=(1000.0, 5000.0))
    audio = Audio(_noise(2.0, 22050), 22050)
    spec = pre.spectrogram(audio)
    assert spec.frequencies.min() >= 1000 and spec.frequencies.max() <= 5000
    assert pre.image(audio).shape == spec.values.shape
    assert tuple(pre.audio_to_tensor(audio).shape) == (3, 224, 224)


def test_image_to_tensor_maps_range_and_resizes():
    img = np.linspace(0, 1, 20 * 30, dtype=np.float32).reshape(20, 30)
    t = image_to_tensor(img, shape=None, channels=2, value_range=(-1, 1))
    assert tuple(t.shape) == (2, 20, 30)
    assert t.min().item() == pytest.approx(-1) and t.max().item() == pytest.approx(1)
    r = image_to_tensor(img, shape=(10, 15))
    assert tuple(r.shape) == (3, 10, 15)
    assert r[0, 0, 0] < r[0, -1, -1]  # orientation kept
