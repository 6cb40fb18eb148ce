"""Per-class evaluation: AP, ROC AUC, precision/recall/F1 at a threshold, best thresholds, mAP.

The metric functions here are numpy and scikit-learn only (no torch is imported with this
module); :func:`score_table` and :func:`evaluate_bundle`, which score a labeled table with a
model bundle, import the scoring path when called.

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
* **History columns** (:func:`history_columns`): ``valid_map`` and one ``valid_ap_<class>``
  per class, with the class name made safe by :func:`safe_column_name`.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import LabelError, WoodcockError
from ..tables.labeled import CODE_COLUMN
from .metrics import average_precision, best_f1_threshold, roc_auc, threshold_metrics

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

#: Columns that make a label table a window table (:mod:`woodcock_widgets.tables.windows`).
_WINDOW_COLUMNS = ("file", "start_time", "end_time")


# ----------------------------------------------------------------------------- metrics
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


def safe_column_name(name: str) -> str:
    """A class name as a safe column-name part: ``[A-Za-z0-9_]`` only.

    The rule: each run of other characters (spaces, ``-``, ``.``, ``/``, accents, ...) becomes
    one ``_``, leading and trailing ``_`` are dropped, and the case is kept (``"A"`` and
    ``"a"`` may be different syllables). A name left empty becomes ``class``.

    Examples
    --------
    >>> safe_column_name("scolopax-minor present"), safe_column_name("Wood Thrush (song)")
    ('scolopax_minor_present', 'Wood_Thrush_song')
    """
    safe = re.sub(r"[^A-Za-z0-9_]+", "_", str(name)).strip("_")
    return safe or "class"


def ap_column_names(class_names: Sequence[str], prefix: str = "valid") -> dict[str, str]:
    """Class → its AP column in the history: ``<prefix>_ap_<safe name>``.

    Names that become the same after :func:`safe_column_name` get ``_2``, ``_3``... in class
    order, so every class keeps its own column.
    """
    out: dict[str, str] = {}
    taken: set[str] = set()
    for name in class_names:
        base = f"{prefix}_ap_{safe_column_name(name)}"
        column, k = base, 1
        while column in taken:
            k += 1
            column = f"{base}_{k}"
        taken.add(column)
        out[str(name)] = column
    return out


def history_columns(metrics_frame: pd.DataFrame, prefix: str = "valid") -> dict[str, float]:
    """The training history's columns from a :func:`per_class_metrics` table.

    Parameters
    ----------
    metrics_frame : pandas.DataFrame
        Per-class metrics (index: class names).
    prefix : str
        Column prefix (``valid``, or ``train``).

    Returns
    -------
    dict of str to float
        ``<prefix>_map`` (:func:`macro_map`) then ``<prefix>_ap_<class>`` per class, in the
        table's order (names as :func:`ap_column_names` makes them; NaN for a class without
        positives).
    """
    out = {f"{prefix}_map": macro_map(metrics_frame)}
    columns = ap_column_names([str(c) for c in metrics_frame.index], prefix)
    for name, ap in zip(metrics_frame.index, metrics_frame["ap"]):
        out[columns[str(name)]] = float(ap)
    return out


# ------------------------------------------------------------------- labeled tables
def suggest_class(name: str, classes: Sequence[str]) -> str | None:
    """The class ``name`` most likely means (a close spelling, or a display name ending in it)."""
    classes = [str(c) for c in classes]
    close = difflib.get_close_matches(str(name), classes, n=1, cutoff=0.6)
    if close:
        return close[0]
    low = str(name).strip().lower()
    tokens = [c for c in classes if low and re.split(r"[^a-z0-9]+", c.lower())[-1:] == [low]]
    if len(tokens) == 1:  # "present" → "scolopax-minor-present"
        return tokens[0]
    close = difflib.get_close_matches(str(name), classes, n=1, cutoff=0.5)
    return close[0] if close else None


def _unknown_class_error(what: str, name: str, classes: Sequence[str], hint: str = "") -> str:
    guess = suggest_class(name, classes)
    mean = f"; did you mean {guess!r}?" if guess else "."
    listed = ", ".join(map(repr, classes))
    return f"{what} {name!r} is not a class of the model{mean} The model's classes: {listed}{hint}"


def _lines(index, limit: int = 5) -> str:
    """CSV line numbers (header is line 1) of 0-based row positions."""
    lines = [int(i) + 2 for i in list(index)[:limit]]
    more = f" and {len(index) - limit} more" if len(index) > limit else ""
    return ", ".join(map(str, lines)) + more


@dataclass(frozen=True)
class LabeledRows:
    """A labeled table read for evaluation.

    Attributes
    ----------
    df : pandas.DataFrame
        The rows, with absolute audio paths.
    y_true : numpy.ndarray
        ``(n, len(classes))`` bool: row ``i`` is a positive of ``classes[j]``.
    classes : list of str
        The classes evaluated (model classes, in the model's order).
    kind : {"clips", "windows"}
        A clip table (one class per row) or a window table (0/1 columns, offsets).
    filename_column : str
        Column of ``df`` with the audio paths.
    offset_column : str or None
        Column with each row's start in its file (``start_time`` for windows).
    notes : list of str
        Things worth saying about the table (printed by the command line).
    """

    df: pd.DataFrame
    y_true: np.ndarray
    classes: list[str]
    kind: str
    filename_column: str
    offset_column: str | None = None
    notes: list[str] = field(default_factory=list)


def _check_classes(requested: Sequence[str] | None, model: list[str]) -> list[str] | None:
    if not requested:
        return None
    for name in requested:
        if str(name) not in model:
            raise LabelError(_unknown_class_error("class", str(name), model))
    chosen = {str(c) for c in requested}
    return [c for c in model if c in chosen]


def _header(path: Path) -> set[str]:
    """The column names of a CSV; empty when it cannot be read (its reader says why)."""
    if not path.is_file():
        return set()
    try:
        header = pd.read_csv(path, nrows=0, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError):
        return set()
    return {str(c).strip() for c in header.columns}


def read_labeled_rows(
    path: str | os.PathLike,
    class_names: Sequence[str],
    label_column: str | None = None,
    mapping: Mapping[str, str] | None = None,
    classes: Sequence[str] | None = None,
    filename_column: str = "filename",
) -> LabeledRows:
    """Read a clip table or a window table against a model's classes.

    A table whose header has ``file, start_time, end_time`` is a window table
    (:func:`~woodcock_widgets.tables.windows.read_window_table`): each other column is a
    class, 0/1, and must be a class of the model. Any other table is a clip table
    (``filename_column`` plus a class column): its values, after ``mapping``, must be the
    model's class names; the ``NumericLabels`` column holds codes instead.

    Parameters
    ----------
    path : str or path-like
        The CSV (audio paths relative to its folder, or absolute).
    class_names : sequence of str
        The model's classes, in output order.
    label_column : str, optional
        The class column of a clip table. Default: ``NumericLabels`` where the table has it
        (a run folder's ``valid.csv``), else ``woodcock``. Not for window tables.
    mapping : mapping, optional
        Value → class name, applied to ``label_column`` first (values it does not cover
        are kept). Not for window tables.
    classes : sequence of str, optional
        Evaluate only these classes of the model. Default: every class (clip table) or every
        class column (window table).
    filename_column : str
        The audio path column of a clip table.

    Returns
    -------
    LabeledRows

    Raises
    ------
    LabelError
        A missing file or column, an empty label, a label or class column that is not a
        class of the model (naming it, with the closest class, and listing the classes), a
        code out of range, a requested class the window table has no column for.
    """
    from ..tables.labels import check_label_column, read_labels, remap_labels

    path = Path(path)
    model = [str(c) for c in class_names]
    chosen = _check_classes(classes, model)
    if set(_WINDOW_COLUMNS) <= _header(path):
        if label_column is not None or mapping:
            raise LabelError(
                f"{path} is a window table ({', '.join(_WINDOW_COLUMNS)} + one 0/1 column per "
                "class): a label column or mapping does not apply to it"
            )
        from ..tables.windows import read_window_table

        df = read_window_table(path)
        if df.empty:
            raise LabelError(f"window table has a header but no rows: {path}")
        columns = [c for c in df.columns if c not in _WINDOW_COLUMNS]
        notes = []
        if chosen is None:
            for c in columns:
                if c not in model:
                    raise LabelError(
                        _unknown_class_error(
                            f"{path}: class column",
                            c,
                            model,
                            hint=". Choose the classes to evaluate to leave it out (--classes).",
                        )
                    )
            chosen = [c for c in model if c in columns]
            missing = [c for c in model if c not in columns]
            if missing:
                notes.append(f"not evaluated (no column in the table): {', '.join(missing)}")
        else:
            absent = [c for c in chosen if c not in columns]
            if absent:
                raise LabelError(
                    f"{path} has no column for class(es) {absent}; its class columns are {columns}"
                )
        y = df[chosen].to_numpy(dtype=np.int64).astype(bool)
        return LabeledRows(df, y, chosen, "windows", "file", "start_time", notes)

    if label_column is None:
        label_column = CODE_COLUMN if CODE_COLUMN in _header(path) else "woodcock"
    df = read_labels(path, required_columns=(filename_column,), filename_column=filename_column)
    if label_column not in df.columns:
        raise LabelError(
            f"label table {path} has no column {label_column!r}; it has {list(df.columns)} "
            "(choose the class column)"
        )
    check_label_column(df, label_column, source=f"label table {path}")
    df = df.reset_index(drop=True)
    if label_column == CODE_COLUMN and not mapping:
        codes = pd.to_numeric(df[label_column], errors="coerce").to_numpy(float)
        bad = np.flatnonzero(~np.isfinite(codes) | (codes < 0) | (codes >= len(model)))
        bad = np.union1d(bad, np.flatnonzero(np.isfinite(codes) & (codes != np.round(codes))))
        if len(bad):
            raise LabelError(
                f"label table {path}, column {label_column!r}: code(s) "
                f"{sorted(set(df[label_column].astype(str).iloc[bad]))} are not codes "
                f"0..{len(model) - 1} of the model's classes (line(s) {_lines(bad)})"
            )
        code = codes.astype(int)
    else:
        column = label_column
        if mapping:
            column = f"{label_column}_class"
            df = remap_labels(df, label_column, mapping, column, unmapped="keep")
        text = df[column].astype(str).str.strip()
        index = {c: i for i, c in enumerate(model)}
        unknown = sorted(set(text) - set(index))
        if unknown:
            first = unknown[0]
            where = _lines(np.flatnonzero((text == first).to_numpy()))
            others = f" Other labels that are not classes: {unknown[1:]}." if unknown[1:] else ""
            raise LabelError(
                _unknown_class_error(
                    f"label table {path}, column {label_column!r}, line(s) {where}: label",
                    first,
                    model,
                )
                + f".{others} Map table values to classes with VALUE=CLASS (--map)."
            )
        code = np.array([index[t] for t in text], dtype=int)
    y = np.eye(len(model), dtype=bool)[code].reshape(len(code), len(model))
    chosen = model if chosen is None else chosen
    y = y[:, [model.index(c) for c in chosen]]
    return LabeledRows(df, y, chosen, "clips", filename_column, None, [])


# ------------------------------------------------------------------------- scoring
def score_table(
    bundle,
    df: pd.DataFrame,
    filename_column: str = "filename",
    offset_column: str | None = None,
    batch_size: int = 32,
    device: str = "cpu",
    precision: str = "fp32",
) -> np.ndarray:
    """Scores ``(n, n_classes)`` of the rows of a table, the way validation scores them.

    A CNN bundle reads each row's clip (``clip_seconds`` from ``offset_column``, or from the
    start) through :class:`~woodcock_widgets.ml.datasets.AudioClipDataset` and scores it
    with :func:`~woodcock_widgets.ml.predict.score_batches` (as
    :func:`~woodcock_widgets.ml.review.score_clips` does); an embedding bundle uses its own
    ``score_clips`` (a row is ``start_time`` to ``end_time`` where the table has them).

    Parameters
    ----------
    bundle : ModelBundle
        The model.
    df : pandas.DataFrame
        Rows with audio paths (absolute, or relative to the working folder).
    filename_column : str
        The audio path column.
    offset_column : str, optional
        Start of each row's clip in its file, in seconds.
    batch_size : int
        Clips per forward pass.
    device : str
        Where to run the model.
    precision : {"auto", "fp32", "bf16", "fp16"}
        Autocast precision; float32 by default, so the scores are exact.

    Raises
    ------
    AudioLoadError
        An unreadable clip (naming its row and file).
    """
    if hasattr(bundle, "score_clips"):  # EmbeddingBundle: embedder + shallow head
        return np.asarray(bundle.score_clips(df, filename_column, batch_size), dtype=np.float32)
    from .datasets import AudioClipDataset
    from .predict import score_batches

    ds = AudioClipDataset(
        df,
        label_dict=bundle.label_dict,
        label_column=None,
        filename_column=filename_column,
        preprocessing=bundle.preprocessing,
        cache=False,
        offset_column=offset_column,
    )
    step = max(int(batch_size), 1)

    def batches(channels_last: bool):
        for start in range(0, len(ds), step):
            yield ds.batch(range(start, min(start + step, len(ds))), channels_last)[0]

    return score_batches(bundle, batches, device, precision)


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
