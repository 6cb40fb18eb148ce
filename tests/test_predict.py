"""Tests for woodcock_widgets.ml.predict: windows, scores, detections and Raven tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from woodcock_widgets.errors import AudioLoadError, LabelError
from woodcock_widgets.ml.bundle import ModelBundle
from woodcock_widgets.ml.predict import (
    RAVEN_COLUMNS,
    clip_windows,
    detections,
    predict,
    raven_to_clip_labels,
    read_raven_table,
    to_raven_table,
    write_raven_table,
)


@pytest.fixture(scope="module")
def bundle(trained_run) -> ModelBundle:
    return ModelBundle.load(trained_run / "best.pt")


@pytest.fixture(scope="module")
def clips(song_table) -> list[str]:
    return song_table.df["filename"].iloc[:4].tolist()


@pytest.fixture(scope="module")
def long_file(tmp_path_factory, clips) -> str:
    """7 s: three built-in clips end to end, then the first second of a fourth."""
    parts = [sf.read(f, dtype="float32")[0] for f in clips]
    sr = sf.info(clips[0]).samplerate
    x = np.concatenate(parts[:3] + [parts[3][:sr]])
    path = tmp_path_factory.mktemp("long") / "long.wav"
    sf.write(str(path), x, sr, subtype="FLOAT")
    return str(path)


# ---------------------------------------------------------------------------------- windows


def test_clip_windows_without_overlap():
    assert clip_windows(10.0, 2.0) == [(0.0, 2.0), (2.0, 4.0), (4.0, 6.0), (6.0, 8.0), (8.0, 10.0)]


def test_clip_windows_with_overlap():
    w = clip_windows(10.0, 2.0, overlap=1.0)
    assert w == [(float(s), float(s + 2)) for s in range(9)]
    half = clip_windows(10.0, 2.0, overlap=0.5)
    assert [s for s, _ in half] == pytest.approx([0, 1.5, 3, 4.5, 6, 7.5, 9])
    assert half[-1] == pytest.approx((9.0, 11.0))  # last one padded past the end


def test_clip_windows_short_and_uneven():
    assert clip_windows(1.0, 2.0) == [(0.0, 2.0)]
    assert clip_windows(0.1, 2.0, overlap=1.0) == [(0.0, 2.0)]
    assert clip_windows(2.0, 2.0) == [(0.0, 2.0)]
    assert clip_windows(10.13, 2.0)[-1] == (10.0, 12.0)
    with pytest.raises(ValueError, match="overlap"):
        clip_windows(10.0, 2.0, overlap=2.0)
    with pytest.raises(ValueError, match="overlap"):
        clip_windows(10.0, 2.0, overlap=-1.0)


# -------------------------------------------------------------------------------- predictions


@pytest.mark.slow  # uses the trained_run fixture
def test_predict_on_clips(bundle, clips):
    done = []
    df = predict(bundle, clips, progress=lambda k, n: done.append((k, n)))
    assert bundle.class_names == ["absent", "present"]
    assert list(df.columns) == ["file", "start_time", "end_time", "absent", "present"]
    assert df["file"].tolist() == clips  # one 2 s window per clip
    assert (df["start_time"] == 0).all() and (df["end_time"] == 2).all()
    np.testing.assert_allclose(df[["absent", "present"]].sum(axis=1), 1.0, atol=1e-5)
    assert ((df[["absent", "present"]] >= 0) & (df[["absent", "present"]] <= 1)).all().all()
    assert done == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert df.attrs["skipped"] == []


@pytest.mark.slow  # uses the trained_run fixture
def test_predict_on_a_long_file_windows_match_the_clips(bundle, clips, long_file):
    df = predict(bundle, [long_file])
    assert list(zip(df["start_time"], df["end_time"])) == [(0, 2), (2, 4), (4, 6), (6, 8)]
    # a window cut from the long file scores like the clip it came from
    single = predict(bundle, clips[:3])
    np.testing.assert_allclose(
        df[["absent", "present"]].to_numpy()[:3],
        single[["absent", "present"]].to_numpy(),
        atol=1e-4,
    )
    overlapped = predict(bundle, [long_file], overlap=1.0)
    assert overlapped["start_time"].tolist() == [0, 1, 2, 3, 4, 5]
    np.testing.assert_allclose(overlapped[["absent", "present"]].sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(
        overlapped[["absent", "present"]].to_numpy()[[0, 2, 4]],
        df[["absent", "present"]].to_numpy()[:3],
        atol=1e-4,
    )


@pytest.mark.slow  # uses the trained_run fixture
def test_predict_on_error_skip_and_raise(bundle, clips, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF....WAVEjunk")
    missing = tmp_path / "missing.wav"
    files = [clips[0], str(bad), clips[1], str(missing)]
    df = predict(bundle, files, on_error="skip")
    assert df["file"].tolist() == [clips[0], clips[1]]
    skipped = df.attrs["skipped"]
    assert [f for f, _ in skipped] == [str(bad), str(missing)]
    assert str(bad) in skipped[0][1] and "not found" in skipped[1][1]
    with pytest.raises(AudioLoadError) as ei:
        predict(bundle, files, on_error="raise")
    assert str(bad) in str(ei.value)
    with pytest.raises(ValueError, match="on_error"):
        predict(bundle, files, on_error="ignore")


@pytest.mark.slow  # uses the trained_run fixture
def test_predict_with_nothing_readable_gives_an_empty_table(bundle, tmp_path):
    df = predict(bundle, [tmp_path / "none.wav"], on_error="skip")
    assert df.empty
    assert list(df.columns) == ["file", "start_time", "end_time", "absent", "present"]
    assert len(df.attrs["skipped"]) == 1


# ------------------------------------------------------------------------- detections, Raven


@pytest.fixture()
def scores() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "file": ["r.wav"] * 4,
            "start_time": [0.0, 2.0, 4.0, 6.0],
            "end_time": [2.0, 4.0, 6.0, 8.0],
            "absent": [0.9, 0.2, 0.5, 0.75],
            "present": [0.1, 0.8, 0.5, 0.25],
        }
    )


def test_detections_threshold(scores):
    d = detections(scores, "present", threshold=0.5)
    assert d["start_time"].tolist() == [2.0, 4.0]  # >= threshold
    assert d["score"].tolist() == [0.8, 0.5]
    assert (d["annotation"] == "present").all()
    assert list(d.columns) == ["file", "start_time", "end_time", "annotation", "score"]
    assert detections(scores, "present", threshold=0.95).empty
    with pytest.raises(LabelError, match="'woodcock'"):
        detections(scores, "woodcock")


def test_raven_table_round_trip(scores, tmp_path):
    table = to_raven_table(detections(scores, "present", 0.5), low_freq=500, high_freq=5000)
    assert list(table.columns) == [*RAVEN_COLUMNS, "Annotation", "Score"]
    assert table["Selection"].tolist() == [1, 2]
    assert table["Begin Time (s)"].tolist() == [2.0, 4.0]
    assert (table["Low Freq (Hz)"] == 500).all() and (table["High Freq (Hz)"] == 5000).all()
    path = write_raven_table(table, tmp_path / "r.selections.txt")
    text = path.read_text()
    assert text.splitlines()[0].split("\t")[:4] == RAVEN_COLUMNS[:4]
    assert "," not in text.splitlines()[1]  # tab-separated
    pd.testing.assert_frame_equal(read_raven_table(path), table)


def test_raven_table_without_detections_round_trips(scores, tmp_path):
    table = to_raven_table(detections(scores, "present", 0.99))
    assert table.empty and "Begin Time (s)" in table.columns
    back = read_raven_table(write_raven_table(table, tmp_path / "none.txt"))
    assert back.empty and list(back.columns) == list(table.columns)


def test_read_raven_table_errors(tmp_path):
    with pytest.raises(LabelError, match="not found"):
        read_raven_table(tmp_path / "x.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(LabelError, match="empty") as ei:
        read_raven_table(empty)
    assert str(empty) in str(ei.value)
    other = tmp_path / "other.txt"
    other.write_text("a\tb\n1\t2\n")
    with pytest.raises(LabelError, match="Begin Time") as ei:
        read_raven_table(other)
    assert str(other) in str(ei.value)


@pytest.mark.real_audio
def test_real_raven_tables_read_and_round_trip(real_audio, tmp_path):
    files = sorted((real_audio / "raven").glob("*.txt"))
    assert len(files) == 2
    tables = {f.name: read_raven_table(f) for f in files}
    empty = tables["EmptyExample.Table.1.selections.txt"]
    assert empty.empty
    assert list(empty.columns) == [*RAVEN_COLUMNS, "Species"]  # trailing tab dropped
    ann = tables["raven_with_Annotation_col.txt"]
    assert list(ann.columns) == [*RAVEN_COLUMNS, "Annotation"]
    assert ann["Annotation"].tolist() == ["CSWA"]
    assert ann["Begin Time (s)"].iloc[0] == pytest.approx(1.897648165999982)
    assert ann["High Freq (Hz)"].iloc[0] == pytest.approx(3266.5)
    for name, table in tables.items():
        back = read_raven_table(write_raven_table(table, tmp_path / name))
        pd.testing.assert_frame_equal(back, table)


def test_raven_to_clip_labels():
    table = pd.DataFrame(
        {
            "Begin Time (s)": [1.9, 7.0, 3.0],
            "End Time (s)": [4.1, 7.1, 3.5],
            "Annotation": ["CSWA", "peent", "CSWA"],
        }
    )
    labels = raven_to_clip_labels(table, duration=10.0, clip_seconds=2.0)
    assert list(labels.columns) == ["start_time", "end_time", "CSWA", "peent"]
    assert labels["start_time"].tolist() == [0, 2, 4, 6, 8]
    # 0.1 s into the first and 0.1 s into the third window are below min_overlap (0.25 s)
    assert labels["CSWA"].tolist() == [0, 1, 0, 0, 0]
    # a selection shorter than min_overlap counts when the window holds all of it
    assert labels["peent"].tolist() == [0, 0, 0, 1, 0]
    loose = raven_to_clip_labels(table, 10.0, 2.0, min_overlap=0.05)
    assert loose["CSWA"].tolist() == [1, 1, 1, 0, 0]
    with pytest.raises(LabelError, match="'Species'"):
        raven_to_clip_labels(table, 10.0, 2.0, annotation_column="Species")


# ------------------------------------------------------------------------- compiled scoring


@pytest.fixture(scope="module")
def tiny_bundle() -> ModelBundle:
    import torch

    from woodcock_widgets.audio.preprocessing import Preprocessing
    from woodcock_widgets.ml.models import build_model

    torch.manual_seed(0)
    model = build_model("resnet18", 2, pretrained=False, in_channels=3)
    return ModelBundle(
        model, "resnet18", {0: "absent", 1: "present"}, Preprocessing(image_shape=(32, 32))
    )


@pytest.fixture(scope="module")
def noise_files(tmp_path_factory) -> list[str]:
    """Recordings of 11 s and 3 s: 5 and 1 windows of 2 s (one more with the 1 s tail)."""
    rng = np.random.default_rng(1)
    folder = tmp_path_factory.mktemp("noise")
    out = []
    for name, seconds in (("a.wav", 11.0), ("b.wav", 3.0)):
        path = folder / name
        sf.write(str(path), 0.1 * rng.standard_normal(int(seconds * 22050)), 22050)
        out.append(str(path))
    return out


def _scores(df: pd.DataFrame) -> np.ndarray:
    return df[["absent", "present"]].to_numpy()


def test_compile_pads_every_batch_to_the_compiled_size(tiny_bundle, noise_files, monkeypatch):
    """The compiled model only ever sees its batch size, and the padding changes no score."""
    import woodcock_widgets.ml.scoring as scoring

    shapes, compiles = [], []

    def fake_compile(model):  # stands in for inductor: the eager model, watched
        compiles.append(model)

        def run(x):
            shapes.append(tuple(x.shape))
            return model(x)

        return run

    monkeypatch.setattr(scoring, "_torch_compile", fake_compile)
    eager = predict(tiny_bundle, noise_files, batch_size=4, precision="fp32")
    compiled = predict(tiny_bundle, noise_files, batch_size=4, precision="fp32", compile=True)
    assert len(compiles) == 1  # once for all the files
    # 6 and 2 windows, padded to 4; one channel: the stem takes the identical channels as one
    assert shapes and set(shapes) == {(4, 1, 32, 32)}
    assert len(compiled) == len(eager) == 8
    pd.testing.assert_frame_equal(compiled[["file", "start_time", "end_time"]], eager.iloc[:, :3])
    np.testing.assert_allclose(_scores(compiled), _scores(eager), atol=1e-5)


@pytest.mark.parametrize("lazy", [False, True])
def test_compile_failure_falls_back_to_eager_with_one_warning(
    tiny_bundle, noise_files, monkeypatch, lazy
):
    """No C compiler, an unsupported platform: failing at compile or at first call."""
    import woodcock_widgets.ml.scoring as scoring

    def broken_compile(model):
        if not lazy:
            raise RuntimeError("no C compiler found")

        def run(x):
            raise RuntimeError("InductorError: no C compiler found")

        return run

    monkeypatch.setattr(scoring, "_torch_compile", broken_compile)
    eager = predict(tiny_bundle, noise_files, batch_size=4, precision="fp32")
    with pytest.warns(RuntimeWarning, match="torch.compile failed.*no C compiler") as got:
        compiled = predict(tiny_bundle, noise_files, batch_size=4, precision="fp32", compile=True)
    assert len([w for w in got if "torch.compile" in str(w.message)]) == 1
    np.testing.assert_array_equal(_scores(compiled), _scores(eager))


def test_cli_compile_flag_reaches_predict(tiny_bundle, noise_files, tmp_path, monkeypatch):
    import woodcock_widgets.ml.scoring as scoring
    from woodcock_widgets.cli import main

    def broken_compile(model):
        raise RuntimeError("unsupported platform")

    monkeypatch.setattr(scoring, "_torch_compile", broken_compile)
    model = tiny_bundle.save(tmp_path / "m.pt")
    out = tmp_path / "scores.csv"
    with pytest.warns(RuntimeWarning, match="unsupported platform"):
        assert main(["predict", "--model", str(model), *noise_files, "--out", str(out),
                     "--compile"]) == 0  # fmt: skip
    assert len(pd.read_csv(out)) == 8


@pytest.mark.slow  # inductor compiles for ~25 s
def test_compiled_scores_match_eager_within_bf16_and_never_recompile(tiny_bundle, noise_files):
    import torch

    from woodcock_widgets.ml.scoring import compile_model, prepare_model
    from woodcock_widgets.ml.streaming import stream_recording

    torch._dynamo.reset()
    prepared = prepare_model(tiny_bundle, "cpu", "bf16")
    compiled = compile_model(prepared, tiny_bundle.preprocessing.image_shape, 4)
    assert compiled.batch_size == 4 and compiled.compile_seconds > 0
    with torch._dynamo.config.patch(error_on_recompile=True):
        for f in noise_files:  # 6 windows (4 + 2 padded), then 2 (padded)
            got = stream_recording(tiny_bundle, f, batch_size=4, prepared=compiled)
            want = stream_recording(tiny_bundle, f, batch_size=4, prepared=prepared)
            np.testing.assert_allclose(_scores(got), _scores(want), atol=2e-2)
            np.testing.assert_allclose(_scores(got).sum(axis=1), 1.0, atol=1e-5)
