"""Bad and unusual audio inputs: each is refused naming the file (and row), or used correctly."""

from __future__ import annotations

import struct

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from woodcock_widgets.audio.clip import Audio
from woodcock_widgets.audio.spectrogram import Spectrogram
from woodcock_widgets.errors import AudioLoadError
from woodcock_widgets.ml.datasets import AudioClipDataset

pytestmark = pytest.mark.faults

SR = 22050


def _tone(seconds: float, rate: int, freq: float = 1000.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _wav(path, data, rate=SR, subtype="PCM_16"):
    sf.write(str(path), data, rate, subtype=subtype, format="WAV")
    return path


def _peak_hz(audio: Audio) -> float:
    spectrum = np.abs(np.fft.rfft(audio.samples))
    return float(np.fft.rfftfreq(len(audio.samples), 1 / audio.sample_rate)[spectrum.argmax()])


def _dataset(paths, pre) -> AudioClipDataset:
    df = pd.DataFrame({"filename": [str(p) for p in paths], "code": [0, 1] * (len(paths) // 2)})
    return AudioClipDataset(df, {0: "absent", 1: "present"}, "code", preprocessing=pre)


# ----------------------------------------------------------------------------- unreadable
def test_unusable_files_are_refused_naming_the_file(tmp_path, fault):
    zero = tmp_path / "zero.wav"
    zero.write_bytes(b"")
    with fault.error("zero-byte file", AudioLoadError, zero, "empty"):
        Audio.from_file(zero)

    header_only = _wav(tmp_path / "header_only.wav", np.zeros(0, np.float32))
    assert header_only.stat().st_size == 44
    with fault.error("header only, no samples", AudioLoadError, header_only, "no samples"):
        Audio.from_file(header_only)

    full = _wav(tmp_path / "full.wav", _tone(2.0, SR)).read_bytes()
    cut_data = tmp_path / "cut_in_data.wav"
    cut_data.write_bytes(full[: len(full) // 2])
    # libsndfile alone would quietly return the first second: a silently shorter clip
    with fault.error("truncated in the samples", AudioLoadError, cut_data, "truncated"):
        Audio.from_file(cut_data)

    cut_head = tmp_path / "cut_in_header.wav"
    cut_head.write_bytes(full[:30])
    with fault.error("truncated in the header", AudioLoadError, cut_head, "cannot read"):
        Audio.from_file(cut_head)

    text = tmp_path / "notes.wav"
    text.write_text("filename,woodcock\nclip.wav,present\n" * 20)
    with fault.error("text file named .wav", AudioLoadError, text, "cannot read"):
        Audio.from_file(text)

    odd = bytearray(full)
    struct.pack_into("<H", odd, 20, 0x1234)  # a WAVE format tag nobody decodes
    unknown = tmp_path / "unknown_codec.wav"
    unknown.write_bytes(bytes(odd))
    with fault.error("unsupported WAV encoding", AudioLoadError, unknown, "cannot read"):
        Audio.from_file(unknown)

    m4a = tmp_path / "clip.m4a"
    m4a.write_bytes(b"\x00\x00\x00\x20ftypM4A " + bytes(400))
    with fault.error("unsupported container (AAC in MP4)", AudioLoadError, m4a, "cannot read"):
        Audio.from_file(m4a)

    folder = tmp_path / "clip_folder.wav"
    folder.mkdir()
    with fault.error("a folder where a file should be", AudioLoadError, folder, "folder"):
        Audio.from_file(folder)

    missing = tmp_path / "never_recorded.wav"
    with fault.error("missing file", AudioLoadError, missing, "not found"):
        Audio.from_file(missing)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_samples_are_refused(tmp_path, fault, bad, micro_pre):
    data = _tone(1.0, SR)
    data[[10, 500]] = bad
    path = _wav(tmp_path / f"float_{bad}.wav", data, subtype="FLOAT")
    with fault.error(f"{bad} samples in a float WAV", AudioLoadError, path, "2 NaN or infinite"):
        Audio.from_file(path)
    ok = _wav(tmp_path / "ok.wav", _tone(1.0, SR))
    ds = _dataset([ok, path], micro_pre)
    with fault.error(f"{bad} samples, through a dataset", AudioLoadError, path, "row 1"):
        ds[1]


@pytest.mark.real_audio
def test_real_header_only_recording(real_audio, fault):
    path = real_audio / "empty_2c.wav"
    with fault.error("real header-only stereo WAV", AudioLoadError, path, "no samples"):
        Audio.from_file(path)


# ------------------------------------------------------------------------- usable variants
@pytest.mark.parametrize(
    "subtype, tolerance",
    [
        ("PCM_U8", 1 / 100),
        ("PCM_16", 1 / 30000),
        ("PCM_24", 1e-6),
        ("PCM_32", 1e-8),
        ("FLOAT", 0.0),
        ("DOUBLE", 0.0),
    ],
)
def test_sample_formats_load_to_the_same_signal(tmp_path, fault, subtype, tolerance, micro_pre):
    x = _tone(2.0, SR)
    path = _wav(tmp_path / f"{subtype}.wav", x, subtype=subtype)
    with fault.case(f"{subtype} WAV"):
        audio = Audio.from_file(path)
        assert audio.sample_rate == SR and audio.samples.dtype == np.float32
        assert np.abs(audio.samples - x).max() <= tolerance
        tensor = micro_pre.file_to_tensor(path)
        assert tuple(tensor.shape) == (3, 32, 32) and bool(tensor.isfinite().all())


@pytest.mark.parametrize("channels", [2, 6])
def test_multichannel_is_averaged(tmp_path, fault, channels):
    rng = np.random.default_rng(channels)
    data = (rng.uniform(-0.5, 0.5, (SR, channels))).astype(np.float32)
    path = _wav(tmp_path / f"ch{channels}.wav", data, subtype="FLOAT")
    with fault.case(f"{channels}-channel WAV"):
        audio = Audio.from_file(path)
        assert audio.samples.shape == (SR,)
        np.testing.assert_allclose(audio.samples, data.mean(axis=1), atol=1e-7)


@pytest.mark.real_audio
def test_real_stereo_float_recording(real_audio, fault):
    path = real_audio / "stereo.wav"
    with fault.case("real 32-bit float stereo WAV"):
        raw, _ = sf.read(str(path), dtype="float32", always_2d=True)
        audio = Audio.from_file(path)
        np.testing.assert_allclose(audio.samples, raw.mean(axis=1), atol=1e-7)


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 32000, 44100, 48000, 96000, 192000])
def test_sample_rates_resample_to_the_model_rate(tmp_path, fault, rate, micro_pre):
    path = _wav(tmp_path / f"sr{rate}.wav", _tone(2.0, rate, freq=1000.0), rate)
    with fault.case(f"{rate} Hz WAV"):
        audio = Audio.from_file(path, sample_rate=micro_pre.sample_rate)
        assert audio.sample_rate == 22050
        assert abs(len(audio.samples) - 2 * 22050) <= 1
        assert abs(_peak_hz(audio) - 1000.0) < 5.0  # the tone survives resampling
        assert np.abs(audio.samples).max() < 0.6  # no resampling blow-up
        tensor = micro_pre.file_to_tensor(path)
        assert tuple(tensor.shape) == (3, 32, 32) and bool(tensor.isfinite().all())


def test_shorter_than_one_fft_window(tmp_path, fault, micro_pre):
    short = _wav(tmp_path / "short.wav", _tone(100 / SR, SR))  # 100 samples < 512
    with fault.case("100 samples, shorter than one FFT window"):
        audio = Audio.from_file(short)
        assert len(audio.samples) == 100
        spec = Spectrogram.from_audio(audio)
        assert spec.values.shape[1] >= 1 and np.isfinite(spec.values).all()
        tensor = micro_pre.file_to_tensor(short)
        assert bool(tensor.isfinite().all())
        clip = micro_pre.load_clip(short)
        assert len(clip.samples) == 2 * SR and not clip.samples[200:].any()  # zero-padded


@pytest.mark.real_audio
def test_real_very_short_recording(fault, micro_pre, real_audio):
    with fault.case("real 0.14 s recording"):
        assert Audio.from_file(real_audio / "veryshort.wav").duration < 0.2
        tensor = micro_pre.file_to_tensor(real_audio / "veryshort.wav")
        assert bool(tensor.isfinite().all())


def test_much_longer_than_a_clip_is_cut_in_windows(tmp_path, fault, micro_pre):
    import torch

    from woodcock_widgets.ml.bundle import ModelBundle
    from woodcock_widgets.ml.models import build_model
    from woodcock_widgets.ml.predict import predict_recording

    seconds = 61.0
    x = np.zeros(int(seconds * SR), np.float32)
    tone = _tone(0.3, SR, 3000.0)
    x[41 * SR : 41 * SR + len(tone)] = tone
    path = _wav(tmp_path / "night.wav", x)
    torch.manual_seed(0)
    bundle = ModelBundle(
        build_model("resnet18", 2, pretrained=False), "resnet18", {0: "a", 1: "b"}, micro_pre
    )
    with fault.case("61 s recording through predict"):
        scores = predict_recording(bundle, path)
        assert len(scores) == 31
        assert scores["start_time"].tolist() == [2.0 * i for i in range(31)]
        assert scores["end_time"].iloc[-1] == 62.0  # the last window is padded
        total = scores[["a", "b"]].sum(axis=1).to_numpy()
        np.testing.assert_allclose(total, 1.0, atol=1e-5)
    with fault.case("61 s recording as dataset rows with offsets"):
        df = pd.DataFrame({"filename": [str(path)] * 2, "code": [0, 1], "offset": [0.0, 40.0]})
        ds = AudioClipDataset(
            df, {0: "a", 1: "b"}, "code", preprocessing=micro_pre, offset_column="offset"
        )
        quiet, loud = ds.image(0), ds.image(1)
        assert float(loud.max()) > float(quiet.max())  # the tone at 41 s is in row 1 only


def test_spaces_and_non_ascii_in_paths(tmp_path, fault, micro_pre):
    from woodcock_widgets.tables.labels import read_labels

    folder = tmp_path / "Feld Aufnahmen – Schnepfe 鹬"
    folder.mkdir()
    name = "Bécasse d'Amérique #1 – 2024.wav"
    path = _wav(folder / name, _tone(2.0, SR))
    with fault.case("path with spaces and non-ASCII characters"):
        assert Audio.from_file(path).duration == pytest.approx(2.0)
        csv = folder / "étiquettes.csv"
        pd.DataFrame({"filename": [name], "woodcock": ["present"]}).to_csv(csv, index=False)
        table = read_labels(csv)
        assert table["filename"].iloc[0] == str(path.resolve())
        assert bool(micro_pre.file_to_tensor(table["filename"].iloc[0]).isfinite().all())


def test_file_removed_between_indexing_and_loading(tmp_path, fault, micro_pre):
    paths = [_wav(tmp_path / f"clip{i}.wav", _tone(2.0, SR, 500.0 * (i + 1))) for i in range(4)]
    ds = _dataset(paths, micro_pre)
    paths[2].unlink()
    with fault.error("file removed after indexing", AudioLoadError, paths[2], "row 2"):
        ds[2]
    with fault.case("the other rows still load"):
        assert all(bool(ds[i][0].isfinite().all()) for i in (0, 1, 3))


def test_unreadable_files_are_skipped_and_reported_by_predict(tmp_path, fault, micro_pre):
    import torch

    from woodcock_widgets.ml.bundle import ModelBundle
    from woodcock_widgets.ml.models import build_model
    from woodcock_widgets.ml.predict import predict

    good = _wav(tmp_path / "good.wav", _tone(2.0, SR))
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    torch.manual_seed(0)
    bundle = ModelBundle(
        build_model("resnet18", 2, pretrained=False), "resnet18", {0: "a", 1: "b"}, micro_pre
    )
    with fault.case("predict(on_error='skip') skips and reports a bad file"):
        scores = predict(bundle, [good, empty], on_error="skip")
        assert scores["file"].tolist() == [str(good)]
        [(name, reason)] = scores.attrs["skipped"]
        assert name == str(empty) and str(empty) in reason
    with fault.error("predict(on_error='raise') names the bad file", AudioLoadError, empty):
        predict(bundle, [good, empty])
