"""Tests for the clip module: loading, mix-down, resampling, trim/pad, WAV bytes, errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from woodcock_widgets import Audio
from woodcock_widgets.audio.clip import audio_info
from woodcock_widgets.errors import AudioLoadError, WoodcockError


def _sine(freq: float, seconds: float, sr: int, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _band_fraction(x: np.ndarray, sr: int, lo: float, hi: float) -> float:
    """Fraction of the signal's energy between ``lo`` and ``hi`` Hz (Hann-windowed FFT)."""
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    f = np.fft.rfftfreq(len(x), 1 / sr)
    return float(spec[(f >= lo) & (f <= hi)].sum() / spec.sum())


def _write(path, samples, sr, subtype="FLOAT", fmt=None):
    sf.write(str(path), samples, sr, subtype=subtype, format=fmt)
    return path


# ------------------------------------------------------------------------------------ loading


@pytest.mark.parametrize("sr", [8000, 16000, 22050, 32000, 44100, 48000])
def test_from_file_keeps_rate_and_samples(tmp_path, sr):
    x = _sine(440, 0.5, sr)
    p = _write(tmp_path / f"s{sr}.wav", x, sr)
    a = Audio.from_file(p)
    assert a.sample_rate == sr
    assert a.samples.dtype == np.float32 and a.samples.ndim == 1
    assert a.duration == pytest.approx(0.5, abs=1 / sr)
    np.testing.assert_array_equal(a.samples, x)
    assert a.path == str(p)


def test_from_file_reads_pcm16_and_flac(tmp_path):
    x = _sine(1000, 0.25, 22050)
    wav = _write(tmp_path / "a.wav", x, 22050, subtype="PCM_16")
    flac = _write(tmp_path / "a.flac", x, 22050, subtype="PCM_16", fmt="FLAC")
    for p in (wav, flac):
        a = Audio.from_file(p)
        assert a.sample_rate == 22050
        np.testing.assert_allclose(a.samples, x, atol=1.5 / 32768)


@pytest.mark.parametrize(("fmt", "subtype"), [("OGG", "VORBIS"), ("MP3", "MPEG_LAYER_III")])
def test_from_file_reads_lossy_formats(tmp_path, fmt, subtype):
    if fmt not in sf.available_formats():
        pytest.skip(f"this libsndfile ({sf.__libsndfile_version__}) cannot write {fmt}")
    x = _sine(1000, 1.0, 22050)
    p = _write(tmp_path / f"a.{fmt.lower()}", x, 22050, subtype=subtype, fmt=fmt)
    a = Audio.from_file(p)
    assert a.sample_rate == 22050
    assert a.duration == pytest.approx(1.0, abs=0.06)  # codecs may add padding
    assert _band_fraction(a.samples, 22050, 950, 1050) > 0.99


