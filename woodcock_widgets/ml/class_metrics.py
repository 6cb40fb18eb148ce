"""Per-class metrics of scores against labels: AP, ROC AUC, P/R/F1 at a threshold, mAP.

Numpy and scikit-learn only (no torch is imported with this module). The score-based metrics
of one class come from :mod:`.metrics`; this module judges every class of a model at once.

Conventions
-----------
* **Labels.** ``y_true`` is either integer class codes ``(n,)`` (single-target: each clip is
  one class) or a 0/1 matrix ``(n, k)`` (multi-label: each column one class). Codes are
  turned into the equivalent one-hot matrix, so both are judged the same way.
* **One-vs-rest.** Every class is judged on its own column of scores: a clip is a positive of
  class ``c`` when it is labeled ``c``, and a detection of ``c`` when ``scores[:, c] >=
  threshold[c]``. For a single-target model this is the detection rule of ``predict`` and
  the review's threshold slider, not the arg-max: at a low threshold a clip can be a
  detection of two classes, at a high one of none. The default threshold is 0.5.
* **Classes without positives** (no clip of the class in ``y_true``): ``ap``, ``roc_auc``,
  ``recall``, ``f1``, ``best_threshold`` and ``best_f1`` are NaN (there is nothing to find);
  ``precision`` is 0 (every detection is false; 0 also when there is none, as in
  :func:`~woodcock_widgets.ml.metrics.classification_metrics`). ``roc_auc`` is NaN as well
  for a class whose clips are all positives.
* **Macro mAP** (:func:`macro_map`) is the mean AP over the classes with at least one positive;
  classes without positives are left out, not counted as 0. NaN when no class has one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .metrics import average_precision, best_f1_threshold, roc_auc, threshold_metrics

__all__ = [
    "METRIC_COLUMNS",
    "DEFAULT_THRESHOLD",
    "label_matrix",
    "per_class_metrics",
    "macro_map",
    "pr_curve",
]

#: Columns of :func:`per_class_metrics`, in order (the index is the class name).
METRIC_COLUMNS = [
    "positives",
    "positive_rate",
    "ap",
    "roc_auc",
    "threshold",
    "precision",
    "recall",
    "f1",
    "best_threshold",
    "best_f1",
]

#: Threshold of a class when none is given or recorded.
DEFAULT_THRESHOLD = 0.5


def label_matrix(y_true, n_classes: int, multi_label: bool | None = None) -> np.ndarray:
    """Labels as a bool matrix ``(n, n_classes)``: column ``c`` is "the clip is a ``c``".

    Parameters
    ----------
    y_true : array-like
        Integer codes ``(n,)`` in ``0..n_classes-1``, or a 0/1 matrix ``(n, n_classes)``.
    n_classes : int
        Number of classes.
    multi_label : bool, optional
        ``None``: read from the shape (1-D codes are single-target, a matrix multi-label).
        ``True``: a matrix is required. ``False``: codes, or a matrix with exactly one 1 per
        row (one-hot).

    Raises
    ------
    ValueError
        A shape, code or value that does not fit.
    """
    y = np.asarray(y_true)
    if y.ndim == 1:
        if multi_label:
            raise ValueError("multi_label=True needs a 0/1 matrix (n, k), got 1-D codes")
        if y.size and not np.issubdtype(y.dtype, np.number):
            raise ValueError(f"class codes must be integers, got dtype {y.dtype}")
        codes = y.astype(float)
        bad = (codes < 0) | (codes >= n_classes) | (codes != np.round(codes))
        if bad.any():
            raise ValueError(
                f"class codes must be integers in 0..{n_classes - 1}, got {y[bad][:5].tolist()}"
            )
        return np.eye(n_classes, dtype=bool)[codes.astype(int)].reshape(len(y), n_classes)
    if y.ndim != 2 or y.shape[1] != n_classes:
        raise ValueError(f"labels must be (n,) codes or an (n, {n_classes}) matrix, got {y.shape}")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError("a label matrix must hold 0/1 (or bool) values")
    out = y.astype(bool)
    if multi_label is False and len(out) and not (out.sum(axis=1) == 1).all():
        rows = np.flatnonzero(out.sum(axis=1) != 1)[:5].tolist()
        raise ValueError(f"multi_label=False needs one class per row; rows {rows} have 0 or 2+")
    return out


def _threshold_list(thresholds, class_names: list[str]) -> list[float]:
    """One finite threshold per class from ``None``, a number, a mapping or a sequence."""
    k = len(class_names)
    if thresholds is None:
        values = [DEFAULT_THRESHOLD] * k
    elif isinstance(thresholds, Mapping):
        unknown = sorted(set(map(str, thresholds)) - set(class_names))
        if unknown:
            raise ValueError(f"thresholds name classes that are not evaluated: {unknown}")
        named = {str(c): v for c, v in thresholds.items()}
        values = [named.get(c, DEFAULT_THRESHOLD) for c in class_names]
    elif np.ndim(thresholds) == 0:
        values = [thresholds] * k
    else:
        values = list(thresholds)
        if len(values) != k:
            raise ValueError(f"{len(values)} thresholds for {k} classes")
    out = [float(v) for v in values]
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"thresholds must be finite numbers, got {out}")
    return out


def _check_scores(scores, n: int, k: int) -> np.ndarray:
    s = np.asarray(scores, dtype=float)
    if s.ndim != 2 or s.shape != (n, k):
        raise ValueError(f"scores must be ({n}, {k}) (clips x classes), got {s.shape}")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite numbers (no NaN or infinity)")
    return s


def per_class_metrics(
    y_true,
    scores,
    class_names: Sequence[str],
    thresholds=None,
    multi_label: bool | None = None,
) -> pd.DataFrame:
    """Per-class AP, ROC AUC, precision/recall/F1 at a threshold, and the best threshold.

    Each class is judged one-vs-rest on its own score column (see the module docstring).

    Parameters
    ----------
    y_true : array-like
        Integer codes ``(n,)`` (single-target) or a 0/1 matrix ``(n, k)`` (multi-label).
    scores : array-like
        ``(n, k)`` scores (probabilities), one column per class.
    class_names : sequence of str
        Name of each class (column of ``scores``); unique.
    thresholds : float, mapping or sequence, optional
        The detection threshold of each class: one number for all, ``{class: threshold}``
        (unnamed classes get 0.5), or one per class. Default 0.5.
    multi_label : bool, optional
        How to read ``y_true`` (see :func:`label_matrix`); by default from its shape.

    Returns
    -------
    pandas.DataFrame
        Indexed by class name (index name ``class``), with :data:`METRIC_COLUMNS`:
        ``positives`` (clips of the class), ``positive_rate`` (their share: the AP of a
        random ranking), ``ap`` (average precision), ``roc_auc``, ``threshold`` (the one
        used), ``precision``, ``recall`` and ``f1`` of ``score >= threshold``,
        ``best_threshold`` (the F1-optimal one, from the precision–recall curve, see
        :func:`~woodcock_widgets.ml.metrics.best_f1_threshold`) and ``best_f1``. NaN as the
        module docstring says, never a warning.

    Raises
    ------
    ValueError
        Shapes, codes, scores or thresholds that do not fit.

    Examples
    --------
    >>> m = per_class_metrics([0, 1, 1, 0], [[.9, .1], [.4, .6], [.2, .8], [.7, .3]], ["a", "b"])
    >>> m.loc["b", ["positives", "ap", "f1"]].tolist()
    [2.0, 1.0, 1.0]
    """
    names = [str(c) for c in class_names]
    if len(set(names)) != len(names):
        raise ValueError(f"class names must be unique, got {names}")
    y = label_matrix(y_true, len(names), multi_label)
    s = _check_scores(scores, len(y), len(names))
    used = _threshold_list(thresholds, names)
    n = len(y)
    rows = []
    for j, threshold in enumerate(used):
        yj, sj = y[:, j], s[:, j]
        positives = int(yj.sum())
        at = threshold_metrics(yj.astype(int), sj, positive=1, threshold=threshold)
        best_t, best_f = best_f1_threshold(yj, sj)
        rows.append(
            {
                "positives": positives,
                "positive_rate": positives / n if n else float("nan"),
                "ap": average_precision(yj, sj),
                "roc_auc": roc_auc(yj, sj),
                "threshold": threshold,
                "precision": float(at["precision"]),
                "recall": float(at["recall"]) if positives else float("nan"),
                "f1": float(at["f1"]) if positives else float("nan"),
                "best_threshold": best_t,
                "best_f1": best_f,
            }
        )
    out = pd.DataFrame(rows, index=pd.Index(names, name="class"), columns=METRIC_COLUMNS)
    out["positives"] = out["positives"].astype(int)
    return out


def macro_map(y_true_or_metrics, scores=None, multi_label: bool | None = None) -> float:
    """Macro mean average precision: the mean AP over classes with at least one positive.

    Parameters
    ----------
    y_true_or_metrics : array-like or pandas.DataFrame
        A table from :func:`per_class_metrics` (its ``ap`` and ``positives`` are used), or
        labels as :func:`per_class_metrics` takes them (then ``scores`` is needed).
    scores : array-like, optional
        ``(n, k)`` scores, with labels.
    multi_label : bool, optional
        How to read the labels (see :func:`label_matrix`).

    Returns
    -------
    float
        NaN when no class has a positive (no warning).
    """
    if isinstance(y_true_or_metrics, pd.DataFrame):
        frame = y_true_or_metrics
        ap = frame["ap"].to_numpy(float)
        has = frame["positives"].to_numpy() > 0 if "positives" in frame else np.isfinite(ap)
    else:
        if scores is None:
            raise ValueError("macro_map needs scores with labels (or a per_class_metrics table)")
        s = np.asarray(scores, dtype=float)
        k = s.shape[1] if s.ndim == 2 else 0
        y = label_matrix(y_true_or_metrics, k, multi_label)
        s = _check_scores(s, len(y), k)
        ap = np.array([average_precision(y[:, j], s[:, j]) for j in range(k)], float)
        has = y.any(axis=0)
    kept = ap[has & np.isfinite(ap)]
    return float(kept.mean()) if kept.size else float("nan")


def pr_curve(
    y_true, scores, class_index: int, multi_label: bool | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The precision–recall curve of one class, for plotting.

    Parameters
    ----------
    y_true : array-like
        Labels as :func:`per_class_metrics` takes them.
    scores : array-like
        ``(n, k)`` scores.
    class_index : int
        The class (column of ``scores``).
    multi_label : bool, optional
        How to read the labels (see :func:`label_matrix`).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, numpy.ndarray)
        ``precision``, ``recall`` (recall decreasing, ending at the point ``(1, 0)``) and
        the ``thresholds`` (ascending, one fewer) as scikit-learn's
        ``precision_recall_curve`` gives them: ``precision[i]``, ``recall[i]`` are those of
        ``score >= thresholds[i]``. Three empty arrays for a class with no positive
        (there is no curve to draw).
    """
    s = np.asarray(scores, dtype=float)
    k = s.shape[1] if s.ndim == 2 else 0
    y = label_matrix(y_true, k, multi_label)
    s = _check_scores(s, len(y), k)
    if not 0 <= int(class_index) < k:
        raise ValueError(f"class_index must be in 0..{k - 1}, got {class_index}")
    yj, sj = y[:, int(class_index)], s[:, int(class_index)]
    if not yj.any():
        empty = np.zeros(0)
        return empty, empty.copy(), empty.copy()
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(yj, sj)
    return precision, recall, thresholds
