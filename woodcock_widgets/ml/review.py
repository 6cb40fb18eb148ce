"""Review a trained model on labeled clips: scores, thresholds, confusion cells, corrections.

The results review widget is a view over these functions. Corrections live in
:mod:`woodcock_widgets.tables.corrections` (re-exported here): a CSV of ``filename, <label
column>`` with paths relative to the run folder, which
:func:`~woodcock_widgets.tables.corrections.apply_corrections` applies to the next training.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import LabelError
from ..tables.corrections import add_correction, read_corrections, write_corrections
from ..tables.labeled import CODE_COLUMN
from .bundle import ModelBundle
from .metrics import classification_metrics, confusion, threshold_metrics
from .table_scoring import score_table

__all__ = [
    "ClipScores",
    "score_clips",
    "true_codes",
    "class_values",
    "threshold_predictions",
    "score_text",
    "export_raven",
    "read_corrections",
    "add_correction",
    "write_corrections",
]


def threshold_predictions(scores: np.ndarray, positive: int, threshold: float) -> np.ndarray:
    """Class codes when ``positive`` is chosen wherever its score reaches ``threshold``.

    Elsewhere the highest-scoring other class is chosen, so for two classes this is the
    usual detection rule and at ``threshold=0.5`` it agrees with the arg-max.

    Parameters
    ----------
    scores : numpy.ndarray
        Shape ``(n_clips, n_classes)``.
    positive : int
        The class code being detected.
    threshold : float
        Detection threshold.
    """
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 2 or not 0 <= positive < scores.shape[1]:
        raise ValueError(f"positive must be a class code below {scores.shape[-1]}, got {positive}")
    others = scores.copy()
    others[:, positive] = -np.inf
    pred = others.argmax(axis=1)
    pred[scores[:, positive] >= threshold] = positive
    return pred


def score_text(score: float, threshold: float | None = None, digits: int = 3) -> str:
    """A score as text that never says more than the score does.

    Rounded to ``digits`` decimals, with more digits where rounding would mislead: a
    score below ``threshold`` never reads as at or above it (0.49996 is "0.49996", not
    "0.500", beside "predicted absent"), and a score that is not exactly 0 or 1 never
    reads as "0.000" or "1.000".

    Examples
    --------
    >>> score_text(0.79688), score_text(0.99996), score_text(0.49996, 0.5)
    ('0.797', '0.99996', '0.49996')
    """
    value = float(score)
    if not math.isfinite(value):
        return str(value)
    for d in range(digits, 12):
        text = f"{value:.{d}f}"
        shown = float(text)
        crosses = threshold is not None and (shown >= threshold) != (value >= threshold)
        extreme = shown in (0.0, 1.0) and value not in (0.0, 1.0)
        if not crosses and not extreme:
            return text
    return repr(value)


def true_codes(
    df: pd.DataFrame,
    class_names: Sequence[str],
    label_column: str | None = None,
    code_column: str = CODE_COLUMN,
) -> np.ndarray:
    """The true class code of each row.

    Uses ``code_column`` when the table has it; otherwise ``label_column``, whose values are
    codes or class names (of ``class_names``).

    Raises
    ------
    LabelError
        No usable column, codes out of range, or names that are not classes (named).
    """
    n = len(class_names)
    if code_column in df.columns:
        column, values = code_column, df[code_column]
    elif label_column is not None and label_column in df.columns:
        column, values = label_column, df[label_column]
    else:
        raise LabelError(
            f"table has neither a {code_column!r} column nor the label column "
            f"{label_column!r}; it has {list(df.columns)}"
        )
    if pd.api.types.is_numeric_dtype(values):
        codes = values.to_numpy()
        bad = df.index[(codes < 0) | (codes >= n) | (codes != np.round(codes))]
        if len(bad):
            raise LabelError(
                f"column {column!r} has codes outside 0..{n - 1} in row(s) {list(bad)}"
            )
        return codes.astype(int)
    index = {str(c): i for i, c in enumerate(class_names)}
    text = values.astype(str).str.strip()
    bad = df.index[~text.isin(list(index))]
    if len(bad):
        raise LabelError(
            f"column {column!r} has value(s) {sorted(set(text[bad]))} that are not the model's "
            f"classes {list(class_names)} (row(s) {list(bad[:5])})"
        )
    return np.asarray([index[t] for t in text], dtype=int)


def class_values(
    df: pd.DataFrame,
    class_names: Sequence[str],
    label_column: str | None = None,
    code_column: str = CODE_COLUMN,
) -> dict[int, str]:
    """Code → the value the table's ``label_column`` uses for it (for writing corrections).

    A model's class names can be display names (``scolopax-minor-present``) while the table
    says ``present``; corrections must use the table's words. Codes absent from the table
    fall back to the class name.
    """
    out = {i: str(c) for i, c in enumerate(class_names)}
    if label_column and label_column in df.columns and code_column in df.columns:
        pairs = df[[code_column, label_column]].drop_duplicates()
        for code, value in zip(pairs[code_column], pairs[label_column]):
            out[int(code)] = str(value).strip()
    return out


@dataclass(frozen=True)
class ClipScores:
    """A model's scores on labeled clips.

    Attributes
    ----------
    df : pandas.DataFrame
        The scored rows (original index).
    scores : numpy.ndarray
        Softmax scores ``(n_clips, n_classes)``, in row order.
    y_true : numpy.ndarray
        True codes.
    class_names : list of str
        Name of each code.
    """

    df: pd.DataFrame
    scores: np.ndarray
    y_true: np.ndarray
    class_names: list[str]

    def predictions(self, positive: int | None = None, threshold: float = 0.5) -> np.ndarray:
        """Predicted codes: arg-max, or the threshold rule for ``positive``."""
        if positive is None:
            return self.scores.argmax(axis=1)
        return threshold_predictions(self.scores, positive, threshold)

    def confusion(self, positive: int | None = None, threshold: float = 0.5) -> np.ndarray:
        """Confusion matrix ``C[true, predicted]``."""
        return confusion(self.y_true, self.predictions(positive, threshold), len(self.class_names))

    def metrics(self, positive: int | None = None, threshold: float = 0.5) -> dict[str, float]:
        """Accuracy and precision/recall/F1 (see :func:`metrics.classification_metrics`)."""
        return classification_metrics(
            self.y_true, self.predictions(positive, threshold), self.class_names
        )

    def threshold_metrics(self, positive: int, threshold: float) -> dict[str, float]:
        """Precision, recall, F1 and counts of ``positive`` at ``threshold``."""
        return threshold_metrics(self.y_true, self.scores[:, positive], positive, threshold)

    def cell_rows(
        self,
        true_code: int,
        predicted_code: int,
        positive: int | None = None,
        threshold: float = 0.5,
    ) -> list:
        """Index labels of the clips in one confusion-matrix cell (e.g. false positives)."""
        pred = self.predictions(positive, threshold)
        hit = (self.y_true == int(true_code)) & (pred == int(predicted_code))
        return list(self.df.index[hit])

    def table(self, positive: int | None = None, threshold: float = 0.5) -> pd.DataFrame:
        """The rows with ``true``, ``predicted`` and one ``score_<class>`` column per class.

        Scores are the model's, unrounded (a CSV of them compares as the model did).
        """
        out = self.df.copy()
        out["true"] = [self.class_names[i] for i in self.y_true]
        out["predicted"] = [self.class_names[i] for i in self.predictions(positive, threshold)]
        for i, name in enumerate(self.class_names):
            out[f"score_{name}"] = self.scores[:, i].astype(float)
        return out

    def review_table(self, positive: int, threshold: float) -> pd.DataFrame:
        """The rows with ``true``, ``predicted`` and ``score`` as a person reads them.

        ``score`` is the score of ``positive`` (the class the threshold applies to) as
        :func:`score_text` writes it, so it agrees with ``predicted`` at ``threshold``.
        """
        out = self.df.copy()
        out["true"] = [self.class_names[i] for i in self.y_true]
        out["predicted"] = [self.class_names[i] for i in self.predictions(positive, threshold)]
        out["score"] = [score_text(v, threshold) for v in self.scores[:, positive]]
        return out


def score_clips(
    bundle: ModelBundle,
    df: pd.DataFrame,
    label_column: str | None = None,
    filename_column: str = "filename",
    batch_size: int = 32,
    device: str = "cpu",
    precision: str = "fp32",
) -> ClipScores:
    """Score every clip of a labeled table with a model bundle (as validation does).

    The scores are :func:`~woodcock_widgets.ml.table_scoring.score_table`'s (the one way a
    model scores a table, which evaluation uses too), with the table's true codes.

    Parameters
    ----------
    bundle : ModelBundle
        The trained model and its preprocessing.
    df : pandas.DataFrame
        Clips with audio paths and true labels (see :func:`true_codes`).
    label_column : str, optional
        Class column, used when the table has no ``NumericLabels`` column.
    filename_column : str
        Audio path column.
    batch_size : int
        Clips per forward pass.
    device : str
        Where to run the model.
    precision : {"auto", "fp32", "bf16", "fp16"}
        Autocast precision (see :func:`~woodcock_widgets.ml.predict.score_batches`); float32
        by default, so review scores are exact.

    Returns
    -------
    ClipScores

    Raises
    ------
    AudioLoadError
        An unreadable clip (the message names its row and file).
    LabelError
        Labels that do not fit the model's classes.
    """
    names = bundle.class_names
    y_true = true_codes(df, names, label_column)  # label errors before any clip is scored
    scores = score_table(bundle, df, filename_column, None, batch_size, device, precision)
    return ClipScores(df, scores, y_true, list(names))


def export_raven(
    scores: pd.DataFrame,
    class_name: str,
    threshold: float,
    path: str | os.PathLike,
    high_freq: float,
    merge_gap: float | None = None,
) -> tuple[Path, pd.DataFrame]:
    """Write the detections of one class in a recording's window scores as a Raven table.

    The one export behind the review's "Export Raven table" (and the same steps as the
    ``predict --raven`` command): windows at or above ``threshold``
    (:func:`~woodcock_widgets.ml.predict.detect`), optionally merged when at most
    ``merge_gap`` seconds apart, written atomically as a tab-separated selection table
    spanning ``0 .. high_freq`` Hz.

    Returns
    -------
    (pathlib.Path, pandas.DataFrame)
        Where it was written, and the detections it holds.
    """
    from .predict import detect, merge_detections, to_raven_table, write_raven_table

    dets = detect(scores, {class_name: float(threshold)})
    if merge_gap is not None:
        dets = merge_detections(dets, merge_gap)
    written = write_raven_table(to_raven_table(dets, high_freq=high_freq), path)
    return written, dets
