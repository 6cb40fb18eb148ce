"""ResultsReview without a browser: confusion cells, thresholds, corrections, long recordings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
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
from woodcock_widgets.ml.review import score_clips
from woodcock_widgets.tables.labels import apply_corrections, read_labels
from woodcock_widgets.widgets import ResultsReview

pytestmark = pytest.mark.slow  # every test reviews the trained_run fixture


@pytest.fixture(scope="module")
def review(trained_run, tmp_path_factory):
    corrections = tmp_path_factory.mktemp("review") / "corrections.csv"
    return ResultsReview(trained_run, corrections_path=corrections)


def test_builds_from_a_run_folder(review, trained_run):
    valid = pd.read_csv(trained_run / "valid.csv")
    assert len(review.df) == len(valid) and review.label_column == "woodcock_song"
    assert review.class_names == ["absent", "present"]
    assert review.positive == 1 and review.threshold.value == 0.5
    bundle = ModelBundle.load(trained_run / "best.pt")
    direct = score_clips(bundle, review.df, "woodcock_song")
    np.testing.assert_allclose(review.scores.scores, direct.scores)
    cm = confusion(direct.y_true, direct.scores.argmax(1), 2)
    np.testing.assert_array_equal(review.confusion, cm)
    np.testing.assert_array_equal(review.heatmap.color, cm)
    assert review.heatmap.row.tolist() == ["absent", "present"]
    assert review.cell is None and review.inspector.rows == list(review.df.index)
    assert f"{len(valid)} clips" in review.header.value
    assert review.errors.messages == []


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


def test_threshold_slider_updates_metrics_and_matrix(review):
    scores = review.scores.scores[:, 1]
    y = review.scores.y_true
    for thr in (0.0, 0.3, 0.5, 0.7, 1.0):
        review.threshold.value = thr
        expected = threshold_metrics(y, scores, 1, thr)
        assert review.threshold_metrics == expected
        assert f"{expected['precision']:.3f}" in review.metrics_html.value
        predicted = (scores >= thr).astype(int)
        np.testing.assert_array_equal(review.heatmap.color, confusion(y, predicted, 2))
    review.threshold.value = 0.0  # everything is "present"
    assert review.confusion[:, 0].sum() == 0
    review.select_cell(0, 1)
    assert len(review.cell_rows) == (y == 0).sum()
    review.set_threshold(0.5, "absent")
    assert review.positive == 0 and review.class_dropdown.value == 0
    review.set_threshold(0.5, "present")
    review.clear_cell()


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
    assert fixes.to_dict("list") == {
        "filename": [review.df.loc[row, "filename"]],
        "woodcock_song": ["present"],
    }
    assert "1 correction(s)" in review.corrections_html.value
    review.relabel("absent", row=row)  # a later fix of the same clip replaces it
    assert pd.read_csv(path)["woodcock_song"].tolist() == ["absent"]
    valid = read_labels(trained_run / "valid.csv")
    fixed = apply_corrections(valid, pd.read_csv(path), "woodcock_song")
    assert fixed.loc[row, "woodcock_song"] == "absent"
    with pytest.raises(LabelError, match="unknown class"):
        review.relabel("maybe")
    review.clear_cell()


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
    review.threshold.value = round(thr, 2)
    dets = detections(expected, "present", review.threshold.value)
    assert len(review.detections) == len(dets)
    np.testing.assert_allclose(review.detection_marks.y, dets["score"])
    assert review.threshold_line.y.tolist() == [review.threshold.value] * 2
    out = tmp_path / "birds.selections.txt"
    review.raven_text.value = str(out)
    review.raven_button.click()
    assert review.errors.messages == []
    table = read_raven_table(out)
    assert len(table) == len(dets)
    np.testing.assert_allclose(table["Begin Time (s)"], dets["start_time"])
    assert (table["Annotation"] == "present").all()
    review.threshold.value = 0.5


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
