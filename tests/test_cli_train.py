"""``woodcock-widgets train``: window tables, multi-label, and the sharp edges of issue 16."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import soundfile as sf

from woodcock_widgets.cli import main
from woodcock_widgets.tables.windows import write_window_table

ROOT = Path(__file__).resolve().parents[1]
MAP = ["--map", "song=present", "--map", "call=absent", "--map", "na=absent"]
TINY = ["--image-size", "32", "--epochs", "1", "--no-pretrained", "--batch-size", "8"]


@pytest.fixture(autouse=True)
def _keep_sigint():
    """``train`` installs a Ctrl-C handler while it trains, and must put the caller's back."""
    before = signal.getsignal(signal.SIGINT)
    yield
    after = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, before)
    assert after is before, "train left its Ctrl-C handler installed"


def train(capsys, *args) -> tuple[int, str, str]:
    """Run ``train`` in this process: (exit code, stdout, stderr)."""
    code = main(["train", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def user_error(code: int, err: str, *names: str) -> str:
    """Exit 2 and one ``error:`` line naming ``names``."""
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def window_csv(small_data, tmp_path_factory) -> Path:
    """Two 1 s windows per built-in clip, ``song``/``call`` columns (absent clips all 0)."""
    df = pd.read_csv(small_data)
    rows = [
        {
            "file": str(small_data.parent / name),
            "start_time": s,
            "end_time": s + 1.0,
            "song": int(kind == "song"),
            "call": int(kind == "call"),
        }
        for name, kind in zip(df["filename"], df["sound_type"])
        for s in (0.0, 1.0)
    ]
    return write_window_table(pd.DataFrame(rows), tmp_path_factory.mktemp("w") / "windows.csv")


@pytest.mark.slow
def test_the_window_table_contract_as_a_user_runs_it(window_csv, tmp_path):
    run_dir = tmp_path / "run"
    args = ["--labels", window_csv, "--run-dir", run_dir, "--multi-label"]
    args += ["--group-column", "file", *TINY]
    r = subprocess.run(
        [sys.executable, "-m", "woodcock_widgets", "train", *map(str, args)],
        cwd=ROOT,
        env={**os.environ, "WOODCOCK_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "multi-label, 2 classes" in r.stdout and "best valid_map" in r.stdout
    history = pd.read_csv(run_dir / "history.csv")
    assert {"valid_map", "valid_ap_song", "valid_ap_call"} <= set(history.columns)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["multi_label"] is True and config["group_column"] == "file"
    assert config["preprocessing"]["clip_seconds"] == 1.0  # the windows' length
    assert config["offset_column"] == "start_time"
    train_df, valid_df = pd.read_csv(run_dir / "train.csv"), pd.read_csv(run_dir / "valid.csv")
    assert not set(train_df["file"]) & set(valid_df["file"])


@pytest.mark.slow
def test_window_options_classes_mode_and_preprocessing(capsys, window_csv, tmp_path):
    code, _, err = train(
        capsys, "--labels", window_csv, "--run-dir", tmp_path / "a", "--single-target", *TINY
    )
    user_error(code, err, "exactly one class per window")
    code, _, err = train(
        capsys, "--labels", window_csv, "--run-dir", tmp_path / "b", "--classes", "owl", *TINY
    )
    user_error(code, err, "['owl']", "'song', 'call'")
    code, out, err = train(
        capsys,
        "--labels", window_csv, "--run-dir", tmp_path / "c", "--classes", "call", "song",
        "--sample-rate", "16000", "--clip-seconds", "1.0", "--pos-weight-balanced", *TINY,
    )  # fmt: skip
    assert code == 0, err
    config = json.loads((tmp_path / "c" / "config.json").read_text())
    assert config["classes"] == ["call", "song"] and config["multi_label"] is True
    assert config["preprocessing"]["sample_rate"] == 16000
    assert config["preprocessing"]["image_shape"] == [32, 32]
    assert len(config["pos_weight"]) == 2 and config["pos_weight"][0] > config["pos_weight"][1]
    assert "valid_ap_song" in pd.read_csv(tmp_path / "c" / "history.csv").columns


@pytest.fixture(scope="module")
def short_clips(small_data, tmp_path_factory) -> Path:
    """The built-in clips cut to 0.5 s (as a user's short clips), same labels."""
    out = tmp_path_factory.mktemp("short")
    df = pd.read_csv(small_data)
    for name in df["filename"]:
        x, sr = sf.read(str(small_data.parent / name), dtype="float32")
        sf.write(str(out / name), x[: sr // 2], sr)
    df.to_csv(out / "labels.csv", index=False)
    return out / "labels.csv"


@pytest.mark.slow
def test_clips_shorter_than_the_clip_length_are_warned_about(capsys, short_clips, tmp_path):
    args = ["--labels", short_clips, "--label-column", "sound_type", *MAP, *TINY]
    code, _, err = train(capsys, *args, "--run-dir", tmp_path / "a")
    assert code == 0, err
    warning = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert len(warning) == 1 and "28 of 28 clip(s) are shorter than the 2 s" in warning[0]
    assert "zero-padded" in warning[0] and "--clip-seconds" in warning[0]
    code, _, err = train(capsys, *args, "--run-dir", tmp_path / "b", "--clip-seconds", "0.5")
    assert code == 0, err
    assert "warning:" not in err
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    assert config["preprocessing"]["clip_seconds"] == 0.5


def test_too_few_clips_names_the_label_not_its_code(capsys, small_data, tmp_path):
    df = pd.read_csv(small_data)
    df["filename"] = [str(small_data.parent / f) for f in df["filename"]]
    df.loc[df["sound_type"] == "call", "sound_type"] = "na"
    df.loc[df.index[0], "sound_type"] = "call"  # one call clip only
    labels = tmp_path / "labels.csv"
    df.to_csv(labels, index=False)
    code, _, err = train(
        capsys, "--labels", labels, "--label-column", "sound_type", "--run-dir", tmp_path / "r"
    )
    line = user_error(code, err, "['call']", "fewer than 2 clips")
    assert "['0']" not in line and "'1'" not in line
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_corrections_in_the_run_folder_are_applied_and_counted(capsys, small_data, tmp_path):
    df = pd.read_csv(small_data)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    songs = df.loc[df["sound_type"] == "song", "filename"].iloc[:2]
    fixes = pd.DataFrame(
        {
            "filename": [os.path.relpath(small_data.parent / f, run_dir) for f in songs],
            "woodcock": ["absent", "absent"],
        }
    )
    fixes.to_csv(run_dir / "corrections.csv", index=False)
    args = ["--labels", small_data, "--label-column", "woodcock", *TINY]
    code, out, err = train(capsys, *args, "--run-dir", run_dir)
    assert code == 0, err
    assert f"corrections: 2 label(s) changed by {run_dir / 'corrections.csv'}" in out
    both = pd.concat([pd.read_csv(run_dir / "train.csv"), pd.read_csv(run_dir / "valid.csv")])
    fixed = both[both["filename"].isin([str(small_data.parent / f) for f in songs])]
    assert fixed["woodcock"].tolist() == ["absent", "absent"]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["corrections"]["changed"] == 2
    # a review of this run adds one more fix: continuing the run applies it to its split
    third = df.loc[df["sound_type"] == "song", "filename"].iloc[2]
    more = pd.DataFrame(
        {"filename": [os.path.relpath(small_data.parent / third, run_dir)], "woodcock": ["absent"]}
    )
    pd.concat([fixes, more]).to_csv(run_dir / "corrections.csv", index=False)
    code, out, err = train(capsys, "--run-dir", run_dir, "--resume", "--epochs", "2")
    assert code == 0, err
    assert "corrections: 1 label(s) changed" in out
    both = pd.concat([pd.read_csv(run_dir / "train.csv"), pd.read_csv(run_dir / "valid.csv")])
    row = both[both["filename"] == str(small_data.parent / third)]
    assert row["woodcock"].tolist() == ["absent"] and row["NumericLabels"].tolist() == [0]
    assert len(pd.read_csv(run_dir / "history.csv")) == 2
    # an explicit --corrections that does not exist is refused before any work
    code, _, err = train(
        capsys, *args, "--run-dir", tmp_path / "r2", "--corrections", tmp_path / "nope.csv"
    )
    user_error(code, err, "--corrections", "nope.csv")


def test_bad_values_and_mismatched_options_are_refused_first(capsys, small_data, tmp_path):
    base = ["--labels", small_data, "--run-dir", tmp_path / "r", *TINY]
    for option, value in (("--clip-seconds", "0"), ("--sample-rate", "0")):
        code, _, err = train(capsys, *base, option, value)
        user_error(code, err, option)
    code, _, err = train(capsys, *base, "--multi-label", "--label-column", "sound_type")
    user_error(code, err, "--multi-label", "window table")
    code, _, err = train(capsys, *base, "--classes", "song")
    user_error(code, err, "--classes")
    assert not (tmp_path / "r").exists()


def test_help_lists_the_contract_options(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for option in (
        "--labels", "--run-dir", "--classes", "--multi-label", "--single-target",
        "--group-column", "--clip-seconds", "--sample-rate", "--image-size", "--corrections",
    ):  # fmt: skip
        assert option in text, option
