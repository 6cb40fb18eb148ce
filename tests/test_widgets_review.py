"""ResultsReview without a browser: confusion cells, thresholds, corrections, long recordings."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import Mock

import numpy as np
import pandas as pd
import pytest
import traitlets
from _widget_helpers import png_size, wav

from woodcock_widgets.errors import LabelError
from woodcock_widgets.ml.bundle import ModelBundle
from woodcock_widgets.ml.metrics import confusion, threshold_metrics
from woodcock_widgets.ml.predict import (
    clip_windows,
    detections,
    predict_recording,
    read_raven_table,
)
from woodcock_widgets.ml.review import ClipScores, score_clips
from woodcock_widgets.tables.corrections import apply_corrections
from woodcock_widgets.tables.labels import read_labels
from woodcock_widgets.widgets import ResultsReview

# tests marked slow review the trained_run fixture (a trained model); the others use given
# scores and a stand-in bundle, so they run in a second


@pytest.fixture(scope="module")
def review(trained_run, tmp_path_factory):
    corrections = tmp_path_factory.mktemp("review") / "corrections.csv"
    return ResultsReview.from_run(trained_run, corrections_path=corrections)


@pytest.mark.slow
def test_builds_from_a_run_folder(review, trained_run):
    valid = pd.read_csv(trained_run / "valid.csv")
    assert len(review.df) == len(valid) and review.label_column == "woodcock_song"
    assert review.class_names == ["absent", "present"]
    assert review.positive == 1 and review.threshold == 0.5 and review.run.path == trained_run
    bundle = ModelBundle.load(trained_run / "best.pt")
    direct = score_clips(bundle, review.df, "woodcock_song")
    np.testing.assert_allclose(review.scores.scores, direct.scores)
    cm = confusion(direct.y_true, direct.scores.argmax(1), 2)
    np.testing.assert_array_equal(review.confusion, cm)
    np.testing.assert_array_equal(review.heatmap.color, cm)
    assert review.count_labels.text.tolist() == [str(v) for v in cm.ravel()]
    assert review.heatmap.row.tolist() == ["absent", "present"]
    assert review.cell is None and review.inspector.rows == list(review.df.index)
    assert f"{len(valid)} clips" in review.header_html.value
    assert review.errors.messages == []


@pytest.mark.slow
def test_clicking_a_cell_lists_and_plays_its_clips(review):
    total = []
    for t in (0, 1):
        for p in (0, 1):
            review.heatmap.selected = [[t, p]]  # what a click in the browser sets
            assert review.cell == (t, p)
            rows = review.cell_rows
            assert len(rows) == review.confusion[t, p]
            assert review.inspector.rows == rows
            table = review.inspector.df
            for row in rows:
                assert table.loc[row, "true"] == review.class_names[t]
                assert table.loc[row, "predicted"] == review.class_names[p]
            if rows:
                assert review.inspector.row == rows[0]
                assert png_size(review.inspector.image_mark.image.value)[1] == 257
                assert wav(review.inspector.audio.value)[1] == 22050
            assert f"{len(rows)} clip(s)" in review.cell_html.value
            total += rows
    assert sorted(total) == sorted(review.df.index)
    fn = review.select_cell("present", "absent")
    assert "(false negatives)" in review.cell_html.value
    assert review.heatmap.selected.tolist() == [[1, 0]]
    assert fn == review.cell_rows
    review.heatmap.selected = None
    assert review.cell is None and review.inspector.rows == list(review.df.index)


@pytest.mark.slow
def test_threshold_slider_updates_metrics_and_matrix(review):
    scores = review.scores.scores[:, 1]
    y = review.scores.y_true
    for thr in (0.0, 0.3, 0.5, 0.7, 1.0):
        review.threshold_slider.value = thr
        assert review.threshold == thr
        expected = threshold_metrics(y, scores, 1, thr)
        assert review.threshold_metrics == expected
        assert f"{expected['precision']:.3f}" in review.metrics_html.value
        predicted = (scores >= thr).astype(int)
        np.testing.assert_array_equal(review.heatmap.color, confusion(y, predicted, 2))
    review.threshold = 0.0  # everything is "present"
    assert review.confusion[:, 0].sum() == 0
    review.select_cell(0, 1)
    assert len(review.cell_rows) == (y == 0).sum()
    review.set_threshold(0.5, "absent")
    assert review.positive == 0 and review.class_dropdown.value == 0
    review.set_threshold(0.5, "present")
    review.clear_cell()


@pytest.mark.slow
def test_relabel_writes_corrections_the_labels_take_back(review, trained_run):
    review.select_cell(0, 0)
    row = review.cell_rows[0] if review.cell_rows else review.df.index[0]
    review.inspector.set_rows([row])
    review.relabel_dropdown.value = 1
    review.relabel_button.click()
    assert review.errors.messages == []
    path = review.corrections_path
    fixes = pd.read_csv(path)
    assert list(fixes.columns) == ["filename", "woodcock_song"]
    clip = Path(review.df.loc[row, "filename"])
    stored = fixes["filename"].tolist()
    assert len(stored) == 1 and not Path(stored[0]).is_absolute()  # relative to the run
    assert (path.parent / stored[0]).resolve() == clip.resolve()
    assert fixes["woodcock_song"].tolist() == ["present"]
    assert "1 correction(s)" in review.corrections_html.value
    review.relabel("absent", row=row)  # a later fix of the same clip replaces it
    assert pd.read_csv(path)["woodcock_song"].tolist() == ["absent"]
    valid = read_labels(trained_run / "valid.csv")
    fixed, n_changed = apply_corrections(valid, path)
    assert fixed.loc[row, "woodcock_song"] == "absent" and fixed.loc[row, "NumericLabels"] == 0
    assert n_changed == int(valid.loc[row, "woodcock_song"] != "absent")
    with pytest.raises(LabelError, match="unknown class"):
        review.relabel("maybe")
    assert "unknown class 'maybe'" in review.errors.messages[-1]  # shown in the widget too
    review.errors.clear()
    review.clear_cell()


@pytest.mark.slow
@pytest.mark.real_audio
def test_long_recording_scores_detections_and_raven_export(review, real_audio, tmp_path):
    recording = real_audio / "birds_10s.wav"
    review.recording_text.value = str(recording)
    review.score_button.click()
    assert review.errors.messages == []
    expected = predict_recording(review.bundle, recording)
    pd.testing.assert_frame_equal(review.recording_scores, expected)
    windows = clip_windows(10.13, 2.0)
    centres = [(s + e) / 2 for s, e in windows]
    np.testing.assert_allclose(review.score_lines.x, centres, atol=1e-3)
    np.testing.assert_allclose(review.score_lines.y, expected["present"])
    thr = float(np.median(expected["present"]))
    review.threshold = round(thr, 2)
    dets = detections(expected, "present", review.threshold)
    assert len(review.detections) == len(dets)
    np.testing.assert_allclose(review.detection_marks.y, dets["score"])
    assert review.threshold_line.y.tolist() == [review.threshold] * 2
    out = tmp_path / "birds.selections.txt"
    review.raven_text.value = str(out)
    review.raven_button.click()
    assert review.errors.messages == []
    table = read_raven_table(out)
    assert len(table) == len(dets)
    np.testing.assert_allclose(table["Begin Time (s)"], dets["start_time"])
    assert (table["Annotation"] == "present").all()
    review.threshold = 0.5


@pytest.mark.slow
@pytest.mark.real_audio
def test_review_real_clips_and_unreadable_recordings(trained_run, real_audio, tmp_path):
    names = ["aru_1.wav", "aru_2.wav", "LOCA_2021_09_24_652_3.wav", "audiomoth_gps.wav"]
    df = pd.DataFrame(
        {
            "filename": [str(real_audio / n) for n in names],
            "label": ["absent", "absent", "present", "absent"],
        }
    )
    r = ResultsReview(
        trained_run / "best.pt", df, label_column="label", corrections_path=tmp_path / "fixes.csv"
    )
    assert r.scores.y_true.tolist() == [0, 0, 1, 0]
    assert r.confusion.sum() == 4
    r.select_cell("absent", int(np.argmax(r.confusion[0])))
    assert r.inspector.rows and r.inspector.error is None
    r.relabel("present")
    assert pd.read_csv(tmp_path / "fixes.csv").columns.tolist() == ["filename", "label"]
    r.recording_text.value = str(real_audio / "empty_2c.wav")
    r.score_button.click()
    assert "empty_2c.wav" in r.errors.messages[-1] and r.recording_scores is None
    r.raven_button.click()
    assert "score a recording first" in r.errors.messages[-1]
    with pytest.raises(LabelError, match="not the model's classes"):
        ResultsReview(trained_run, df.assign(label="maybe"), label_column="label")


# ------------------------------------------- issue 16 items 2, 5, 7 (no model needed)
NAMES = {0: "scolopax-minor-absent", 1: "scolopax-minor-present"}
# the song score of each clip, chosen to make every cell and every rounding trap appear
PRESENT = [0.99996, 0.7969, 0.91, 0.88, 0.3, 0.2, 0.1, 0.05, 0.45, 0.6, 0.7, 0.95]


@pytest.fixture
def given(song_table, tmp_path):
    """A review of the small table with given scores (the stand-in model never runs)."""
    import torch

    df = song_table.df
    y = df["NumericLabels"].to_numpy()
    rng = np.random.default_rng(0)
    p = rng.uniform(0.0, 0.4, len(df))  # absent clips: mostly low
    p[y == 1] = PRESENT[: (y == 1).sum()]
    p[np.flatnonzero(y == 0)[:3]] = [0.49996, 0.62, 0.8]  # false alarms, one just under 0.5
    scores = ClipScores(df, np.c_[1 - p, p], y, list(NAMES.values()))
    bundle = ModelBundle(torch.nn.Identity(), "resnet18", dict(NAMES))
    review = ResultsReview(
        bundle,
        df,
        label_column="woodcock_song",
        scores=scores,
        corrections_path=tmp_path / "run" / "corrections.csv",
        raven_dir=tmp_path / "run" / "raven",
    )
    return review, p


def test_threshold_and_class_are_traits_linked_to_the_controls(given):
    review, _ = given
    seen = Mock()
    review.observe(seen, names="threshold")
    review.threshold_slider.value = 0.3  # the slider sets the trait ...
    assert review.threshold == 0.3 and seen.call_count == 1
    review.threshold = 0.7  # ... and the trait the slider
    assert review.threshold_slider.value == 0.7 and "0.70" in review.metrics_html.value
    review.positive = 0
    assert review.class_dropdown.value == 0
    review.class_dropdown.value = 1
    assert review.positive == 1
    with pytest.raises(traitlets.TraitError, match=r"\[0, 1\]"):
        review.threshold = 1.5


def test_confusion_matrix_full_names_with_room_and_readable_counts(given):
    review, _ = given
    names = list(NAMES.values())
    assert review.heatmap.row.tolist() == names and review.heatmap.column.tolist() == names
    margin = review.figure.fig_margin
    assert margin["left"] >= len(names[1]) * 7  # room for "scolopax-minor-present"
    assert review.figure.layout.min_width == review.figure.layout.width
    left_axis = next(a for a in review.figure.axes if getattr(a, "side", "") == "left")
    assert int(left_axis.label_offset.rstrip("px")) >= len(names[1]) * 7  # "true" clears them
    cm = review.confusion
    assert review.count_labels.text.tolist() == [str(v) for v in cm.ravel()]
    top = cm.max()
    for value, color in zip(cm.ravel(), review.count_labels.colors):
        assert color == ("#ffffff" if value > top / 2 else "#111111")  # white on dark cells
    assert review.heatmap.display_format is None  # no second, black-only set of counts
    review.count_labels.selected = [2]  # a click on a count (drawn over its cell)
    assert review.cell == (1, 0) and review.heatmap.selected.tolist() == [[1, 0]]
    assert review.count_labels.selected is None  # ready for the next click


def test_scores_shown_never_round_across_the_threshold(given):
    review, p = given
    review.threshold = 1.0  # the song scored 0.99996 is now missed
    song = review.df.index[np.flatnonzero(np.isclose(p, 0.99996))[0]]
    assert song in review.select_cell("present", "absent")
    table = review.inspector.df
    assert table.loc[song, "predicted"] == "scolopax-minor-absent"
    assert table.loc[song, "score"] == "0.99996"  # not "1.0" beside "predicted absent"
    review.threshold = 0.5
    alarm = review.df.index[np.flatnonzero(np.isclose(p, 0.49996))[0]]
    assert review.inspector.df.loc[alarm, "score"] == "0.49996"  # not "0.500" below 0.5
    assert review.inspector.df.loc[alarm, "predicted"] == "scolopax-minor-absent"
    # the saved predictions keep the model's numbers
    assert (
        review.scores.table(1, 0.5).loc[song, "score_scolopax-minor-present"]
        == p[review.df.index.get_loc(song)]
    )


def test_cell_clips_grid_captions_say_true_predicted_and_score(given):
    review, _ = given
    rows = review.select_cell("present", "absent")  # the missed songs
    assert 0 < len(rows) < 9
    review.inspector.mode = "grid"
    shown = [c for c in review.inspector.cells if c["row"] is not None]
    assert [c["row"] for c in shown] == rows
    first = shown[0]["caption"].value
    score = review.inspector.df.loc[rows[0], "score"]
    assert (
        f"true: scolopax-minor-present, predicted: scolopax-minor-absent, score: {score}" in first
    )
    # the cells of a short page take no room (no large blank under the clips)
    assert all(c["box"].layout.display == "none" for c in review.inspector.cells[len(rows) :])
    review.inspector.mode = "single"
    assert "<td>score</td>" in review.inspector.labels_html.value


@pytest.fixture
def windows(monkeypatch):
    """Stand-in window scores for any recording (the stand-in model cannot score audio)."""
    table = pd.DataFrame(
        {
            "file": "dawn.wav",
            "start_time": [0.0, 2.0, 4.0, 6.0],
            "end_time": [2.0, 4.0, 6.0, 8.0],
            "scolopax-minor-absent": [0.9, 0.4, 0.2, 0.7],
            "scolopax-minor-present": [0.1, 0.6, 0.8, 0.3],
        }
    )
    import woodcock_widgets.widgets.results_review as module

    monkeypatch.setattr(module, "predict_recording", lambda *a, **k: table.copy())
    return table


def test_raven_path_defaults_to_the_raven_folder_and_export_says_what_it_wrote(given, windows):
    review, _ = given
    review.recording_text.value = "field/dawn.wav"
    review.score_button.click()
    raven = review.raven_dir / "dawn.selections.txt"
    assert review.raven_text.value == str(raven)  # where the notebook writes, not training/
    review.raven_button.click()
    assert review.errors.messages == []
    table = read_raven_table(raven)
    assert table["Begin Time (s)"].tolist() == [2.0, 4.0]  # the windows at >= 0.5
    assert review.status.startswith("2 detection(s) of scolopax-minor-present")
    assert str(raven) in review.status_html.value


def test_export_message_is_cleared_when_the_threshold_moves(given, windows):
    review, _ = given
    review.score_recording("dawn.wav")
    review.export_raven()
    assert "2 detection(s)" in review.status_html.value
    review.threshold = 0.7  # the file holds the detections at 0.5, no longer those shown
    assert review.status == "" and review.status_html.value == ""
    review.export_raven()
    assert "1 detection(s)" in review.status
    review.positive = 0
    assert review.status == ""
    review.export_raven()
    review.score_recording("other.wav")  # another recording: another table to export
    assert review.status == ""


def test_corrections_are_relative_to_the_run_and_the_next_training_applies_them(given):
    review, _ = given
    rows = review.select_cell("absent", "present")  # false alarms: say one is a song
    review.inspector.index = 0
    review.relabel_dropdown.value = 1
    review.relabel_button.click()
    assert review.errors.messages == []
    path = review.corrections_path
    stored = pd.read_csv(path)["filename"].tolist()
    clip = Path(review.df.loc[rows[0], "filename"])
    assert len(stored) == 1 and not Path(stored[0]).is_absolute()
    assert (path.parent / stored[0]).resolve() == clip.resolve()
    assert "relabeled &#x27;present&#x27;" in review.corrections_html.value
    fixed, n_changed = apply_corrections(review.df, path)
    assert n_changed == 1
    assert fixed.loc[rows[0], "woodcock_song"] == "present"
    assert fixed.loc[rows[0], "NumericLabels"] == 1  # the code the trainer reads follows


def test_a_refused_action_is_shown_in_the_widget_and_prints_one_line(given):
    review, _ = given
    with pytest.raises(LabelError, match="score a recording first") as caught:
        review.export_raven()
    assert caught.value._render_traceback_() == [review.errors.messages[-1]]
    review.raven_button.click()  # from the button: shown once more, nothing raised
    assert review.errors.messages[-1].endswith("score a recording first")


def test_every_action_answers_within_half_a_second(given, windows):
    import time

    review, _ = given
    actions = {
        "threshold": lambda: setattr(review, "threshold", 0.37),
        "class": lambda: setattr(review, "positive", 0),
        "cell": lambda: review.select_cell("present", "absent"),
        "next clip": review.inspector.next,
        "grid": lambda: setattr(review.inspector, "mode", "grid"),
        "relabel": lambda: review.relabel("absent"),
        "score": lambda: review.score_recording("dawn.wav"),
        "export": review.export_raven,
    }
    for name, action in actions.items():
        start = time.perf_counter()
        action()
        assert time.perf_counter() - start < 0.5, name


# ------------------------------- per-class PR curves, multi-class and multi-label reviews
def _stand_in(names):
    import torch

    return ModelBundle(torch.nn.Identity(), "resnet18", dict(enumerate(names)))


def test_pr_curve_follows_the_chosen_class_of_a_multi_class_run(small_data, tmp_path):
    from woodcock_widgets.ml.evaluation import per_class_metrics, pr_curve

    df = read_labels(small_data)
    names = ["call", "na", "song"]
    y = np.array([names.index(v) for v in df["sound_type"]])
    rng = np.random.default_rng(1)
    raw = rng.uniform(0, 1, (len(df), 3)) + 1.5 * np.eye(3)[y] * rng.uniform(0, 1, (len(df), 1))
    scores = ClipScores(df, raw / raw.sum(axis=1, keepdims=True), y, names)
    review = ResultsReview(
        _stand_in(names), df, label_column="sound_type", scores=scores,
        corrections_path=tmp_path / "c.csv",
    )  # fmt: skip
    assert review.heatmap.row.tolist() == names and review.confusion.shape == (3, 3)
    aps = per_class_metrics(y, scores.scores, names)["ap"]
    drawn = {}
    for code, name in enumerate(names):
        review.positive = code
        precision, recall, _ = pr_curve(y, scores.scores, code)
        assert sorted(review.pr_lines.x.tolist()) == sorted(recall.tolist())
        assert sorted(review.pr_lines.y.tolist()) == sorted(precision.tolist())
        assert f"<b>{name}</b>: AP {aps[name]:.3f}" in review.pr_html.value
        m = review.threshold_metrics
        if m["tp"] + m["fp"]:
            assert review.pr_point.x.tolist() == [m["recall"]]
        np.testing.assert_array_equal(review.heatmap.color, scores.confusion(code, 0.5))
        drawn[name] = (review.pr_lines.x.tolist(), review.pr_lines.y.tolist())
    assert drawn["call"] != drawn["song"]  # another class, another curve
    rows = review.select_cell("song", "na")
    assert len(rows) == scores.confusion(2, 0.5)[2, 1]


@pytest.fixture
def multi(tmp_path):
    """A multi-label review of 8 windows with given scores (two classes, one empty window)."""
    from woodcock_widgets.ml.window_scores import WindowScores

    df = pd.DataFrame(
        {
            "file": [str(tmp_path / "r.wav")] * 8,
            "start_time": np.arange(8.0),
            "end_time": np.arange(8.0) + 1,
            "song": [1, 1, 1, 0, 0, 0, 1, 0],
            "call": [0, 1, 0, 1, 1, 0, 0, 0],
        }
    )
    s = np.array(
        [[0.9, 0.1], [0.8, 0.7], [0.3, 0.2], [0.6, 0.9], [0.1, 0.4], [0.2, 0.1], [0.7, 0.3],
         [0.4, 0.6]]
    )  # fmt: skip
    y = df[["song", "call"]].to_numpy().astype(bool)
    scores = WindowScores(df, s, y, ["song", "call"])
    bundle = _stand_in(["song", "call"])
    bundle.extra["multi_label"] = True
    return ResultsReview(bundle, df, scores=scores, positive_class="song")


def test_multi_label_confusion_is_the_chosen_class_two_by_two(multi):
    review = multi
    assert review.multi_label and review.windows and review.filename_column == "file"
    assert review.heatmap.row.tolist() == ["not song", "song"]
    # song at 0.5: tp rows 0,1,6; fn row 2; fp row 3; tn rows 4,5,7
    assert review.confusion.tolist() == [[3, 1], [1, 3]]
    assert review.count_labels.text.tolist() == ["3", "1", "1", "3"]
    assert review.select_cell("song", "not song") == [2]  # the missed song
    assert "(false negatives)" in review.cell_html.value and "1 window(s)" in review.cell_html.value
    assert review.inspector.df.loc[2, "true"] == "song" and review.inspector.rows == [2]
    assert review.inspector.df.loc[1, "true"] == "song+call"
    review.positive = 1  # call: another 2x2, other names, other counts
    assert review.heatmap.row.tolist() == ["not call", "call"]
    assert review.count_labels.x.tolist()[:2] == ["not call", "call"]
    # call at 0.5: tp rows 1,3; fn row 4; fp row 7; tn rows 0,2,5,6
    assert review.confusion.tolist() == [[4, 1], [1, 2]]
    np.testing.assert_array_equal(review.heatmap.color, [[4, 1], [1, 2]])
    assert review.cell_rows == [4] and review.inspector.df.loc[4, "predicted"] == "not call"
    review.threshold = 0.35  # row 4 (0.4) is now found: no call is missed
    assert review.confusion.tolist() == [[4, 1], [0, 3]] and review.cell_rows == []
    assert "mean AP (all classes)" in review.metrics_html.value


def test_multi_label_pr_curve_per_class_and_no_relabel(multi):
    from woodcock_widgets.ml.evaluation import pr_curve

    review = multi
    y = review.scores.y_true
    for code in (0, 1):
        review.positive = code
        precision, recall, _ = pr_curve(y, review.scores.scores, code)
        assert sorted(review.pr_lines.x.tolist()) == sorted(recall.tolist())
        assert sorted(review.pr_lines.y.tolist()) == sorted(precision.tolist())
    assert review.class_metrics.loc["call", "positives"] == 3
    with pytest.raises(LabelError, match="per clip"):
        review.relabel("song")
