"""A window table made ready for training: classes, targets and single- or multi-label.

A *window table* (:mod:`woodcock_widgets.tables.windows`) has ``file, start_time, end_time``
and one 0/1 column per class. :func:`prepare_windows` turns one into a
:class:`WindowLabels`, the :class:`~woodcock_widgets.tables.labeled.LabeledTable` of windows
that :func:`~woodcock_widgets.workflow.pipeline.new_trainer` takes:

* **single-target** when every window holds exactly one of the chosen classes: the
  ``window_classes`` column names it and ``NumericLabels`` holds its code (the clip tables'
  softmax path, unchanged);
* **multi-label** otherwise (a window may hold several classes, or none): one sigmoid per
  class, trained on the 0/1 columns themselves; ``window_classes`` lists a window's classes
  joined by ``+`` (``none`` for an empty window), for reading and for the split.

The choice is read from the table and can be overridden (``multi_label=True`` trains a
one-class-per-window table with sigmoids; ``multi_label=False`` on a table with empty or
crowded windows is an error that names them). Pure pandas, no torch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..errors import LabelError
from .labeled import CODE_COLUMN, LabeledTable
from .windows import WINDOW_CLASS_COLUMN, WINDOW_COLUMNS, read_window_table

__all__ = ["WINDOW_CLASS_COLUMN", "WindowLabels", "prepare_windows", "is_window_table"]

#: Columns a prepared table adds; never class columns when a table is read back.
_ADDED = (WINDOW_CLASS_COLUMN, CODE_COLUMN)


@dataclass(frozen=True)
class WindowLabels(LabeledTable):
    """A window table ready for training (see the module docstring).

    Attributes
    ----------
    df : pandas.DataFrame
        ``file`` (absolute paths), ``start_time``, ``end_time``, one 0/1 column per class,
        ``window_classes`` and, single-target only, ``NumericLabels``.
    class_column : str
        ``window_classes``.
    label_dict : dict of int to str
        Output index → class name, in the order of :attr:`classes`.
    classes : tuple of str
        The class columns trained on, in output order.
    multi_label : bool
        One sigmoid per class (``True``) or one softmax over the classes.
    filename_column : str
        ``file``.
    offset_column : str
        ``start_time``: where each window starts in its file.
    """

    classes: tuple[str, ...] = ()
    multi_label: bool = False
    filename_column: str = "file"
    offset_column: str = "start_time"

    @property
    def target_columns(self) -> list[str]:
        """The 0/1 class columns, in output order."""
        return list(self.classes)

    def targets(self) -> np.ndarray:
        """The ``(n, n_classes)`` 0/1 matrix of the windows."""
        return self.df[list(self.classes)].to_numpy(dtype=np.int64)

    def window_seconds(self) -> float:
        """The median window length (s)."""
        lengths = (self.df["end_time"] - self.df["start_time"]).to_numpy(float)
        return float(np.median(lengths)) if len(lengths) else float("nan")

    def with_frame(self, df: pd.DataFrame) -> WindowLabels:
        """The same classes and mode over other rows (e.g. a corrected or filtered copy)."""
        return replace(self, df=df)


def is_window_table(table) -> bool:
    """Whether ``table`` (a LabeledTable or a DataFrame) holds windows rather than clips."""
    if isinstance(table, WindowLabels):
        return True
    if isinstance(table, LabeledTable):
        return False
    return isinstance(table, pd.DataFrame) and set(WINDOW_COLUMNS) <= set(table.columns)


def _class_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c not in WINDOW_COLUMNS and c not in _ADDED]


def prepare_windows(
    windows: str | os.PathLike | pd.DataFrame,
    classes: Sequence[str] | None = None,
    multi_label: bool | None = None,
) -> WindowLabels:
    """Read (or take) a window table and make it a :class:`WindowLabels` for training.

    Parameters
    ----------
    windows : path or pandas.DataFrame
        A window-table CSV (``file`` relative to its folder, see
        :func:`~woodcock_widgets.tables.windows.read_window_table`) or a window table.
    classes : sequence of str, optional
        The class columns to train on, in output order; default: every class column. A
        window none of them covers is a negative of every class.
    multi_label : bool, optional
        ``None``: multi-label iff some window has a number of positives other than one;
        ``True``: multi-label anyway; ``False``: single-target (every window must hold
        exactly one class).

    Returns
    -------
    WindowLabels

    Raises
    ------
    LabelError
        A missing column, a class that is not a column (listing the columns), a value other
        than 0/1, fewer than two classes for single-target training, single-target asked of
        windows with no class or several (naming a few rows), no rows.
    """
    if isinstance(windows, pd.DataFrame):
        df = windows.copy()
        missing = [c for c in WINDOW_COLUMNS if c not in df.columns]
        if missing:
            raise LabelError(
                f"a window table needs columns {WINDOW_COLUMNS}; this one lacks {missing}"
            )
        source = "window table"
    else:
        df = read_window_table(windows)
        source = f"window table {windows}"
    if df.empty:
        raise LabelError(f"{source} has no rows")
    columns = _class_columns(df)
    if classes is None:
        chosen = columns
    else:
        chosen = [str(c) for c in classes]
        unknown = [c for c in chosen if c not in columns]
        if unknown:
            raise LabelError(
                f"class(es) {unknown} are not columns of the {source}; its class columns "
                f"are {columns}"
            )
        if len(set(chosen)) != len(chosen):
            raise LabelError(f"classes are listed twice: {chosen}")
    if not chosen:
        raise LabelError(f"{source} has no class column after {WINDOW_COLUMNS}")
    values = df[chosen].to_numpy()
    if not np.isin(values, (0, 1)).all():
        bad = [c for c in chosen if not df[c].isin((0, 1)).all()]
        raise LabelError(f"{source}: class column(s) {bad} must hold 0 or 1")
    y = values.astype(np.int64)
    per_row = y.sum(axis=1)
    single = bool((per_row == 1).all())
    if multi_label is None:
        multi_label = not single
    if not multi_label:
        if not single:
            rows = [int(i) + 2 for i in np.flatnonzero(per_row != 1)[:5]]
            n_bad = int((per_row != 1).sum())
            raise LabelError(
                f"single-target training needs exactly one class per window, but {n_bad} "
                f"window(s) of the {source} have none or several (CSV line(s) {rows}): train "
                "multi-label, or add a class column for the windows without a sound"
            )
        if len(chosen) < 2:
            raise LabelError(f"single-target training needs two classes or more, got {chosen}")
    df = df[[*WINDOW_COLUMNS, *chosen]].copy()
    df[chosen] = y
    names = np.asarray(chosen, dtype=object)
    if multi_label:
        df[WINDOW_CLASS_COLUMN] = ["+".join(names[row.astype(bool)]) or "none" for row in y]
    else:
        df[WINDOW_CLASS_COLUMN] = names[y.argmax(axis=1)]
        df[CODE_COLUMN] = y.argmax(axis=1).astype(np.int64)
    df = df.reset_index(drop=True)
    label_dict = dict(enumerate(chosen))
    return WindowLabels(df, WINDOW_CLASS_COLUMN, label_dict, tuple(chosen), bool(multi_label))
