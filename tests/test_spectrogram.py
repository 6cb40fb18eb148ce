"""Tests for woodcock_widgets.audio.spectrogram: STFT, dB limits, band-pass, image, PNG, tensor."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.signal import spectrogram as scipy_spectrogram

from woodcock_widgets import Audio, Spectrogram
from woodcock_widgets.audio.spectrogram import power_to_db, stft_power

SR = 22050


def _sine(freq: float, seconds: float = 2.0, sr: int = SR, amp: float = 0.5) -> Audio:
    t = np.arange(int(round(seconds * sr))) / sr
    return Audio((amp * np.sin(2 * np.pi * freq * t)).astype(np.float32), sr)


@pytest.fixture(scope="module")
def noise_clip() -> Audio:
    rng = np.random.default_rng(0)
    return Audio((0.05 * rng.standard_normal(2 * SR)).astype(np.float32), SR)


def test_tutorial_settings_shape_times_frequencies(noise_clip):
    spec = Spectrogram.from_audio(noise_clip, window_samples=512, overlap_samples=256)
    n_frames = 1 + (2 * SR - 512) // 256  # 171 full windows with a 256-sample hop
    assert spec.values.shape == (257, n_frames) == (257, 171)
    assert spec.values.dtype == np.float32
    np.testing.assert_allclose(spec.frequencies, np.arange(257) * SR / 512)
    assert spec.frequencies[0] == 0 and spec.frequencies[-1] == pytest.approx(SR / 2)
    np.testing.assert_allclose(spec.times, (np.arange(n_frames) * 256 + 256) / SR)
    assert spec.decibel_limits == (-100.0, -20.0)
    assert spec.duration == pytest.approx(spec.times[-1] + 128 / SR)


def test_power_matches_scipy_density_spectrogram(noise_clip):
    power, f, t = stft_power(noise_clip.samples, SR, 512, 256)
    f2, t2, ref = scipy_spectrogram(
        noise_clip.samples, SR, window="hann", nperseg=512, noverlap=256
    )
    np.testing.assert_allclose(f, f2)
    np.testing.assert_allclose(t, t2)
    np.testing.assert_allclose(power, ref, rtol=1e-3, atol=1e-6 * ref.max())


@pytest.mark.parametrize("freq", [1000.0, 2800.0, 6000.0])
def test_sine_peaks_at_its_frequency(freq):
    spec = Spectrogram.from_audio(_sine(freq))
    peak_row = int(np.argmax(spec.values.mean(axis=1)))
    assert abs(spec.frequencies[peak_row] - freq) <= SR / 512 / 2 + 1e-6
    # the tone stands far above the rest: rows a kHz away are 30 dB lower or more
    assert spec.values[peak_row].min() > -40.0
    far = np.abs(spec.frequencies - freq) > 1000
    assert spec.values[peak_row].min() - spec.values[far].max() > 30
    assert np.median(spec.values[far]) == -100.0


def test_digital_silence_is_finite_and_at_the_lower_limit():
    spec = Spectrogram.from_audio(Audio.silence(2.0, SR))
    assert np.isfinite(spec.values).all()
    assert (spec.values == -100.0).all()
    img = spec.to_image()
    assert np.isfinite(img).all() and (img == 0).all()
    t = spec.to_tensor()
    assert torch.isfinite(t).all() and (t == -1).all()
    assert np.isfinite(power_to_db(np.zeros(3))).all()


def test_input_shorter_than_one_window_gives_one_frame():
    a = Audio(np.full(100, 0.3, np.float32), SR)
    spec = Spectrogram.from_audio(a)
    assert spec.values.shape == (257, 1)
    assert np.isfinite(spec.values).all()
    assert spec.to_tensor(shape=(32, 32)).shape == (3, 32, 32)


def test_bandpass_keeps_only_the_band(noise_clip):
    spec = Spectrogram.from_audio(noise_clip)
    band = spec.bandpass(1000, 4000)
    assert band.frequencies.min() >= 1000 and band.frequencies.max() <= 4000
    inside = (spec.frequencies >= 1000) & (spec.frequencies <= 4000)
    assert len(band.frequencies) == inside.sum()
    np.testing.assert_array_equal(band.values, spec.values[inside])
    np.testing.assert_array_equal(band.times, spec.times)
    with pytest.raises(ValueError, match="min_f < max_f"):
        spec.bandpass(4000, 1000)
    with pytest.raises(ValueError, match="no frequency rows"):
        spec.bandpass(100.1, 100.2)


def test_limit_db_reclips(noise_clip):
    spec = Spectrogram.from_audio(noise_clip, decibel_limits=(-150, 0))
    narrow = spec.limit_db((-80, -40))
    assert narrow.decibel_limits == (-80.0, -40.0)
    assert narrow.values.min() >= -80 and narrow.values.max() <= -40
    np.testing.assert_array_equal(narrow.values, np.clip(spec.values, -80, -40))
    with pytest.raises(ValueError, match="low < high"):
        Spectrogram.from_audio(noise_clip, decibel_limits=(-20, -100))


def test_overlap_must_be_smaller_than_window(noise_clip):
    with pytest.raises(ValueError, match="overlap_samples"):
        Spectrogram.from_audio(noise_clip, window_samples=256, overlap_samples=256)
    with pytest.raises(ValueError, match="window_type"):
        Spectrogram.from_audio(noise_clip, window_type="kaiser")


def test_to_image_range_and_orientation():
    spec = Spectrogram.from_audio(_sine(8000.0, amp=0.3))
    img = spec.to_image()
    assert img.shape == spec.values.shape and img.dtype == np.float32
    assert img.min() >= 0.0 and img.max() <= 1.0
    # row 0 is the highest frequency: the 8 kHz tone sits in the upper part of the image
    row = int(np.argmax(img.mean(axis=1)))
    expected = len(spec.frequencies) - 1 - int(np.argmin(np.abs(spec.frequencies - 8000)))
    assert abs(row - expected) <= 1
    assert row < len(spec.frequencies) // 2
    np.testing.assert_allclose(img[::-1], (spec.values + 100) / 80, atol=1e-6)


def test_png_bytes_decode_to_the_right_size_and_polarity():
    spec = Spectrogram.from_audio(_sine(3000.0, seconds=1.0))
    data = spec.to_png_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    im = Image.open(io.BytesIO(data))
    assert im.size == (len(spec.times), len(spec.frequencies))  # PIL: (width, height)
    assert im.mode == "L"
    arr = np.asarray(im)
    row = len(spec.frequencies) - 1 - int(np.argmin(np.abs(spec.frequencies - 3000)))
    assert arr[row].mean() < 64  # loud = dark
    assert arr[0].mean() > 245  # silent top band = light
    plain = np.asarray(Image.open(io.BytesIO(spec.to_png_bytes(invert=False))))
    np.testing.assert_array_equal(plain.astype(int), 255 - arr.astype(int))


def test_to_tensor_shape_range_and_identical_channels(noise_clip):
    spec = Spectrogram.from_audio(noise_clip)
    t = spec.to_tensor()
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    assert tuple(t.shape) == (3, 224, 224)
    assert t.min() >= -1.0 and t.max() <= 1.0
    assert torch.equal(t[0], t[1]) and torch.equal(t[1], t[2])
    assert t.std() > 0  # not a constant image
    native = spec.to_tensor(shape=None, channels=1, value_range=(0, 1))
    assert tuple(native.shape) == (1, *spec.values.shape)
    np.testing.assert_allclose(native[0].numpy(), spec.to_image(), atol=1e-6)
