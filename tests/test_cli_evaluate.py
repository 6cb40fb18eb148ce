"""``woodcock-widgets evaluate`` on the tiny trained run: per-class metrics printed and written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from woodcock_widgets.cli import main
from woodcock_widgets.ml.bundle import ModelBundle
from woodcock_widgets.ml.evaluation import METRIC_COLUMNS, evaluate_bundle, per_class_metrics
from woodcock_widgets.ml.review import score_clips

MAP = ["--map", "song=present", "--map", "call=absent", "--map", "na=absent"]


@pytest.fixture(scope="module")
def bundle_path(trained_run) -> Path:
    return trained_run / "best.pt"


@pytest.fixture(scope="module")
def clips(bundle_path, song_table):
    """The review's scores of the labeled clips (the reference the command must match)."""
    return score_clips(ModelBundle.load(bundle_path), song_table.df)


@pytest.fixture(scope="module")
def reference(clips) -> pd.DataFrame:
    return per_class_metrics(clips.y_true, clips.scores, clips.class_names)


def evaluate(capsys, *args) -> tuple[int, str, str]:
    code = main(["evaluate", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def read_metrics(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path)
    assert list(df.columns) == ["class", *METRIC_COLUMNS]
    return df.set_index("class")


def test_evaluate_prints_and_writes_what_the_review_scores(
    capsys, bundle_path, small_data, reference, tmp_path
):
    out_csv = tmp_path / "metrics.csv"
    code, out, err = evaluate(
        capsys,
        "--model",
        bundle_path,
        "--labels",
        small_data,
        "--label-column",
        "sound_type",
        *MAP,
        "--out",
        out_csv,
    )
    assert code == 0, err
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("class "))
    for title in ("precision", "recall", "F1", "AP", "ROC AUC", "best threshold"):
        assert title in lines[header]
    rows = lines[header + 1 : header + 3]
    assert [r.split()[0] for r in rows] == ["absent", "present"]  # one row per class
    assert not lines[header + 3].startswith(("absent", "present"))
    assert "28 clips" in out and "macro mAP: " in out and f"wrote {out_csv}" in out
    got = read_metrics(out_csv)
    pd.testing.assert_frame_equal(got, reference, check_index_type=False, rtol=1e-9)
    shown_map = float(out.split("macro mAP: ")[1].split()[0])
    assert shown_map == pytest.approx(reference["ap"].mean(), abs=5e-4)


def test_run_folder_table_and_default_output(capsys, bundle_path, song_table, reference, tmp_path):
    labels = tmp_path / "valid.csv"
    song_table.df.to_csv(labels, index=False)  # absolute paths and NumericLabels, as a run's
    code, out, err = evaluate(capsys, "--model", bundle_path, "--labels", labels)
    assert code == 0, err
    written = tmp_path / "valid_evaluation.csv"  # the default: beside the labels
    assert f"wrote {written}" in out
    pd.testing.assert_frame_equal(read_metrics(written), reference, check_index_type=False)
    # a class column of class names gives the same
    code, _, err = evaluate(
        capsys, "--model", bundle_path, "--labels", labels, "--label-column", "woodcock_song"
    )
    assert code == 0, err
    pd.testing.assert_frame_equal(read_metrics(written), reference, check_index_type=False)


def test_window_table_scores_each_window_at_its_offset(
    capsys, bundle_path, song_table, clips, reference, tmp_path
):
    # every clip laid end to end in one long recording; each clip is one window of it
    df = song_table.df
    parts = [sf.read(f, dtype="int16")[0] for f in df["filename"]]
    rate = sf.info(df["filename"].iloc[0]).samplerate
    assert {len(p) for p in parts} == {2 * rate}  # 2 s clips, the model's clip length
    long = tmp_path / "audio" / "night.wav"
    long.parent.mkdir()
    sf.write(long, np.concatenate(parts), rate, subtype="PCM_16")
    starts = 2.0 * np.arange(len(df))
    present = (df["woodcock_song"] == "present").astype(int).to_numpy()
    windows = pd.DataFrame(
        {
            "file": "audio/night.wav",
            "start_time": starts,
            "end_time": starts + 2.0,
            "absent": 1 - present,
            "present": present,
        }
    )
    table = tmp_path / "windows.csv"
    windows.to_csv(table, index=False)
    result = evaluate_bundle(ModelBundle.load(bundle_path), table)
    assert result.rows.kind == "windows" and not result.notes
    np.testing.assert_allclose(result.scores, clips.scores, atol=1e-5)
    code, out, err = evaluate(capsys, "--model", bundle_path, "--labels", table)
    assert code == 0, err
    assert "28 windows" in out
    got = read_metrics(tmp_path / "windows_evaluation.csv")
    pd.testing.assert_frame_equal(got, reference, check_index_type=False, atol=1e-4)
    # windows of another length than the model's clips: said, and scored from their start
    windows.assign(end_time=starts + 1.0).head(2).to_csv(table, index=False)
    short = evaluate_bundle(ModelBundle.load(bundle_path), table)
    assert short.notes and "1 s" in short.notes[0] and "2 s" in short.notes[0]
    np.testing.assert_allclose(short.scores, clips.scores[:2], atol=1e-5)


def test_thresholds_recorded_in_the_bundle_are_used(capsys, bundle_path, small_data, tmp_path):
    bundle = ModelBundle.load(bundle_path)
    bundle.extra["thresholds"] = {"present": 0.3}
    path = bundle.save(tmp_path / "tuned.pt")
    args = ["--model", path, "--labels", small_data, "--label-column", "sound_type", *MAP]
    code, _, err = evaluate(capsys, *args, "--out", tmp_path / "a.csv")
    assert code == 0, err
    assert read_metrics(tmp_path / "a.csv")["threshold"].to_dict() == {
        "absent": 0.5,
        "present": 0.3,
    }
    code, out, err = evaluate(
        capsys, *args, "--threshold", "0.7", "--classes", "present", "--out", tmp_path / "b.csv"
    )
    assert code == 0, err
    got = read_metrics(tmp_path / "b.csv")
    assert list(got.index) == ["present"] and got.loc["present", "threshold"] == 0.7


def test_bad_label_exits_2_naming_it_with_a_suggestion(capsys, bundle_path, small_data, tmp_path):
    df = pd.read_csv(small_data)
    df["filename"] = [str(small_data.parent / f) for f in df["filename"]]
    df["woodcock"] = df["woodcock"].replace({"present": "presnt"})
    labels = tmp_path / "typo.csv"
    df.to_csv(labels, index=False)
    code, out, err = evaluate(
        capsys, "--model", bundle_path, "--labels", labels, "--label-column", "woodcock"
    )
    assert code == 2, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "'presnt'" in lines[0] and "did you mean 'present'?" in lines[0]
    assert "'woodcock'" in lines[0] and str(labels) in lines[0]
    assert "Traceback" not in out + err and not out
    assert not (tmp_path / "typo_evaluation.csv").exists()


def test_arguments_are_checked_before_any_work(capsys, bundle_path, small_data, tmp_path):
    nope = tmp_path / "nope.pt"
    for bad in ("2", "-0.1", "nan"):
        code, _, err = evaluate(capsys, "--model", nope, "--labels", small_data, "--threshold", bad)
        assert code == 2 and "--threshold" in err and "[0, 1]" in err
    code, _, err = evaluate(capsys, "--model", nope, "--labels", small_data)
    assert code == 2 and "model bundle not found" in err
    code, _, err = evaluate(capsys, "--model", bundle_path, "--labels", tmp_path / "none.csv")
    assert code == 2 and "label table not found" in err
    code, _, err = evaluate(
        capsys, "--model", bundle_path, "--labels", small_data, "--out", small_data
    )
    assert code == 2 and "labels table itself" in err
    code, _, err = evaluate(
        capsys,
        "--model",
        bundle_path,
        "--labels",
        small_data,
        "--label-column",
        "sound_type",
        *MAP,
        "--classes",
        "presnt",
        "--out",
        tmp_path / "x.csv",
    )
    assert code == 2 and "'presnt'" in err and "did you mean 'present'?" in err
    assert not (tmp_path / "x.csv").exists()
