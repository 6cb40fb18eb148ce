"""Classification metrics: accuracy, per-class and macro precision/recall/F1, confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["classification_metrics", "confusion", "threshold_metrics"]


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
