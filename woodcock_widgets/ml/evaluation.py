"""Per-class evaluation of a model bundle on a labeled table (:func:`evaluate_bundle`).

The pieces live in modules with one job each and are re-exported here, so
``woodcock_widgets.ml.evaluation`` keeps every name it had:

* :mod:`.class_metrics`: the per-class metric table of scores against labels (AP, ROC AUC,
  precision/recall/F1 at a threshold, best thresholds), macro mAP and PR curves; its
  docstring states the conventions (labels, one-vs-rest, classes without positives).
* :mod:`.history_columns`: the training history's ``valid_map`` and ``valid_ap_<class>``.
* :mod:`.labeled_rows`: a clip or window table read and checked against a model's classes.
* :mod:`.table_scoring`: the scores of a table's rows (:func:`score_table`).

No torch is imported with this module; scoring imports it when called.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import WoodcockError
from .class_metrics import (
    DEFAULT_THRESHOLD,
    METRIC_COLUMNS,
    label_matrix,
    macro_map,
    per_class_metrics,
    pr_curve,
)
from .history_columns import ap_column_names, history_columns, safe_column_name
from .labeled_rows import LabeledRows, read_labeled_rows, suggest_class
from .table_scoring import score_table

__all__ = [
    "METRIC_COLUMNS",
    "DEFAULT_THRESHOLD",
    "per_class_metrics",
    "macro_map",
    "pr_curve",
    "safe_column_name",
    "ap_column_names",
    "history_columns",
    "label_matrix",
    "recorded_thresholds",
    "suggest_class",
    "LabeledRows",
    "read_labeled_rows",
    "score_table",
    "Evaluation",
    "evaluate_bundle",
    "default_output_path",
]


def recorded_thresholds(bundle) -> dict[str, float]:
    """The per-class thresholds a bundle records (its ``thresholds``, else ``extra``), or {}."""
    recorded = getattr(bundle, "thresholds", None) or bundle.extra.get("thresholds") or {}
    names = set(bundle.class_names)
    return {str(k): float(v) for k, v in dict(recorded).items() if str(k) in names}


@dataclass(frozen=True)
class Evaluation:
    """A bundle's per-class evaluation on a labeled table.

    Attributes
    ----------
    metrics : pandas.DataFrame
        :func:`per_class_metrics` of the evaluated classes.
    macro_map : float
        :func:`macro_map` of ``metrics``.
    rows : LabeledRows
        The table, its labels and the classes evaluated.
    scores : numpy.ndarray
        ``(n, len(rows.classes))`` scores of the evaluated classes.
    notes : list of str
        Things worth saying about the table and the scoring (printed by the command line).
    """

    metrics: pd.DataFrame
    macro_map: float
    rows: LabeledRows
    scores: np.ndarray
    notes: list[str] = field(default_factory=list)


def _check_threshold(value) -> float:
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise WoodcockError(f"threshold must be a number in [0, 1], got {value!r}") from None
    if not 0.0 <= t <= 1.0:  # also refuses NaN
        raise WoodcockError(f"threshold must be in [0, 1] (a score), got {value}")
    return t


def evaluate_bundle(
    bundle,
    labels: str | os.PathLike,
    label_column: str | None = None,
    mapping: Mapping[str, str] | None = None,
    classes: Sequence[str] | None = None,
    threshold: float | None = None,
    filename_column: str = "filename",
    batch_size: int = 32,
    device: str = "cpu",
    precision: str = "fp32",
) -> Evaluation:
    """Score a bundle on a labeled table and compute its per-class metrics.

    Everything is checked (threshold, classes, the table and its labels) before any clip is
    scored.

    Parameters
    ----------
    bundle : ModelBundle
        The model.
    labels : str or path-like
        A clip table or a window table (see :func:`read_labeled_rows`).
    label_column, mapping, classes, filename_column
        See :func:`read_labeled_rows`.
    threshold : float, optional
        One threshold in [0, 1] for every class. Default: the bundle's recorded per-class
        thresholds (:func:`recorded_thresholds`), 0.5 for classes without one.
    batch_size, device, precision
        See :func:`score_table`.

    Returns
    -------
    Evaluation

    Raises
    ------
    WoodcockError
        A threshold outside [0, 1]; the errors of :func:`read_labeled_rows` and
        :func:`score_table`.
    """
    fixed = None if threshold is None else _check_threshold(threshold)
    names = list(bundle.class_names)
    rows = read_labeled_rows(labels, names, label_column, mapping, classes, filename_column)
    notes = list(rows.notes)
    if rows.kind == "windows" and not hasattr(bundle, "score_clips"):
        lengths = (rows.df["end_time"] - rows.df["start_time"]).to_numpy(float)
        clip = float(bundle.preprocessing.clip_seconds)
        if len(lengths) and np.abs(lengths - clip).max() > 1e-6:
            notes.append(
                f"windows are {np.median(lengths):g} s (median) but the model's clips are "
                f"{clip:g} s: each window is scored on {clip:g} s from its start"
            )
    if fixed is None:
        recorded = recorded_thresholds(bundle)
        used = {c: recorded.get(c, DEFAULT_THRESHOLD) for c in rows.classes}
    else:
        used = dict.fromkeys(rows.classes, fixed)
    all_scores = score_table(
        bundle, rows.df, rows.filename_column, rows.offset_column, batch_size, device, precision
    )
    scores = all_scores[:, [names.index(c) for c in rows.classes]]
    metrics = per_class_metrics(rows.y_true, scores, rows.classes, used, multi_label=True)
    return Evaluation(metrics, macro_map(metrics), rows, scores, notes)


def default_output_path(labels: str | os.PathLike) -> Path:
    """Where ``evaluate`` writes by default: ``<labels stem>_evaluation.csv`` beside the labels."""
    labels = Path(labels)
    return labels.with_name(f"{labels.stem}_evaluation.csv")