def test_offset_and_duration_select_the_right_samples(tmp_path):
    sr = 8000
    x = (np.arange(sr * 2) / (sr * 2)).astype(np.float32)  # a ramp: position is recoverable
    p = _write(tmp_path / "ramp.wav", x, sr)
    a = Audio.from_file(p, offset=0.5, duration=0.25)
    assert len(a.samples) == sr // 4
    np.testing.assert_array_equal(a.samples, x[sr // 2 : sr // 2 + sr // 4])
    tail = Audio.from_file(p, offset=1.5)  # to the end
    np.testing.assert_array_equal(tail.samples, x[int(1.5 * sr) :])
    longer = Audio.from_file(p, offset=1.75, duration=5.0)  # duration past the end: what is left
    assert len(longer.samples) == sr // 4


def test_mono_mixdown_averages_channels(tmp_path):
    n = 1000
    stereo = np.stack([np.full(n, 0.5), np.full(n, -0.1)], axis=1).astype(np.float32)
    p = _write(tmp_path / "st.wav", stereo, 16000)
    a = Audio.from_file(p)
    assert a.samples.shape == (n,)
    np.testing.assert_allclose(a.samples, 0.2, atol=1e-6)


def test_from_file_resamples_on_request(tmp_path):
    p = _write(tmp_path / "a.wav", _sine(1000, 1.0, 48000), 48000)
    a = Audio.from_file(p, sample_rate=22050)
    assert a.sample_rate == 22050
    assert len(a.samples) == 22050


# --------------------------------------------------------------------------------- resampling


def test_resample_keeps_frequency_of_a_sine():
    a = Audio(_sine(1000, 2.0, 48000), 48000).resample(22050)
    assert a.sample_rate == 22050
    assert len(a.samples) == 44100
    spec = np.abs(np.fft.rfft(a.samples * np.hanning(len(a.samples))))
    f = np.fft.rfftfreq(len(a.samples), 1 / 22050)
    assert f[np.argmax(spec)] == pytest.approx(1000, abs=1.0)
    # nearly all the energy stays at 1 kHz, none spreads elsewhere
    assert _band_fraction(a.samples, 22050, 950, 1050) > 0.999
    # amplitude preserved (RMS of a 0.5-amplitude sine is 0.5/sqrt 2), edges aside
    mid = a.samples[2000:-2000]
    assert np.sqrt(np.mean(mid**2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


def test_resample_filters_content_above_the_new_nyquist():
    # 15 kHz cannot exist at 22050 Hz; a naive decimator would fold it to 7050 Hz
    x = _sine(15000, 1.0, 48000)
    a = Audio(x, 48000).resample(22050)
    rms_in = np.sqrt(np.mean(x**2))
    rms_out = np.sqrt(np.mean(a.samples[1000:-1000] ** 2))
    assert rms_out < 0.01 * rms_in
    # the folded tone would peak at 0.5 * n / 2 in the FFT; demand 40 dB below that
    mag = np.abs(np.fft.rfft(a.samples))
    f = np.fft.rfftfreq(len(a.samples), 1 / 22050)
    assert mag[(f > 6950) & (f < 7150)].max() < 0.01 * 0.5 * len(a.samples) / 2


def test_resample_same_rate_is_identity_and_upsampling_works():
    a = Audio(_sine(500, 0.5, 16000), 16000)
    assert a.resample(16000) is a
    up = a.resample(44100)
    assert up.sample_rate == 44100 and len(up.samples) == 22050
    assert _band_fraction(up.samples, 44100, 450, 550) > 0.999


# ----------------------------------------------------------------------------- trim and pad


def test_trim_returns_the_part_between_times():
    x = np.arange(100, dtype=np.float32)
    a = Audio(x, 10)
    np.testing.assert_array_equal(a.trim(2.0, 3.5).samples, x[20:35])
    assert a.trim(9.5, 12.0).duration == pytest.approx(0.5)  # past the end: what is there
    assert a.trim(-1.0, 0.5).duration == pytest.approx(0.5)


def test_fix_length_trims_and_pads():
    x = np.arange(1, 11, dtype=np.float32)
    a = Audio(x, 10)  # 1 s
    assert a.fix_length(1.0) is a
    np.testing.assert_array_equal(a.fix_length(0.5).samples, x[:5])
    padded = a.fix_length(2.5)
    assert len(padded.samples) == 25
    np.testing.assert_array_equal(padded.samples[:10], x)
    assert not padded.samples[10:].any()
    wrapped = a.fix_length(2.5, pad_mode="wrap")
    np.testing.assert_array_equal(wrapped.samples, np.resize(x, 25))
    with pytest.raises(ValueError, match="pad_mode"):
        a.fix_length(2.0, pad_mode="reflect")


def test_silence_and_repr():
    s = Audio.silence(1.5, 8000)
    assert s.duration == pytest.approx(1.5) and not s.samples.any()
    assert "1.500" in repr(s) and "8000" in repr(s)


def test_invalid_construction():
    with pytest.raises(ValueError, match="one-dimensional"):
        Audio(np.zeros((10, 2)), 100)
    with pytest.raises(ValueError, match="sample_rate"):
        Audio(np.zeros(10), 0)


# ----------------------------------------------------------------------------- WAV export


def test_to_wav_bytes_round_trips_through_soundfile():
    x = _sine(700, 0.3, 22050, amp=0.8)
    data = Audio(x, 22050).to_wav_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    back, sr = sf.read(io.BytesIO(data), dtype="float32")
    assert sr == 22050
    assert back.shape == x.shape
    np.testing.assert_allclose(back, x, atol=1.0 / 32767)


def test_to_wav_bytes_clips_out_of_range_samples():
    x = np.array([2.0, -3.0, 0.25], np.float32)
    back, _ = sf.read(io.BytesIO(Audio(x, 8000).to_wav_bytes()), dtype="float32")
    assert back.max() <= 1.0 and back.min() >= -1.0
    assert back[0] == pytest.approx(1.0, abs=1e-4) and back[1] == pytest.approx(-1.0, abs=1e-4)
    assert back[2] == pytest.approx(0.25, abs=1e-4)


def test_save_writes_a_wav_that_loads_again(tmp_path):
    x = _sine(300, 0.2, 16000)
    out = Audio(x, 16000).save(tmp_path / "sub" / "o.wav", subtype="FLOAT")
    np.testing.assert_array_equal(Audio.from_file(out).samples, x)
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]


# ---------------------------------------------------------------------------------- errors


def _assert_names(exc_info, path) -> None:
    assert isinstance(exc_info.value, WoodcockError)
    assert str(path) in str(exc_info.value)


def test_missing_file_is_named(tmp_path):
    p = tmp_path / "nope.wav"
    with pytest.raises(AudioLoadError, match="not found") as ei:
        Audio.from_file(p)
    _assert_names(ei, p)


def test_directory_is_named(tmp_path):
    d = tmp_path / "clips.wav"
    d.mkdir()
    with pytest.raises(AudioLoadError, match="folder") as ei:
        Audio.from_file(d)
    _assert_names(ei, d)


def test_zero_byte_file_is_named(tmp_path):
    p = tmp_path / "zero.wav"
    p.write_bytes(b"")
    with pytest.raises(AudioLoadError, match="empty") as ei:
        Audio.from_file(p)
    _assert_names(ei, p)


def test_text_file_named_wav_is_named(tmp_path):
    p = tmp_path / "notes.wav"
    p.write_text("filename,woodcock\nclip.wav,present\n")
    with pytest.raises(AudioLoadError, match="cannot read") as ei:
        Audio.from_file(p)
    _assert_names(ei, p)
    with pytest.raises(AudioLoadError) as ei:
        audio_info(p)
    _assert_names(ei, p)


def test_truncated_wav_is_named(tmp_path):
    good = _write(tmp_path / "g.wav", _sine(440, 0.5, 8000), 8000, subtype="PCM_16")
    p = tmp_path / "cut.wav"
    p.write_bytes(good.read_bytes()[:30])  # header cut mid-way
    with pytest.raises(AudioLoadError) as ei:
        Audio.from_file(p)
    _assert_names(ei, p)


def test_header_only_wav_is_named(tmp_path):
    p = _write(tmp_path / "hdr.wav", np.zeros((0, 2), np.float32), 44100, subtype="PCM_16")
    assert sf.info(str(p)).frames == 0
    with pytest.raises(AudioLoadError, match="no samples") as ei:
        Audio.from_file(p)
    _assert_names(ei, p)


def test_nan_samples_are_named(tmp_path):
    x = _sine(440, 0.1, 8000)
    x[10] = np.nan
    x[20] = np.inf
    p = _write(tmp_path / "nan.wav", x, 8000)
    with pytest.raises(AudioLoadError, match="2 NaN or infinite") as ei:
        Audio.from_file(p)
    _assert_names(ei, p)


def test_offset_past_end_is_named(tmp_path):
    p = _write(tmp_path / "one.wav", _sine(440, 1.0, 8000), 8000)
    with pytest.raises(AudioLoadError, match="past the end") as ei:
        Audio.from_file(p, offset=1.0)
    _assert_names(ei, p)
    with pytest.raises(AudioLoadError, match="offset") as ei:
        Audio.from_file(p, offset=-0.5)
    _assert_names(ei, p)
    with pytest.raises(AudioLoadError, match="duration") as ei:
        Audio.from_file(p, duration=0)
    _assert_names(ei, p)


def test_audio_info_reads_the_header(tmp_path):
    p = _write(tmp_path / "i.wav", np.zeros((4410, 2), np.float32), 44100)
    info = audio_info(p)
    assert (info.samplerate, info.channels, info.frames) == (44100, 2, 4410)
    with pytest.raises(AudioLoadError) as ei:
        audio_info(tmp_path / "missing.wav")
    _assert_names(ei, tmp_path / "missing.wav")
