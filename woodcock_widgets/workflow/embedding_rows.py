"""A label table brought to one shape for embedding training: rows, classes, targets, split.

:func:`as_rows` reads a clip table (:class:`~woodcock_widgets.tables.labeled.LabeledTable`)
or a window table (``file, start_time, end_time`` and one 0/1 column per class) into
:class:`Rows`; :func:`split_rows` splits it (or takes a given split); :func:`window_table`
and :func:`targets` give what the embedder and the head need of each part.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import SplitError, TrainingError
from ..tables.labeled import CODE_COLUMN, LabeledTable
from ..tables.splits import split_train_valid
from ..tables.windows import WINDOW_COLUMNS, read_window_table

__all__ = ["Rows", "as_rows", "window_table", "targets", "split_rows", "clean"]

_STRATUM = "_stratum"


@dataclass
class Rows:
    """A label table brought to one shape: rows, classes and how to read them."""

    df: pd.DataFrame  # the rows, with a stratum column for the split
    kind: str  # "clips" or "windows"
    classes: list[str]
    multi_label: bool
    class_column: str | None
    file_column: str


def as_rows(table, classes, multi_label, filename_column: str) -> Rows:
    if isinstance(table, str | os.PathLike):
        table = read_window_table(table)
    if isinstance(table, LabeledTable):
        return _clip_rows(table, classes, multi_label, filename_column)
    if isinstance(table, pd.DataFrame):
        missing = [c for c in WINDOW_COLUMNS if c not in table.columns]
        if missing:
            raise TrainingError(
                f"a label table must be a LabeledTable (prepare_labels) or a window table "
                f"with columns {WINDOW_COLUMNS}; this one lacks {missing}"
            )
        return _window_rows(table, classes, multi_label)
    raise TrainingError(
        f"cannot train on a {type(table).__name__}: give a LabeledTable (prepare_labels), a "
        "window table (make_windows / read_window_table) or a window-table CSV path"
    )


def _clip_rows(table: LabeledTable, classes, multi_label, filename_column: str) -> Rows:
    if multi_label:
        raise TrainingError(
            "a clip table has one class per clip (single-label); use a window table with "
            "one 0/1 column per class for multi-label training"
        )
    df = table.df.copy()
    for col in (filename_column, CODE_COLUMN):
        if col not in df.columns:
            raise TrainingError(f"the label table lacks column {col!r}")
    names = {int(k): str(v) for k, v in table.label_dict.items()}
    df[_STRATUM] = [names[int(c)] for c in df[CODE_COLUMN]]
    if classes is None:
        classes = [names[k] for k in sorted(names)]
    else:
        classes = [str(c) for c in classes]
        unknown = sorted(set(classes) - set(names.values()))
        if unknown:
            raise TrainingError(f"classes {unknown} are not in the table ({list(names.values())})")
        df = df[df[_STRATUM].isin(classes)].copy()
        order = {c: i for i, c in enumerate(classes)}
        df[CODE_COLUMN] = df[_STRATUM].map(order).astype(int)
    return Rows(df, "clips", classes, False, table.class_column, filename_column)


def _window_rows(table: pd.DataFrame, classes, multi_label) -> Rows:
    df = table.copy()
    if classes is None:
        classes = [c for c in df.columns if c not in WINDOW_COLUMNS and c != _STRATUM]
    classes = [str(c) for c in classes]
    missing = [c for c in classes if c not in df.columns]
    if missing or not classes:
        raise TrainingError(f"the window table has no class column(s) {missing or classes}")
    values = df[classes].to_numpy()
    if not np.isin(values, (0, 1)).all():
        raise TrainingError("class columns of a window table must hold 0 or 1")
    y = values.astype(np.int64)
    one = (y.sum(axis=1) == 1).all()
    if multi_label is None:
        multi_label = not one
    if not multi_label and not one:
        raise TrainingError(
            "single-label training needs exactly one class per window, but some windows have "
            "none or several: train multi-label (multi_label=True) or add a class column "
            "for the windows without a sound"
        )
    if multi_label:
        df[_STRATUM] = ["+".join(c for c, v in zip(classes, row) if v) or "none" for row in y]
    else:
        df[_STRATUM] = np.asarray(classes)[y.argmax(axis=1)]
    return Rows(df, "windows", classes, bool(multi_label), None, "file")


def window_table(rows: Rows, part: pd.DataFrame) -> pd.DataFrame:
    """``file, start_time, end_time`` of each row of ``part``."""
    from ..audio.clip import audio_info

    files = [str(f) for f in part[rows.file_column]]
    if {"start_time", "end_time"} <= set(part.columns):
        starts = part["start_time"].to_numpy(float)
        ends = part["end_time"].to_numpy(float)
    else:
        starts = np.zeros(len(files))
        infos = [audio_info(f) for f in files]
        ends = np.array([i.frames / i.samplerate if i.samplerate else 0.0 for i in infos])
    return pd.DataFrame({"file": files, "start_time": starts, "end_time": ends})


def targets(rows: Rows, part: pd.DataFrame) -> np.ndarray:
    """Single-label: codes ``(n,)``; multi-label: the 0/1 matrix ``(n, k)``."""
    if rows.multi_label:
        return part[rows.classes].to_numpy().astype(np.int64)
    if rows.kind == "clips":
        return part[CODE_COLUMN].to_numpy().astype(np.int64)
    return part[rows.classes].to_numpy().astype(np.int64).argmax(axis=1)


def split_rows(rows: Rows, split, train_fraction: float, seed: int, group_column):
    if split is not None:
        train, valid = split
        train, valid = train.copy(), valid.copy()
        for part in (train, valid):
            # the split's own codes, where it has them (the class column may hold the values
            # before the label dictionary named them, e.g. "present" for "...-present")
            if rows.kind == "clips" and CODE_COLUMN in part.columns:
                continue
            if rows.kind == "clips" and rows.class_column in part.columns:
                names = part[rows.class_column].astype(str)
                unknown = sorted(set(names) - set(rows.classes))
                if unknown:
                    raise TrainingError(f"the given split has classes {unknown} not in the table")
                part[CODE_COLUMN] = names.map({c: i for i, c in enumerate(rows.classes)})
        if rows.kind == "windows":
            train = _window_rows(train, rows.classes, rows.multi_label).df
            valid = _window_rows(valid, rows.classes, rows.multi_label).df
        return train, valid, []
    kw = dict(seed=seed, group_column=group_column or None, filename_column=rows.file_column)
    try:
        result = split_train_valid(rows.df, _STRATUM, train_fraction, **kw)
    except SplitError:
        if not rows.multi_label:
            raise
        # rare combinations of classes cannot be stratified; split without stratifying
        result = split_train_valid(rows.df, _STRATUM, train_fraction, stratify=False, **kw)
    return result.train, result.valid, list(result.warnings)


def clean(part: pd.DataFrame) -> pd.DataFrame:
    return part.drop(columns=[_STRATUM], errors="ignore")
