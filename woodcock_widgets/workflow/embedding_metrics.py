"""Validation figures of a shallow head's probabilities, as the CNN path's history has them."""

from __future__ import annotations

import math

import numpy as np

from ..ml.metrics import average_precision, classification_metrics, threshold_metrics

__all__ = ["DEFAULT_THRESHOLD", "evaluate_probabilities"]

#: Detection threshold recorded for the positive class (multi-label: every class).
DEFAULT_THRESHOLD = 0.5


def evaluate_probabilities(
    prefix: str, y: np.ndarray, p: np.ndarray, classes: list[str], multi_label: bool, full: bool
) -> dict[str, float]:
    """Loss, accuracy, precision/recall/F1 (macro and per class) and AP of probabilities.

    Parameters
    ----------
    prefix : str
        ``train`` or ``valid``: the history columns' prefix.
    y : numpy.ndarray
        Single-label: class codes ``(n,)``; multi-label: a 0/1 matrix ``(n, k)``.
    p : numpy.ndarray
        ``(n, k)`` probabilities.
    classes : list of str
        Class names, in column order.
    multi_label : bool
        How to read ``y`` and ``p`` (independent classes at threshold 0.5, or the arg-max).
    full : bool
        Also per-class precision, recall, F1 and AP, and ``<prefix>_map``.

    Returns
    -------
    dict of str to float
        ``<prefix>_loss``, ``_accuracy``, ``_f1`` (and with ``full`` the rest). AP is
        :func:`~woodcock_widgets.ml.metrics.average_precision`, as in the CNN path: NaN for a
        class without positives (left out of ``<prefix>_map``), 1 for a class whose windows
        are all positives.
    """
    eps = 1e-7
    p = np.clip(np.asarray(p, np.float64), eps, 1 - eps)
    out: dict[str, float] = {}
    if multi_label:
        loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
        hit = (p >= DEFAULT_THRESHOLD).astype(np.int64)
        per = {
            c: threshold_metrics(y[:, i], p[:, i], 1, DEFAULT_THRESHOLD)
            for i, c in enumerate(classes)
        }
        m = {
            "accuracy": float((hit == y).all(axis=1).mean()),  # every class right
            "precision": float(np.mean([v["precision"] for v in per.values()])),
            "recall": float(np.mean([v["recall"] for v in per.values()])),
            "f1": float(np.mean([v["f1"] for v in per.values()])),
        }
        for c, v in per.items():
            m.update({f"precision_{c}": v["precision"], f"recall_{c}": v["recall"]})
            m[f"f1_{c}"] = v["f1"]
        truth = y.astype(bool)
    else:
        loss = -np.mean(np.log(p[np.arange(len(y)), y]))
        m = classification_metrics(y, p.argmax(axis=1), classes)
        truth = np.eye(len(classes), dtype=bool)[y]
    out[f"{prefix}_loss"] = float(loss)
    keys = m if full else ("accuracy", "f1")
    out.update({f"{prefix}_{k}": float(m[k]) for k in keys})
    if full:
        aps = {c: average_precision(truth[:, i], p[:, i]) for i, c in enumerate(classes)}
        defined = [v for v in aps.values() if not math.isnan(v)]
        out[f"{prefix}_map"] = float(np.mean(defined)) if defined else float("nan")
        out.update({f"{prefix}_ap_{c}": v for c, v in aps.items()})
    return out
