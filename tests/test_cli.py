"""The command line, run as a user runs it: ``python -m woodcock_widgets ...`` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from woodcock_widgets.ml.bundle import ModelBundle
from woodcock_widgets.ml.predict import RAVEN_COLUMNS, read_raven_table

ROOT = Path(__file__).resolve().parents[1]
MAP = ["--map", "song=present", "--map", "call=absent", "--map", "na=absent"]
TINY = ["--image-size", "32", "--epochs", "1", "--no-pretrained", "--batch-size", "8"]


def cli(*args: str | os.PathLike, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "WOODCOCK_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "woodcock_widgets", *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_user_error(result: subprocess.CompletedProcess, *names: str) -> str:
    """Exit 2, one line on stderr that names what is wrong, no stack trace."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


def song_clips(data_csv: Path) -> list[Path]:
    """The song clips of the generated data set (by label: file names say nothing)."""
    df = pd.read_csv(data_csv)
    return sorted(data_csv.parent / f for f in df.loc[df["sound_type"] == "song", "filename"])


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli_data")
    r = cli("make-data", out, "--seed", "3", "--n-song", "6", "--n-call", "2", "--n-absent", "6")
    assert r.returncode == 0, r.stderr
    csv = out / "woodcock_labels.csv"
    assert str(csv) in r.stdout and "14 clips" in r.stdout
    return csv


def test_make_data_writes_the_requested_counts(data_csv):
    df = pd.read_csv(data_csv)
    assert list(df.columns) == ["filename", "woodcock", "sound_type"]
    assert df["sound_type"].value_counts().to_dict() == {"song": 6, "na": 6, "call": 2}
    assert all((data_csv.parent / f).is_file() for f in df["filename"])


@pytest.fixture(scope="module")
def run_dir(data_csv, tmp_path_factory) -> Path:
    rd = tmp_path_factory.mktemp("cli_run") / "run"
    r = cli(
        "train", "--labels", data_csv, "--run-dir", rd, "--label-column", "sound_type", *MAP, *TINY
    )
    assert r.returncode == 0, r.stderr
    assert "finished: 1 epoch(s)" in r.stdout
    return rd


@pytest.mark.slow
def test_train_writes_the_run_folder_contract(run_dir, data_csv):
    for name in ("history.csv", "config.json", "best.pt", "last.pt", "train.csv", "valid.csv"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "checkpoints" / "epoch-0001.pt").is_file()
    assert not list(run_dir.rglob("*.tmp"))
    history = pd.read_csv(run_dir / "history.csv")
    assert history["epoch"].tolist() == [1]
    for col in ("train_loss", "train_accuracy", "valid_loss", "valid_accuracy", "valid_f1"):
        assert np.isfinite(history[col]).all(), col
    cfg = json.loads((run_dir / "config.json").read_text())
    assert cfg["training"]["epochs"] == 1 and cfg["training"]["batch_size"] == 8
    assert cfg["preprocessing"]["image_shape"] == [32, 32]
    assert cfg["label_dict"] == {"0": "absent", "1": "present"}
    assert cfg["pretrained"] is False
    assert cfg["labels"] == str(data_csv.resolve())
    assert cfg["mapping"] == {"song": "present", "call": "absent", "na": "absent"}
    assert len(pd.read_csv(run_dir / "train.csv")) + len(pd.read_csv(run_dir / "valid.csv")) == 14
    bundle = ModelBundle.load(run_dir / "best.pt")
    assert bundle.class_names == ["absent", "present"]
    assert bundle.preprocessing.image_shape == (32, 32)


@pytest.mark.slow
def test_training_into_an_existing_run_without_resume_is_refused(run_dir, data_csv):
    before = (run_dir / "history.csv").read_bytes()
    r = cli(
        "train",
        "--labels",
        data_csv,
        "--run-dir",
        run_dir,
        "--label-column",
        "sound_type",
        *MAP,
        *TINY,
    )
    assert_user_error(r, str(run_dir))
    assert (run_dir / "history.csv").read_bytes() == before


