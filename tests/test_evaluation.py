"""Per-class evaluation (woodcock_widgets.ml.evaluation) against values computed by hand."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from woodcock_widgets.errors import LabelError
from woodcock_widgets.ml.evaluation import (
    METRIC_COLUMNS,
    ap_column_names,
    history_columns,
    label_matrix,
    macro_map,
    per_class_metrics,
    pr_curve,
    read_labeled_rows,
    safe_column_name,
)

# Six clips, three classes; "c" has no clip (its column still gets scores).
NAMES = ["a", "b", "c"]
CODES = [0, 0, 1, 1, 1, 0]
SCORES = np.array(
    [
        [0.8, 0.1, 0.1],
        [0.3, 0.6, 0.1],
        [0.2, 0.7, 0.1],
        [0.5, 0.4, 0.1],
        [0.1, 0.2, 0.7],
        [0.6, 0.3, 0.1],
    ]
)


def test_single_target_by_hand():
    m = per_class_metrics(CODES, SCORES, NAMES)
    assert list(m.columns) == METRIC_COLUMNS and list(m.index) == NAMES
    assert m.index.name == "class"
    assert m["positives"].tolist() == [3, 3, 0]
    assert m["positive_rate"].tolist() == [0.5, 0.5, 0.0]
    assert m["threshold"].tolist() == [0.5, 0.5, 0.5]
    a, b, c = (m.loc[n] for n in NAMES)
    # a ranks: .8+ .6+ .5- .3+ .2- .1-  → AP (1 + 1 + 3/4) / 3; 8 of 9 pairs won
    assert a["ap"] == pytest.approx(11 / 12)
    assert a["roc_auc"] == pytest.approx(8 / 9)
    # at 0.5 (one-vs-rest: score >= 0.5): .8, .6 hit, .5 false, .3 missed
    assert (a["precision"], a["recall"], a["f1"]) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    # F1 per threshold .8 .6 .5 .3 .2 .1: .5 .8 .667 .857 .75 .667
    assert a["best_threshold"] == 0.3 and a["best_f1"] == pytest.approx(6 / 7)
    # b ranks: .7+ .6- .4+ .3- .2+ .1-  → AP (1 + 2/3 + 3/5) / 3; 6 of 9 pairs
    assert b["ap"] == pytest.approx(34 / 45)
    assert b["roc_auc"] == pytest.approx(2 / 3)
    assert (b["precision"], b["recall"], b["f1"]) == pytest.approx((0.5, 1 / 3, 0.4))
    assert b["best_threshold"] == 0.2 and b["best_f1"] == pytest.approx(0.75)
    # c has no positive: nothing to find, and its one detection (clip 5) is false
    assert c["precision"] == 0.0
    for key in ("ap", "roc_auc", "recall", "f1", "best_threshold", "best_f1"):
        assert math.isnan(c[key]), key
    # macro mAP leaves c out instead of counting it as 0
    assert macro_map(m) == pytest.approx((11 / 12 + 34 / 45) / 2)
    assert macro_map(CODES, SCORES) == pytest.approx(macro_map(m))


def test_single_target_codes_and_one_hot_agree():
    codes = per_class_metrics(CODES, SCORES, NAMES)
    onehot = np.eye(3, dtype=int)[CODES]
    pd.testing.assert_frame_equal(per_class_metrics(onehot, SCORES, NAMES), codes)
    pd.testing.assert_frame_equal(
        per_class_metrics(onehot, SCORES, NAMES, multi_label=False), codes
    )


def test_multi_label_by_hand():
    # rows may hold two classes or none; each column is judged on its own
    y = np.array([[1, 1], [0, 0], [1, 0], [0, 1], [0, 0]])
    s = np.array([[0.9, 0.4], [0.2, 0.6], [0.4, 0.1], [0.1, 0.8], [0.6, 0.3]])
    m = per_class_metrics(y, s, ["song", "call"])
    # song: .9+ .6- .4+ .2- .1-  → AP (1 + 2/3) / 2; at .5: .9 hit, .6 false, .4 missed
    assert m.loc["song", "ap"] == pytest.approx(5 / 6)
    assert m.loc["song", ["precision", "recall", "f1"]].tolist() == pytest.approx([0.5, 0.5, 0.5])
    assert m.loc["song", "roc_auc"] == pytest.approx(5 / 6)
    # call: .8+ .6- .4+ .3- .1-  → same shape of ranking
    assert m.loc["call", "ap"] == pytest.approx(5 / 6)
    assert m.loc["call", "best_threshold"] == 0.4  # F1 .8 (P 2/3, R 1) at .4, .667 at .8
    assert m.loc["call", "best_f1"] == pytest.approx(0.8)
    assert m["positives"].tolist() == [2, 2]
    assert m["positive_rate"].tolist() == [0.4, 0.4]


def test_thresholds_and_best_threshold_reproduces_best_f1():
    m = per_class_metrics(CODES, SCORES, NAMES, thresholds={"a": 0.3})
    assert m["threshold"].tolist() == [0.3, 0.5, 0.5]  # unnamed classes: 0.5
    assert m.loc["a", "f1"] == pytest.approx(6 / 7)
    best = per_class_metrics(CODES, SCORES, NAMES, thresholds=m["best_threshold"].fillna(0.5))
    np.testing.assert_allclose(best["f1"][:2], m["best_f1"][:2])
    assert per_class_metrics(CODES, SCORES, NAMES, thresholds=0.9)["threshold"].eq(0.9).all()
    with pytest.raises(ValueError, match="not evaluated"):
        per_class_metrics(CODES, SCORES, NAMES, thresholds={"z": 0.5})
    with pytest.raises(ValueError, match="2 thresholds for 3"):
        per_class_metrics(CODES, SCORES, NAMES, thresholds=[0.5, 0.5])


def test_one_label_value_gives_nan_roc_auc_without_warnings():
    y = np.array([[1, 0], [1, 0], [1, 0]])  # "x" only positives, "y" only negatives
    s = np.array([[0.9, 0.2], [0.4, 0.7], [0.6, 0.1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = per_class_metrics(y, s, ["x", "y"])
        assert math.isnan(macro_map(per_class_metrics(y[:, [1]], s[:, [1]], ["y"])))
        assert pr_curve(y, s, 1)[0].size == 0
    assert math.isnan(m.loc["x", "roc_auc"]) and m.loc["x", "ap"] == 1.0
    assert math.isnan(m.loc["y", "ap"]) and math.isnan(m.loc["y", "roc_auc"])
    assert macro_map(m) == 1.0


def test_pr_curve_for_plotting():
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = pr_curve(CODES, SCORES, 0)
    ref = precision_recall_curve(np.asarray(CODES) == 0, SCORES[:, 0])
    for got, want in zip((precision, recall, thresholds), ref):
        np.testing.assert_array_equal(got, want)
    assert len(precision) == len(recall) == len(thresholds) + 1
    assert (precision[-1], recall[-1]) == (1.0, 0.0)
    assert all(part.size == 0 for part in pr_curve(CODES, SCORES, 2))  # c: nothing to draw
    with pytest.raises(ValueError, match="class_index"):
        pr_curve(CODES, SCORES, 3)


def test_history_columns_and_safe_names():
    m = per_class_metrics(CODES, SCORES, ["Wood Thrush (song)", "a-b", "a b"])
    cols = history_columns(m)
    assert list(cols) == [
        "valid_map",
        "valid_ap_Wood_Thrush_song",
        "valid_ap_a_b",
        "valid_ap_a_b_2",
    ]
    assert cols["valid_map"] == pytest.approx(macro_map(m))
    assert cols["valid_ap_a_b"] == pytest.approx(34 / 45)
    assert math.isnan(cols["valid_ap_a_b_2"])  # no positives
    assert list(history_columns(m, prefix="train"))[0] == "train_map"
    assert safe_column_name("  --ü-- ") == "class"
    assert safe_column_name("A") != safe_column_name("a")  # case is kept
    assert ap_column_names(["x.y", "x/y", "x_y"]) == {
        "x.y": "valid_ap_x_y",
        "x/y": "valid_ap_x_y_2",
        "x_y": "valid_ap_x_y_3",
    }


def test_label_matrix_refuses_what_does_not_fit():
    with pytest.raises(ValueError, match="0..2"):
        label_matrix([0, 3], 3)
    with pytest.raises(ValueError, match="0..2"):
        label_matrix([0, 1.5], 3)
    with pytest.raises(ValueError, match="matrix"):
        label_matrix([0, 1], 3, multi_label=True)
    with pytest.raises(ValueError, match="one class per row"):
        label_matrix([[1, 1, 0]], 3, multi_label=False)
    with pytest.raises(ValueError, match="0/1"):
        label_matrix([[2, 0, 0]], 3)
    with pytest.raises(ValueError, match=r"\(6, 2\)"):
        per_class_metrics(CODES, SCORES, ["a", "b"])
    with pytest.raises(ValueError, match="finite"):
        per_class_metrics([0], [[np.nan, 0.2, 0.1]], NAMES)
    assert label_matrix([], 2).shape == (0, 2)


def test_metrics_import_no_torch():
    code = "import sys, woodcock_widgets.ml.evaluation; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------- labeled tables
@pytest.fixture
def clip_table(tmp_path):
    for name in ("x.wav", "y.wav", "z.wav"):
        sf.write(tmp_path / name, np.zeros(100, np.float32), 8000)
    path = tmp_path / "labels.csv"
    pd.DataFrame(
        {"filename": ["x.wav", "y.wav", "z.wav"], "woodcock": ["present", "absent", "present"]}
    ).to_csv(path, index=False)
    return path


def test_clip_table_labels_are_class_names(clip_table):
    rows = read_labeled_rows(clip_table, ["absent", "present"])
    assert rows.kind == "clips" and rows.offset_column is None
    assert rows.y_true.tolist() == [[False, True], [True, False], [False, True]]
    assert rows.df["filename"].map(lambda p: p.startswith(str(clip_table.parent))).all()
    only = read_labeled_rows(clip_table, ["absent", "present"], classes=["present"])
    assert only.classes == ["present"] and only.y_true[:, 0].tolist() == [True, False, True]


def test_unknown_label_is_named_with_a_suggestion(clip_table):
    df = pd.read_csv(clip_table)
    df.loc[2, "woodcock"] = "presnt"
    df.to_csv(clip_table, index=False)
    with pytest.raises(LabelError) as err:
        read_labeled_rows(clip_table, ["absent", "present"])
    msg = str(err.value)
    assert "'presnt'" in msg and "did you mean 'present'?" in msg and "line(s) 4" in msg
    assert "'absent', 'present'" in msg  # the model's classes are listed
    # a display name: "present" means "scolopax-minor-present"
    with pytest.raises(LabelError, match="did you mean 'scolopax-minor-absent'"):
        read_labeled_rows(clip_table, ["scolopax-minor-absent", "scolopax-minor-present"])
    # a mapping fixes it
    rows = read_labeled_rows(
        clip_table, ["absent", "present"], mapping={"presnt": "present"}, classes=None
    )
    assert rows.y_true[:, 1].tolist() == [True, False, True]
    with pytest.raises(LabelError, match="did you mean 'present'"):
        read_labeled_rows(clip_table, ["absent", "present"], classes=["presnt"])


def test_codes_column_and_missing_column(clip_table):
    df = pd.read_csv(clip_table)
    df["NumericLabels"] = [1, 0, 1]
    df.to_csv(clip_table, index=False)
    rows = read_labeled_rows(clip_table, ["no", "yes"])  # codes: NumericLabels by default
    assert rows.y_true[:, 1].tolist() == [True, False, True]
    df["NumericLabels"] = [1, 0, 2]
    df.to_csv(clip_table, index=False)
    with pytest.raises(LabelError, match=r"code\(s\) \['2'\].*line\(s\) 4"):
        read_labeled_rows(clip_table, ["no", "yes"])
    with pytest.raises(LabelError, match="no column 'species'"):
        read_labeled_rows(clip_table, ["no", "yes"], label_column="species")


def test_window_table_columns_must_be_model_classes(tmp_path):
    path = tmp_path / "windows.csv"
    pd.DataFrame(
        {
            "file": ["r.wav", "r.wav"],
            "start_time": [0.0, 2.0],
            "end_time": [2.0, 4.0],
            "song": [1, 0],
            "cal": [0, 1],
        }
    ).to_csv(path, index=False)
    with pytest.raises(LabelError, match="'cal' is not a class.*did you mean 'call'"):
        read_labeled_rows(path, ["call", "noise", "song"])
    rows = read_labeled_rows(path, ["call", "noise", "song"], classes=["song"])
    assert rows.kind == "windows" and rows.offset_column == "start_time"
    assert rows.classes == ["song"] and rows.y_true[:, 0].tolist() == [True, False]
    ok = read_labeled_rows(path, ["cal", "noise", "song"])
    assert ok.classes == ["cal", "song"]  # model order; "noise" has no column
    assert ok.notes and "noise" in ok.notes[0]
    with pytest.raises(LabelError, match="no column for class"):
        read_labeled_rows(path, ["cal", "noise", "song"], classes=["noise"])
    with pytest.raises(LabelError, match="window table"):
        read_labeled_rows(path, ["cal", "song"], label_column="song")


def test_empty_window_table_is_an_error(tmp_path):
    path = tmp_path / "windows.csv"
    path.write_text("file,start_time,end_time,song\n")
    with pytest.raises(LabelError, match="no rows"):
        read_labeled_rows(path, ["song"])
