"""A labeled table read against a model's classes, for evaluation (:func:`read_labeled_rows`).

A clip table (one class per row, by name or by code) or a window table (one 0/1 column per
class) becomes :class:`LabeledRows`: the rows and a bool label matrix over the classes
evaluated. Every label is checked against the model's classes first; an error names the file,
the column, the CSV line and the closest class (:func:`suggest_class`).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import LabelError
from ..tables.labeled import CODE_COLUMN

__all__ = ["LabeledRows", "read_labeled_rows", "suggest_class"]

#: Columns that make a label table a window table (:mod:`woodcock_widgets.tables.windows`).
_WINDOW_COLUMNS = ("file", "start_time", "end_time")


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
