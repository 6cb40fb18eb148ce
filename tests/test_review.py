"""Tests for woodcock_widgets.ml.review: scores, thresholds, confusion cells and corrections."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from woodcock_widgets.errors import LabelError
from woodcock_widgets.ml.bundle import ModelBundle
from woodcock_widgets.ml.metrics import confusion, threshold_metrics
from woodcock_widgets.ml.predict import predict
from woodcock_widgets.ml.review import (
    ClipScores,
    add_correction,
    class_values,
    read_corrections,
    score_clips,
    threshold_predictions,
    true_codes,
    write_corrections,
)
from woodcock_widgets.tables.labels import apply_corrections, read_labels

SCORES = np.array([[0.9, 0.1], [0.4, 0.6], [0.7, 0.3], [0.2, 0.8], [0.55, 0.45]])
TRUTH = np.array([0, 1, 1, 0, 1])


def test_threshold_predictions_binary_and_multiclass():
    assert threshold_predictions(SCORES, 1, 0.5).tolist() == [0, 1, 0, 1, 0]
    assert threshold_predictions(SCORES, 1, 0.3).tolist() == [0, 1, 1, 1, 1]
    assert threshold_predictions(SCORES, 1, 0.5).tolist() == SCORES.argmax(1).tolist()
    three = np.array([[0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.1, 0.6, 0.3]])
    # below the threshold: the best other class, not the arg-max
    assert threshold_predictions(three, 0, 0.6).tolist() == [1, 2, 1]
    assert threshold_predictions(three, 2, 0.25).tolist() == [0, 2, 2]
    with pytest.raises(ValueError):
        threshold_predictions(three, 3, 0.5)


def test_clip_scores_cells_partition_the_table():
    df = pd.DataFrame({"filename": [f"f{i}.wav" for i in range(5)]}, index=[10, 11, 12, 13, 14])
    cs = ClipScores(df, SCORES, TRUTH, ["absent", "present"])
    for thr in (0.3, 0.5, 0.7):
        cm = cs.confusion(1, thr)
        np.testing.assert_array_equal(cm, confusion(TRUTH, cs.predictions(1, thr), 2))
        cells = {(t, p): cs.cell_rows(t, p, 1, thr) for t in (0, 1) for p in (0, 1)}
        assert sorted(sum(cells.values(), [])) == list(df.index)
        assert {k: len(v) for k, v in cells.items()} == {
            (t, p): int(cm[t, p]) for t in (0, 1) for p in (0, 1)
        }
        assert cs.threshold_metrics(1, thr) == threshold_metrics(TRUTH, SCORES[:, 1], 1, thr)
    assert cs.cell_rows(1, 0, 1, 0.5) == [12, 14]  # false negatives
    table = cs.table(1, 0.5)
    assert table["true"].tolist() == ["absent", "present", "present", "absent", "present"]
    assert table["predicted"].tolist() == ["absent", "present", "absent", "present", "absent"]
    assert table["score_present"].tolist() == [0.1, 0.6, 0.3, 0.8, 0.45]


def test_true_codes_from_codes_or_names():
    names = ["absent", "present"]
    df = pd.DataFrame({"NumericLabels": [1, 0], "c": ["x", "y"]})
    assert true_codes(df, names).tolist() == [1, 0]
    assert true_codes(pd.DataFrame({"c": ["present", " absent"]}), names, "c").tolist() == [1, 0]
    assert true_codes(pd.DataFrame({"c": [0, 1]}), names, "c").tolist() == [0, 1]
    with pytest.raises(LabelError, match="'maybe'"):
        true_codes(pd.DataFrame({"c": ["maybe", "absent"]}), names, "c")
    with pytest.raises(LabelError, match="outside 0..1"):
        true_codes(pd.DataFrame({"NumericLabels": [2]}), names)
    with pytest.raises(LabelError, match="neither"):
        true_codes(pd.DataFrame({"x": [1]}), names, "c")


def test_class_values_use_the_tables_words():
    names = ["scolopax-minor-absent", "scolopax-minor-present"]
    df = pd.DataFrame(
        {"NumericLabels": [0, 1, 1], "woodcock_song": ["absent", "present", "present"]}
    )
    assert class_values(df, names, "woodcock_song") == {0: "absent", 1: "present"}
    only_one = df[df["NumericLabels"] == 1]
    assert class_values(only_one, names, "woodcock_song") == {0: names[0], 1: "present"}
    assert class_values(df, names) == dict(enumerate(names))


@pytest.mark.slow  # uses the trained_run fixture
def test_score_clips_matches_predict(trained_run):
    bundle = ModelBundle.load(trained_run / "best.pt")
    valid = pd.read_csv(trained_run / "valid.csv")
    cs = score_clips(bundle, valid, "woodcock_song", batch_size=4)
    assert cs.scores.shape == (len(valid), 2)
    np.testing.assert_allclose(cs.scores.sum(1), 1.0, rtol=1e-5)
    assert cs.y_true.tolist() == valid["NumericLabels"].tolist()
    # the same input the validation dataset gives the model, one clip at a time
    pre = bundle.preprocessing
    with torch.no_grad():
        one_by_one = np.concatenate(
            [
                torch.softmax(
                    bundle.model(pre.expand(pre.small_tensor(pre.load_clip(f)))[None]), 1
                ).numpy()
                for f in valid["filename"]
            ]
        )
    np.testing.assert_allclose(cs.scores, one_by_one, rtol=1e-4, atol=1e-6)
    # predict() on the files (float32 images, no cache) agrees up to the float16 rounding
    direct = predict(bundle, valid["filename"].tolist())
    assert len(direct) == len(valid)  # one window per 2 s clip
    np.testing.assert_allclose(cs.scores, direct[bundle.class_names].to_numpy(), atol=0.05)


def test_corrections_round_trip(tmp_path, small_data):
    table = read_labels(small_data)
    path = tmp_path / "corrections.csv"
    empty = read_corrections(path, "sound_type")
    assert list(empty.columns) == ["filename", "sound_type"] and len(empty) == 0
    f0, f1 = table["filename"].iloc[0], table["filename"].iloc[1]
    fixes = add_correction(empty, f0, "song", "sound_type")
    fixes = add_correction(fixes, f1, "na", "sound_type")
    fixes = add_correction(fixes, f0, "call", "sound_type")  # a later fix wins
    assert fixes.to_dict("list") == {"filename": [f1, f0], "sound_type": ["na", "call"]}
    write_corrections(fixes, path, source=small_data)
    back = read_corrections(path, "sound_type")
    pd.testing.assert_frame_equal(back, fixes)
    fixed = apply_corrections(table, back, "sound_type")
    assert fixed["sound_type"].iloc[0] == "call" and fixed["sound_type"].iloc[1] == "na"
    with pytest.raises(LabelError, match="refusing to overwrite"):
        write_corrections(fixes, small_data, source=small_data)
    pd.DataFrame({"file": ["x"]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(LabelError, match="missing column"):
        read_corrections(tmp_path / "bad.csv", "sound_type")


def test_score_text_never_rounds_across_the_threshold_or_to_certainty():
    from woodcock_widgets.ml.review import score_text

    assert score_text(0.79688) == "0.797"
    assert score_text(0.99996) == "0.99996"  # not "1.000": the model was not certain
    assert score_text(0.00004) == "0.00004"
    assert score_text(1.0) == "1.000" and score_text(0.0) == "0.000"
    assert score_text(0.49996, 0.5) == "0.49996"  # below the threshold, shown below it
    assert score_text(0.5, 0.5) == "0.500"
    assert score_text(0.99996, 1.0) == "0.99996"


def test_corrections_stored_relative_and_applied_with_codes(tmp_path, small_data):
    from woodcock_widgets.tables.corrections import apply_corrections as apply_file
    from woodcock_widgets.tables.corrections import stored_path
    from woodcock_widgets.workflow.pipeline import prepare_labels

    song = prepare_labels(
        small_data,
        "sound_type",
        {"song": "present", "call": "absent", "na": "absent"},
        new_column="woodcock_song",
    ).df
    run = small_data.parent  # the clips live in the run folder, as in the tutorial
    f0, f1 = song["filename"].iloc[0], song["filename"].iloc[1]
    assert stored_path(f0, run) == Path(f0).relative_to(run).as_posix()
    assert stored_path("/elsewhere/far/away/x.wav", run) == "/elsewhere/far/away/x.wav"
    path = run / "corrections.csv"
    old0, old1 = song["woodcock_song"].iloc[0], song["woodcock_song"].iloc[1]
    new0 = "present" if old0 == "absent" else "absent"
    fixes = add_correction(
        read_corrections(path, "woodcock_song"), stored_path(f0, run), new0, "woodcock_song"
    )
    fixes = add_correction(fixes, stored_path(f1, run), old1, "woodcock_song")  # no change
    fixes = add_correction(fixes, "data/not_in_this_table.wav", "present", "woodcock_song")
    write_corrections(fixes, path)
    fixed, n_changed = apply_file(song, path)
    assert n_changed == 1
    assert fixed["woodcock_song"].iloc[0] == new0
    assert fixed["NumericLabels"].iloc[0] == int(new0 == "present")
    assert song["woodcock_song"].iloc[0] == old0  # the input is not modified
    assert apply_file(song, tmp_path / "none.csv")[1] == 0  # no corrections yet: no change
    write_corrections(add_correction(fixes, stored_path(f0, run), "maybe", "woodcock_song"), path)
    with pytest.raises(LabelError, match="'maybe', which is not a class"):
        apply_file(song, path)
    path.unlink()
