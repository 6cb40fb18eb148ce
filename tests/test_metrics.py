"""Tests for woodcock_widgets.ml.metrics against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from woodcock_widgets.ml.metrics import classification_metrics, confusion, threshold_metrics

# 8 clips, 3 classes; class "c" is never predicted
Y_TRUE = [0, 0, 0, 1, 1, 1, 1, 2]
Y_PRED = [0, 1, 0, 1, 1, 0, 1, 1]
NAMES = ["a", "b", "c"]


def test_classification_metrics_by_hand():
    m = classification_metrics(Y_TRUE, Y_PRED, NAMES)
    # a: TP 2, FP 1 (clip 5), FN 1 (clip 1)
    assert m["precision_a"] == pytest.approx(2 / 3)
    assert m["recall_a"] == pytest.approx(2 / 3)
    assert m["f1_a"] == pytest.approx(2 / 3)
    # b: predicted 5 times, 3 right; 4 true b clips
    assert m["precision_b"] == pytest.approx(3 / 5)
    assert m["recall_b"] == pytest.approx(3 / 4)
    assert m["f1_b"] == pytest.approx(2 * 0.6 * 0.75 / (0.6 + 0.75))
    assert m["accuracy"] == pytest.approx(5 / 8)
    assert m["precision"] == pytest.approx((2 / 3 + 3 / 5 + 0) / 3)
    assert m["recall"] == pytest.approx((2 / 3 + 3 / 4 + 0) / 3)
    assert m["f1"] == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)
    assert all(isinstance(v, float) for v in m.values())


def test_zero_division_counts_as_zero_without_warning(recwarn):
    m = classification_metrics(Y_TRUE, Y_PRED, NAMES)
    # c is never predicted: precision undefined → 0; its one clip is missed → recall 0
    assert (m["precision_c"], m["recall_c"], m["f1_c"]) == (0.0, 0.0, 0.0)
    # all predicted as one class: the other class gets zeros, no NaN
    allpos = classification_metrics([0, 1, 1, 0], [1, 1, 1, 1], ["absent", "present"])
    assert allpos["precision_absent"] == 0.0 and allpos["recall_absent"] == 0.0
    assert allpos["precision_present"] == 0.5 and allpos["recall_present"] == 1.0
    assert allpos["f1"] == pytest.approx((0 + 2 / 3) / 2)
    assert not [w for w in recwarn if "zero" in str(w.message).lower()]


def test_perfect_and_empty():
    m = classification_metrics([0, 1, 1], [0, 1, 1], ["x", "y"])
    assert m["accuracy"] == m["f1"] == m["precision"] == m["recall"] == 1.0
    empty = classification_metrics([], [], ["x", "y"])
    assert all(math.isnan(empty[k]) for k in ("accuracy", "precision", "recall", "f1"))


def test_confusion_rows_are_truth_columns_predictions():
    c = confusion(Y_TRUE, Y_PRED, 3)
    np.testing.assert_array_equal(c, [[2, 1, 0], [1, 3, 0], [0, 1, 0]])
    # classes absent from both still get their row and column
    np.testing.assert_array_equal(confusion([0, 0], [0, 0], 3), [[2, 0, 0], [0, 0, 0], [0, 0, 0]])


def test_threshold_metrics_by_hand():
    y = [1, 1, 0, 0, 1]
    s = [0.9, 0.4, 0.6, 0.1, 0.5]
    m = threshold_metrics(y, s, positive=1, threshold=0.5)  # >= threshold is a detection
    assert (m["tp"], m["fp"], m["fn"]) == (2, 1, 1)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    strict = threshold_metrics(y, s, positive=1, threshold=0.95)
    assert (strict["tp"], strict["precision"], strict["recall"], strict["f1"]) == (0, 0.0, 0.0, 0.0)
    low = threshold_metrics(y, s, positive=1, threshold=0.0)
    assert low["recall"] == 1.0 and low["precision"] == pytest.approx(3 / 5)
    # the other class as the positive one, with its own scores [.1, .6, .4, .9, .5]
    neg = threshold_metrics(y, [1 - v for v in s], positive=0, threshold=0.5)
    assert (neg["tp"], neg["fp"], neg["fn"]) == (1, 2, 1)


# ------------------------------------------------- score-based metrics of one class
# six clips ranked by score; positives at ranks 1, 3 and 4
Y_RANKED = [1, 0, 1, 1, 0, 0]
S_RANKED = [0.9, 0.8, 0.7, 0.4, 0.3, 0.1]


def test_average_precision_by_hand():
    from woodcock_widgets.ml.metrics import average_precision

    # precision at each positive's rank, averaged: (1/1 + 2/3 + 3/4) / 3
    assert average_precision(Y_RANKED, S_RANKED) == pytest.approx((1 + 2 / 3 + 3 / 4) / 3)
    assert average_precision([0, 1], [0.2, 0.9]) == 1.0  # perfect ranking
    assert average_precision([1, 0], [0.2, 0.9]) == pytest.approx(0.5)  # worst: 1/2 at rank 2
    assert average_precision([True, True], [0.1, 0.2]) == 1.0  # only positives


def test_roc_auc_by_hand():
    from woodcock_widgets.ml.metrics import roc_auc

    # positive-negative pairs won by the positive: 3 + 2 + 2 of 9
    assert roc_auc(Y_RANKED, S_RANKED) == pytest.approx(7 / 9)
    assert roc_auc([0, 1, 0, 1], [0.1, 0.5, 0.5, 0.9]) == pytest.approx(3.5 / 4)  # a tie is 1/2


def test_best_f1_threshold_by_hand():
    from woodcock_widgets.ml.metrics import best_f1_threshold

    # F1 of score >= t: t=.9: .5, .8: .4, .7: 2/3, .4: 6/7 (P 3/4, R 1), .3: .75, .1: 2/3
    t, f1 = best_f1_threshold(Y_RANKED, S_RANKED)
    assert t == 0.4 and f1 == pytest.approx(6 / 7)
    at = threshold_metrics(Y_RANKED, S_RANKED, positive=1, threshold=t)
    assert at["f1"] == pytest.approx(f1)  # the threshold reproduces its F1
    # a tie (F1 2/3 at .9 and at .6): the highest threshold, fewest detections
    t, f1 = best_f1_threshold([1, 0, 0, 1], [0.9, 0.8, 0.7, 0.6])
    assert t == 0.9 and f1 == pytest.approx(2 / 3)


def test_undefined_score_metrics_are_nan_without_warnings():
    import warnings

    from woodcock_widgets.ml.metrics import average_precision, best_f1_threshold, roc_auc

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # sklearn's "no positive class" warnings never leak
        assert math.isnan(average_precision([0, 0, 0], [0.1, 0.5, 0.9]))
        assert all(math.isnan(v) for v in best_f1_threshold([0, 0], [0.1, 0.9]))
        assert math.isnan(roc_auc([0, 0, 0], [0.1, 0.5, 0.9]))
        assert math.isnan(roc_auc([1, 1], [0.1, 0.9]))  # only positives: no ROC curve


def test_score_metrics_refuse_bad_input():
    from woodcock_widgets.ml.metrics import average_precision

    with pytest.raises(ValueError, match="one length"):
        average_precision([0, 1], [0.5])
    with pytest.raises(ValueError, match="0/1"):
        average_precision([0, 2], [0.5, 0.1])
    with pytest.raises(ValueError, match="finite"):
        average_precision([0, 1], [0.5, float("nan")])
