"""Classification metrics: accuracy, per-class and macro precision/recall/F1, confusion matrix.

Also the score-based metrics of one class (one-vs-rest): :func:`average_precision`,
:func:`roc_auc` and the F1-optimal threshold :func:`best_f1_threshold`. Where a metric is
undefined for the labels given (no positive, or only one label value) they return NaN
rather than a number or a warning; :mod:`woodcock_widgets.ml.class_metrics` builds the
per-class tables on them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "classification_metrics",
    "confusion",
    "threshold_metrics",
    "average_precision",
    "roc_auc",
    "best_f1_threshold",
]


def classification_metrics(
    y_true: Sequence[int], y_pred: Sequence[int], class_names: Sequence[str]
) -> dict[str, float]:
    """Accuracy and precision/recall/F1 per class and macro-averaged.

    Parameters
    ----------
    y_true, y_pred : sequence of int
        True and predicted class codes.
    class_names : sequence of str
        Name of each code, used in the keys ``precision_<name>`` etc.

    Returns
    -------
    dict
        ``accuracy, precision, recall, f1`` (macro) and ``precision_<name>``,
        ``recall_<name>``, ``f1_<name>`` for each class. Undefined values (no predictions of
        a class) count as 0.
    """
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    labels = list(range(len(class_names)))
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    if len(y_true) == 0:
        return {
            "accuracy": float("nan"),
            "precision": float("nan"),
            "recall": float("nan"),
            "f1": float("nan"),
        }
    p, r, f, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0
    )
    out = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision": float(np.mean(p)),
        "recall": float(np.mean(r)),
        "f1": float(np.mean(f)),
    }
    for i, name in enumerate(class_names):
        out[f"precision_{name}"] = float(p[i])
        out[f"recall_{name}"] = float(r[i])
        out[f"f1_{name}"] = float(f[i])
    return out


def confusion(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> np.ndarray:
    """Confusion matrix ``C[i, j]`` = clips of true class ``i`` predicted as ``j``."""
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(
        np.asarray(y_true, int), np.asarray(y_pred, int), labels=list(range(n_classes))
    )


def threshold_metrics(
    y_true: Sequence[int], scores: Sequence[float], positive: int, threshold: float
) -> dict[str, float]:
    """Precision, recall and F1 of one class when detections are ``score >= threshold``.

    Parameters
    ----------
    y_true : sequence of int
        True class codes.
    scores : sequence of float
        The class's score (probability) per clip.
    positive : int
        The class code being detected.
    threshold : float
        Detection threshold.
    """
    y = np.asarray(y_true, int) == positive
    hit = np.asarray(scores, float) >= threshold
    tp = int((y & hit).sum())
    fp = int((~y & hit).sum())
    fn = int((y & ~hit).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}


def _binary(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    """``y_true`` as a bool vector and ``scores`` as a finite float vector of the same length."""
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=float)
    if y.ndim != 1 or s.ndim != 1 or len(y) != len(s):
        raise ValueError(
            f"y_true and scores must be 1-D and of one length, got {y.shape} and {s.shape}"
        )
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError(f"y_true must hold 0/1 (or bool) values, got {sorted(set(y.tolist()))}")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite numbers (no NaN or infinity)")
    return y.astype(bool), s


def average_precision(y_true: Sequence[int], scores: Sequence[float]) -> float:
    """Average precision of one class: the area under its precision–recall curve.

    ``AP = sum_n (R_n - R_{n-1}) P_n`` over the distinct score thresholds, highest first
    (scikit-learn's step-wise sum, no interpolation): the precision at each recall step,
    weighted by how much recall it adds. A random ranking scores about the class's positive
    rate; a perfect one 1.

    Parameters
    ----------
    y_true : sequence of 0/1 or bool
        Whether each clip is a positive of the class.
    scores : sequence of float
        The class's score per clip.

    Returns
    -------
    float
        NaN when ``y_true`` has no positive (nothing to find).
    """
    y, s = _binary(y_true, scores)
    if not y.any():
        return float("nan")
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, s))


def roc_auc(y_true: Sequence[int], scores: Sequence[float]) -> float:
    """Area under the ROC curve of one class: how often a positive outscores a negative.

    Parameters
    ----------
    y_true : sequence of 0/1 or bool
        Whether each clip is a positive of the class.
    scores : sequence of float
        The class's score per clip.

    Returns
    -------
    float
        NaN when ``y_true`` holds only one value (only positives or only negatives).
    """
    y, s = _binary(y_true, scores)
    if y.all() or not y.any():
        return float("nan")
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s))


def best_f1_threshold(y_true: Sequence[int], scores: Sequence[float]) -> tuple[float, float]:
    """The threshold with the highest F1 for one class, and that F1.

    Detections are ``score >= threshold``. The candidates are the points of the class's
    precision–recall curve, i.e. each distinct score; where several give the same highest
    F1 the highest threshold is chosen (fewest detections). Using the returned threshold
    gives exactly the returned F1 on these clips (see :func:`threshold_metrics`).

    Parameters
    ----------
    y_true : sequence of 0/1 or bool
        Whether each clip is a positive of the class.
    scores : sequence of float
        The class's score per clip.

    Returns
    -------
    (float, float)
        ``(threshold, f1)``; ``(nan, nan)`` when ``y_true`` has no positive.
    """
    y, s = _binary(y_true, scores)
    if not y.any():
        return float("nan"), float("nan")
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(y, s)
    p, r = precision[:-1], recall[:-1]  # the last point (1, 0) has no threshold
    denom = p + r
    f1 = np.divide(2 * p * r, denom, out=np.zeros_like(denom), where=denom > 0)
    best = float(f1.max())
    i = int(np.flatnonzero(f1 >= best - 1e-12)[-1])  # thresholds ascend: the highest tie
    return float(thresholds[i]), float(f1[i])
