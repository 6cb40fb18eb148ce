"""A model's scores on a window table, for review: per-class confusion, cells, PR curves.

The window-table twin of :class:`~woodcock_widgets.ml.review.ClipScores`, with the same
methods, so the results review shows either. A window is judged one class at a time (one
sigmoid per class, :mod:`woodcock_widgets.ml.class_metrics`' one-vs-rest rule): for the chosen
class its confusion matrix is 2×2, ``C[true, predicted]`` with code 0 "not the class" and 1
"the class", a detection being ``score >= threshold``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import LabelError
from ..tables.windows import WINDOW_COLUMNS, read_window_table
from .class_metrics import per_class_metrics, pr_curve
from .metrics import threshold_metrics
from .review import ClipScores, score_text

__all__ = ["WindowScores", "score_windows", "class_pr_curve", "class_ap"]


def absent_name(name: str) -> str:
    """What a window without ``name`` is called in a per-class confusion matrix."""
    return f"not {name}"


@dataclass(frozen=True)
class WindowScores:
    """A multi-label model's scores on labeled windows.

    Attributes
    ----------
    df : pandas.DataFrame
        The windows (``file, start_time, end_time`` and the 0/1 class columns).
    scores : numpy.ndarray
        ``(n, n_classes)`` sigmoid scores, in row order.
    y_true : numpy.ndarray
        ``(n, n_classes)`` bool: window ``i`` holds class ``j``.
    class_names : list of str
        Name of each column.
    """

    df: pd.DataFrame
    scores: np.ndarray
    y_true: np.ndarray
    class_names: list[str]

    multi_label = True

    def confusion_names(self, positive: int) -> list[str]:
        """Row and column names of :meth:`confusion` for class ``positive``."""
        name = self.class_names[positive]
        return [absent_name(name), name]

    def detected(self, positive: int, threshold: float) -> np.ndarray:
        """Whether each window is a detection of class ``positive`` (bool)."""
        return self.scores[:, positive] >= float(threshold)

    def confusion(self, positive: int, threshold: float = 0.5) -> np.ndarray:
        """The 2×2 ``C[true, predicted]`` of class ``positive`` (0: not it, 1: it)."""
        truth = self.y_true[:, positive].astype(int)
        pred = self.detected(positive, threshold).astype(int)
        out = np.zeros((2, 2), dtype=np.int64)
        np.add.at(out, (truth, pred), 1)
        return out

    def threshold_metrics(self, positive: int, threshold: float) -> dict[str, float]:
        """Precision, recall, F1 and counts of class ``positive`` at ``threshold``."""
        truth = self.y_true[:, positive].astype(int)
        return threshold_metrics(truth, self.scores[:, positive], 1, threshold)

    def cell_rows(self, true_code: int, predicted_code: int, positive: int, threshold: float):
        """Index labels of the windows in one cell of class ``positive``'s 2×2 matrix."""
        truth = self.y_true[:, positive] == bool(true_code)
        hit = truth & (self.detected(positive, threshold) == bool(predicted_code))
        return list(self.df.index[hit])

    def true_text(self) -> list[str]:
        """Each window's classes joined by ``+`` (``none`` for an empty window)."""
        names = np.asarray(self.class_names, dtype=object)
        return ["+".join(names[row]) or "none" for row in self.y_true]

    def review_table(self, positive: int, threshold: float) -> pd.DataFrame:
        """The windows with ``true`` (their classes), ``predicted``, ``score`` of ``positive``."""
        name = self.class_names[positive]
        out = self.df.copy()
        out["true"] = self.true_text()
        hit = self.detected(positive, threshold)
        out["predicted"] = np.where(hit, name, absent_name(name))
        out["score"] = [score_text(v, threshold) for v in self.scores[:, positive]]
        return out


def class_pr_curve(scores: ClipScores | WindowScores, positive: int):
    """``(precision, recall, thresholds)`` of one class.

    See :func:`~woodcock_widgets.ml.class_metrics.pr_curve`.
    """
    return pr_curve(scores.y_true, scores.scores, positive)


def class_ap(scores: ClipScores | WindowScores, positive: int) -> float:
    """Average precision of one class (NaN when it has no positive)."""
    m = per_class_metrics(scores.y_true, scores.scores, scores.class_names)
    return float(m["ap"].iloc[positive])


def score_windows(
    bundle,
    windows: pd.DataFrame | str | os.PathLike,
    batch_size: int = 32,
    device: str = "cpu",
    precision: str = "fp32",
) -> ClipScores | WindowScores:
    """Score a window table (e.g. a window run's ``valid.csv``) with a model bundle.

    Each window is read from its ``start_time``
    (:func:`~woodcock_widgets.ml.table_scoring.score_table`).

    Parameters
    ----------
    bundle : ModelBundle
        The model; its ``extra["multi_label"]`` says how to read the windows.
    windows : pandas.DataFrame or path
        A window table with one 0/1 column per class of the model.
    batch_size, device, precision
        See :func:`~woodcock_widgets.ml.table_scoring.score_table`.

    Returns
    -------
    WindowScores or ClipScores
        ``WindowScores`` for a multi-label model; ``ClipScores`` (each window's class code)
        for a single-target one.

    Raises
    ------
    LabelError
        A class of the model with no column in the table, or (single-target) a window with
        no class or several.
    """
    from .table_scoring import score_table

    source = "window table" if isinstance(windows, pd.DataFrame) else f"window table {windows}"
    df = windows if isinstance(windows, pd.DataFrame) else read_window_table(Path(windows))
    names = [str(c) for c in bundle.class_names]
    missing = [c for c in [*WINDOW_COLUMNS, *names] if c not in df.columns]
    if missing:
        raise LabelError(f"{source} has no column(s) {missing} for the model's classes {names}")
    y = df[names].to_numpy(dtype=np.int64).astype(bool)
    multi = bool(getattr(bundle, "extra", {}).get("multi_label", False))
    if not multi and len(y) and not (y.sum(axis=1) == 1).all():
        lines = [int(i) + 2 for i in np.flatnonzero(y.sum(axis=1) != 1)[:5]]
        raise LabelError(
            f"{source}: a single-target model needs one class per window; line(s) {lines} "
            "have none or several"
        )
    s = score_table(bundle, df, "file", "start_time", batch_size, device, precision)
    if multi:
        return WindowScores(df, np.asarray(s, dtype=float), y, names)
    return ClipScores(df, np.asarray(s, dtype=float), y.argmax(axis=1), names)


def is_window_frame(df: pd.DataFrame, class_names: Sequence[str]) -> bool:
    """Whether ``df`` is a window table of these classes (rather than a clip table)."""
    return set(WINDOW_COLUMNS) <= set(df.columns) and set(map(str, class_names)) <= set(df.columns)


def is_window_table(path: str | os.PathLike) -> bool:
    """Whether the CSV at ``path`` has a window table's header (``file, start_time, end_time``)."""
    try:
        header = pd.read_csv(path, nrows=0, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError):
        return False
    return set(WINDOW_COLUMNS) <= {str(c).strip() for c in header.columns}
