"""``woodcock-widgets windows``: annotation tables + audio → a window-table CSV (issue 12)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from _real_labeled import require_real_labeled

from woodcock_widgets.cli import main
from woodcock_widgets.tables.annotations import read_raven
from woodcock_widgets.tables.matching import match_audio
from woodcock_widgets.tables.windows import class_counts, make_windows, read_window_table

ROOT = Path(__file__).resolve().parents[1]
CSV_COLUMNS = ["--file-column", "audio_file", "--start-column", "onset_s", "--end-column"]
CSV_COLUMNS += ["offset_s"]


def cli(*args) -> subprocess.CompletedProcess:
    """``python -m woodcock_widgets ARGS`` as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "woodcock_widgets", *map(str, args)],
        cwd=ROOT,
        env={**os.environ, "WOODCOCK_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_user_error(result, *names: str) -> str:
    """Exit 2 and one ``error:`` line on stderr naming each of ``names``; no traceback."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


def printed_counts(stdout: str) -> pd.DataFrame:
    """The per-class table the command prints (``class positives negatives files`` rows)."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == ["positives"])
    rows = [line.split() for line in lines[start + 2 :] if line.strip()]
    return pd.DataFrame(
        {"positives": [int(r[1]) for r in rows], "negatives": [int(r[2]) for r in rows]},
        index=[r[0] for r in rows],
    )


@pytest.fixture(scope="module")
def gy6or6() -> Path:
    return require_real_labeled() / "bengalese_finch_gy6or6"


@pytest.fixture(scope="module")
def raven_run(gy6or6, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli_windows") / "raven" / "windows.csv"
    r = cli("windows", "--annotations", gy6or6 / "raven", "--audio-dir", gy6or6 / "wav")
    assert r.returncode == 2 and "--out" in r.stderr  # --out is required
    r = cli(
        "windows", "--annotations", gy6or6 / "raven", "--audio-dir", gy6or6 / "wav", "--out", out
    )
    assert r.returncode == 0, r.stderr
    return out, r


def test_gy6or6_raven_tables_give_a_window_table_and_counts(raven_run, gy6or6):
    out, r = raven_run
    windows = read_window_table(out)
    assert list(windows.columns[:3]) == ["file", "start_time", "end_time"]
    assert {Path(f).parent for f in windows["file"]} == {gy6or6 / "wav"}
    assert all(Path(f).is_file() for f in windows["file"].unique())
    assert windows["file"].nunique() == 44
    assert np.allclose(windows["end_time"] - windows["start_time"], 2.0)  # the model's clip
    assert (windows.groupby("file")["start_time"].diff().dropna() == 2.0).all()  # no overlap
    assert f"wrote {out} ({len(windows)} windows of 2 s" in r.stdout
    classes = [c for c in windows.columns if c not in ("file", "start_time", "end_time")]
    assert {"a", "b", "i", "k"} <= set(classes)
    assert set(np.unique(windows[classes].to_numpy())) == {0, 1}
    counts = printed_counts(r.stdout)
    expected = class_counts(windows)
    assert list(counts.index) == classes
    assert counts["positives"].tolist() == expected["positives"].tolist()
    assert counts["negatives"].tolist() == expected["negatives"].tolist()
    # the same windows as the library calls
    report = match_audio(read_raven(gy6or6 / "raven"), gy6or6 / "wav")
    direct = make_windows(report, report.events, clip_seconds=2.0)
    pd.testing.assert_frame_equal(windows, direct, check_dtype=False)


def test_the_csv_of_events_gives_the_same_windows(raven_run, gy6or6, tmp_path):
    out = tmp_path / "windows.csv"
    r = cli(
        "windows",
        "--annotations",
        gy6or6 / "annotations.csv",
        "--format",
        "csv",
        *CSV_COLUMNS,
        "--audio-dir",
        gy6or6 / "wav",
        "--out",
        out,
    )
    assert r.returncode == 0, r.stderr
    pd.testing.assert_frame_equal(read_window_table(out), read_window_table(raven_run[0]))
    assert printed_counts(r.stdout).equals(printed_counts(raven_run[1].stdout))


def test_options_window_length_step_overlap_and_classes(gy6or6, tmp_path, capsys):
    out = tmp_path / "w.csv"
    args = ["windows", "--annotations", str(gy6or6 / "raven"), "--audio-dir", str(gy6or6)]
    args += ["--out", str(out), "--label-column", "Annotation", "--clip-seconds", "0.5"]
    args += ["--step", "0.25", "--min-overlap", "0.01", "a=0.04", "--classes", "a", "i", "k"]
    assert main(args) == 0
    windows = read_window_table(out)
    assert list(windows.columns) == ["file", "start_time", "end_time", "a", "i", "k"]
    report = match_audio(read_raven(gy6or6 / "raven"), gy6or6)
    direct = make_windows(
        report,
        report.events,
        clip_seconds=0.5,
        step=0.25,
        min_overlap={"a": 0.04, "i": 0.01, "k": 0.01},
        classes=["a", "i", "k"],
    )
    pd.testing.assert_frame_equal(windows, direct, check_dtype=False)
    assert "windows of 0.5 s, step 0.25 s" in capsys.readouterr().out


def test_file_paths_are_relative_to_the_csv_folder_when_under_it(gy6or6, tmp_path, capsys):
    name = "032312_gy6or6_baseline_230312_0808.138"
    (tmp_path / "audio").mkdir()
    shutil.copy(gy6or6 / "wav" / f"{name}.wav", tmp_path / "audio")
    table = gy6or6 / "raven" / f"{name}.Table.1.selections.txt"
    out = tmp_path / "windows.csv"
    args = ["windows", "--annotations", str(table), "--audio-dir", str(tmp_path / "audio")]
    assert main([*args, "--out", str(out), "--min-fraction", "0.5"]) == 0
    written = pd.read_csv(out)
    assert set(written["file"]) == {f"audio/{name}.wav"}
    assert set(read_window_table(out)["file"]) == {str(tmp_path / "audio" / f"{name}.wav")}
    assert "from 1 recording(s)" in capsys.readouterr().out


def test_audacity_labels(tmp_path, capsys):
    spinetail = require_real_labeled() / "spinetail"
    out = tmp_path / "w.csv"
    args = ["windows", "--format", "audacity", "--annotations", str(spinetail / "spinetail.txt")]
    assert main([*args, "--audio-dir", str(spinetail), "--out", str(out)]) == 0
    windows = read_window_table(out)
    assert list(windows.columns[3:]) == ["CRER", "SP"]
    assert len(windows) == 9 and windows["SP"].sum() > 0  # 19.5 s in 2 s windows
    assert "SP" in capsys.readouterr().out


def test_fully_annotated_keeps_audio_without_tables_as_negatives(gy6or6, tmp_path, capsys):
    audio = tmp_path / "audio"
    audio.mkdir()
    sf.write(audio / "quiet.wav", np.zeros(8000 * 5, np.float32), 8000)
    name = "032312_gy6or6_baseline_230312_0808.138"
    shutil.copy(gy6or6 / "wav" / f"{name}.wav", audio)
    table = gy6or6 / "raven" / f"{name}.Table.1.selections.txt"
    args = ["windows", "--annotations", str(table), "--audio-dir", str(audio)]
    assert main([*args, "--out", str(tmp_path / "a.csv")]) == 0
    assert "audio without tables" in capsys.readouterr().out
    assert "quiet.wav" not in set(
        read_window_table(tmp_path / "a.csv")["file"].map(os.path.basename)
    )
    assert main([*args, "--out", str(tmp_path / "b.csv"), "--fully-annotated"]) == 0
    windows = read_window_table(tmp_path / "b.csv")
    quiet = windows[windows["file"].str.endswith("quiet.wav")]
    assert len(quiet) == 2 and (quiet.iloc[:, 3:] == 0).all().all()


# ------------------------------------------------------------------ bad input: exit 2, one line
def test_missing_audio_dir_names_the_folder(gy6or6, tmp_path):
    missing = tmp_path / "no_such_folder"
    r = cli("windows", "--annotations", gy6or6 / "raven", "--audio-dir", missing, "--out",
            tmp_path / "w.csv")  # fmt: skip
    assert_user_error(r, str(missing), "--audio-dir")
    assert not (tmp_path / "w.csv").exists()


def test_unknown_label_column_names_the_table_and_column(gy6or6, tmp_path):
    r = cli("windows", "--annotations", gy6or6 / "raven", "--audio-dir", gy6or6 / "wav",
            "--out", tmp_path / "w.csv", "--label-column", "Species")  # fmt: skip
    line = assert_user_error(r, "'Species'", ".Table.1.selections.txt", "Annotation")
    assert "no label column" in line
    assert not (tmp_path / "w.csv").exists()


def test_unknown_csv_column_names_the_csv(gy6or6, tmp_path):
    r = cli("windows", "--annotations", gy6or6 / "annotations.csv", "--format", "csv",
            "--audio-dir", gy6or6 / "wav", "--out", tmp_path / "w.csv")  # fmt: skip
    assert_user_error(r, "annotations.csv", "'file'")


@pytest.mark.parametrize(
    "extra,names",
    [
        (["--min-overlap", "x"], ["--min-overlap", "'x'"]),
        (["--min-overlap", "zz=0.1"], ["--min-overlap", "'zz'"]),
        (["--clip-seconds", "0"], ["--clip-seconds"]),
        (["--clip-seconds", "30"], ["shorter than one 30.0 s window"]),
        (["--format", "audacity", "--label-column", "x"], ["--label-column", "Audacity"]),
        (["--file-column", "f"], ["--file-column", "--format csv"]),
    ],
)
def test_bad_options_are_one_line_errors(gy6or6, tmp_path, capsys, extra, names):
    args = ["windows", "--annotations", str(gy6or6 / "raven"), "--audio-dir", str(gy6or6)]
    assert main([*args, "--out", str(tmp_path / "w.csv"), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ")
    for name in names:
        assert name in err[-1]
    assert not (tmp_path / "w.csv").exists()


def test_a_table_without_its_audio_names_the_table_and_row(gy6or6, tmp_path, capsys):
    (tmp_path / "audio").mkdir()
    table = gy6or6 / "raven" / "032312_gy6or6_baseline_230312_0808.138.Table.1.selections.txt"
    args = ["windows", "--annotations", str(table), "--audio-dir", str(tmp_path / "audio")]
    assert main([*args, "--out", str(tmp_path / "w.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert "032312_gy6or6_baseline_230312_0808.138" in err and "row 2" in err
    assert main([*args, "--out", str(tmp_path / "w.csv"), "--missing-audio", "drop"]) == 2
    assert "no windows" in capsys.readouterr().err
    assert not (tmp_path / "w.csv").exists()