@pytest.mark.slow
def test_resume_with_more_epochs_continues(run_dir, tmp_path):
    r = cli("train", "--run-dir", run_dir, "--resume", "--epochs", "2")
    assert r.returncode == 0, r.stderr
    assert "finished: 2 epoch(s)" in r.stdout
    history = pd.read_csv(run_dir / "history.csv")
    assert history["epoch"].tolist() == [1, 2]  # continued, no duplicate rows
    assert (run_dir / "checkpoints" / "epoch-0002.pt").is_file()
    assert json.loads((run_dir / "config.json").read_text())["training"]["epochs"] == 2


@pytest.mark.slow
def test_predict_writes_scores_and_raven_tables(run_dir, data_csv, tmp_path):
    clips = song_clips(data_csv)[:2]
    x, sr = sf.read(str(clips[0]), dtype="float32")
    long_file = tmp_path / "long.wav"
    sf.write(str(long_file), np.concatenate([x, x, x[: sr // 2]]), sr)  # 4.5 s
    ghost = tmp_path / "ghost.wav"
    out, raven = tmp_path / "scores.csv", tmp_path / "raven"
    r = cli(
        "predict",
        "--model",
        run_dir / "best.pt",
        *clips,
        ghost,
        long_file,
        "--out",
        out,
        "--overlap",
        "1.0",
        "--raven",
        raven,
        "--threshold",
        "0",
        "--on-error",
        "skip",
    )
    assert r.returncode == 0, r.stderr
    assert f"skipped {ghost}" in r.stderr
    assert "(6 windows from 3 file(s); 1 skipped)" in r.stdout  # the skipped one not counted
    scores = pd.read_csv(out)
    assert list(scores.columns) == ["file", "start_time", "end_time", "absent", "present"]
    per_file = scores.groupby("file").size().to_dict()
    assert per_file == {str(clips[0]): 1, str(clips[1]): 1, str(long_file): 4}
    np.testing.assert_allclose(scores[["absent", "present"]].sum(axis=1), 1.0, atol=1e-5)
    for f in [*clips, long_file]:
        table = read_raven_table(raven / f"{f.stem}.selections.txt")
        assert list(table.columns)[: len(RAVEN_COLUMNS)] == RAVEN_COLUMNS
        assert len(table) == per_file[str(f)]  # threshold 0: every window is a detection
        assert (table["Annotation"] == "present").all()
    assert not (raven / "ghost.selections.txt").exists()


@pytest.mark.slow
def test_predict_missing_audio_names_the_file(run_dir, data_csv, tmp_path):
    clip = sorted(data_csv.parent.glob("*.wav"))[0]
    ghost = tmp_path / "ghost.wav"
    out = tmp_path / "s.csv"
    assert_user_error(
        cli("predict", "--model", run_dir / "best.pt", clip, ghost, "--out", out), str(ghost)
    )
    assert not out.exists()


def test_predict_threshold_outside_0_1_is_refused_before_any_work(tmp_path):
    out = tmp_path / "s.csv"
    # the model does not even exist: the threshold is checked first
    for bad in ("2", "-0.1", "nan"):
        r = cli(
            "predict", "--model", tmp_path / "nope.pt", tmp_path, "--out", out, "--threshold", bad
        )
        assert_user_error(r, "--threshold", "[0, 1]")
    assert not out.exists()
    r = cli(
        "predict",
        "--model",
        tmp_path / "nope.pt",
        "--audio-dir",
        tmp_path,
        "--out",
        out,
        "--threshold",
        "1.5",
    )
    assert_user_error(r, "--threshold")


def test_predict_empty_folder_is_an_error_naming_it(tmp_path):
    empty = tmp_path / "no audio"
    empty.mkdir()
    (empty / "notes.txt").write_text("field notes")
    out = tmp_path / "s.csv"
    assert_user_error(
        cli("predict", "--model", tmp_path / "model.pt", empty, "--out", out), str(empty)
    )
    assert not out.exists()


@pytest.mark.slow
def test_predict_detect_class_typo_is_refused_before_scoring(run_dir, data_csv, tmp_path):
    clip = sorted(data_csv.parent.glob("*.wav"))[0]
    out = tmp_path / "s.csv"
    r = cli(
        "predict",
        "--model",
        run_dir / "best.pt",
        clip,
        "--out",
        out,
        "--detect-class",
        "presnt",
        "--raven",
        tmp_path / "raven",
    )
    line = assert_user_error(r, "'presnt'", "did you mean 'present'")
    assert "'absent'" in line  # the model's classes are listed
    assert not out.exists() and not (tmp_path / "raven").exists()


def _bundle_with(run_dir: Path, path: Path, label_dict: dict, **extra) -> Path:
    bundle = ModelBundle.load(run_dir / "best.pt")
    bundle.label_dict = label_dict
    bundle.extra = {**bundle.extra, **extra}
    return bundle.save(path)


@pytest.mark.slow
def test_predict_default_detect_class_is_the_positive_class(run_dir, data_csv, tmp_path):
    clip = song_clips(data_csv)[0]
    cases = {
        # not the alphabetically last class ("not_i"), the one the model was trained to find
        "i": _bundle_with(run_dir, tmp_path / "i.pt", {0: "i", 1: "not_i"}),
        "absent": _bundle_with(
            run_dir, tmp_path / "p.pt", {0: "absent", 1: "present"}, positive_class="absent"
        ),
        "woodcock-present": _bundle_with(
            run_dir, tmp_path / "w.pt", {0: "woodcock-absent", 1: "woodcock-present"}
        ),
    }
    for expected, model in cases.items():
        raven = tmp_path / f"raven_{model.stem}"
        r = cli(
            "predict",
            "--model",
            model,
            clip,
            "--out",
            tmp_path / "s.csv",
            "--raven",
            raven,
            "--threshold",
            "0",
        )
        assert r.returncode == 0, r.stderr
        table = read_raven_table(raven / f"{clip.stem}.selections.txt")
        assert table["Annotation"].tolist() == [expected]


@pytest.mark.slow
def test_predict_merge_gap_makes_one_selection_per_bout(run_dir, data_csv, tmp_path):
    clips = song_clips(data_csv)[:2]
    x, sr = sf.read(str(clips[0]), dtype="float32")
    long_file = tmp_path / "bout.wav"
    sf.write(str(long_file), np.concatenate([x, x, x]), sr)  # 6 s: three windows
    common = [
        "--model",
        run_dir / "best.pt",
        long_file,
        "--out",
        tmp_path / "s.csv",
        "--threshold",
        "0",
    ]
    r = cli("predict", *common, "--raven", tmp_path / "separate")
    assert r.returncode == 0, r.stderr
    assert len(read_raven_table(tmp_path / "separate" / "bout.selections.txt")) == 3
    r = cli("predict", *common, "--raven", tmp_path / "merged", "--merge-gap", "0")
    assert r.returncode == 0, r.stderr
    table = read_raven_table(tmp_path / "merged" / "bout.selections.txt")
    assert table[["Begin Time (s)", "End Time (s)"]].values.tolist() == [[0.0, 6.0]]
    assert "merged within 0 s" in r.stdout
    assert_user_error(cli("predict", *common, "--merge-gap", "-1"), "--merge-gap")


def test_missing_labels_file(tmp_path):
    missing = tmp_path / "nope.csv"
    assert_user_error(
        cli("train", "--labels", missing, "--run-dir", tmp_path / "r", *TINY), str(missing)
    )
    assert not (tmp_path / "r" / "last.pt").exists()


def test_missing_column(data_csv, tmp_path):
    r = cli(
        "train",
        "--labels",
        data_csv,
        "--run-dir",
        tmp_path / "r",
        "--label-column",
        "species",
        *TINY,
    )
    assert_user_error(r, "'species'", str(data_csv))


def test_unknown_mapping_value(data_csv, tmp_path):
    r = cli(
        "train",
        "--labels",
        data_csv,
        "--run-dir",
        tmp_path / "r",
        "--label-column",
        "sound_type",
        "--map",
        "song=present",
        "--map",
        "na=absent",
        *TINY,
    )
    assert_user_error(r, "'call'", "'sound_type'")


def test_bad_model_file(data_csv, tmp_path):
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not a torch file at all")
    clip = sorted(data_csv.parent.glob("*.wav"))[0]
    assert_user_error(cli("predict", "--model", bad, clip, "--out", tmp_path / "s.csv"), str(bad))
    assert not (tmp_path / "s.csv").exists()
