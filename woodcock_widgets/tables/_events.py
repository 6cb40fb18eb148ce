"""The events table every annotation reader returns, and the parsing helpers they share.

See :mod:`woodcock_widgets.tables.annotations` for the readers and the table's columns.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from pathlib import Path

import pandas as pd

from woodcock_widgets.errors import AnnotationError

EVENT_COLUMNS = ["file", "start_time", "end_time", "label", "low_freq", "high_freq"]
EVENT_COLUMNS += ["source_file", "source_row"]
_DTYPES = dict(zip(EVENT_COLUMNS, [object, float, float, object, float, float, object, "int64"]))
_EMPTY_LABELS = ("warn", "drop", "error")


def _warn(message: str) -> None:
    """A UserWarning attributed to the first caller outside this package (the user's code)."""
    package = os.path.join(str(Path(__file__).resolve().parents[1]), "")
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, UserWarning, stacklevel=level)


def _read_lines(path: Path) -> list[str]:
    """The lines of a text file (UTF-8 with or without BOM, else Latin-1), no line ends."""
    if not path.is_file():
        raise AnnotationError(f"annotation file not found: {path}")
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError:
        return data.decode("latin-1").splitlines()


def _number(value, path, row: int, column: str, optional: bool = False) -> float:
    text = "" if value is None else str(value).strip()
    if optional and not text:
        return math.nan
    try:
        x = float(text)
    except ValueError:
        x = math.nan
    if not math.isfinite(x):
        raise AnnotationError(f"{path}, row {row}, column {column!r}: not a number: {value!r}")
    return x


def _check_times(start: float, end: float, path, row: int) -> None:
    if start < 0:
        raise AnnotationError(f"{path}, row {row}: start time {start} s is negative")
    if end < start:
        raise AnnotationError(f"{path}, row {row}: end time {end} s is before start time {start} s")


class _Events:
    """Collects event rows of one source file; empty labels handled by the chosen policy."""

    def __init__(self, path: Path, label_column: str, empty_labels: str):
        if empty_labels not in _EMPTY_LABELS:
            raise AnnotationError(f"empty_labels must be one of {_EMPTY_LABELS}: {empty_labels!r}")
        self.path, self.column, self.policy = path, label_column, empty_labels
        self.rows: list[tuple] = []
        self.empty: list[int] = []

    def add(self, row: int, file, start, end, label: str, low=math.nan, high=math.nan) -> None:
        _check_times(start, end, self.path, row)
        if not label:
            if self.policy == "error":
                raise AnnotationError(f"{self.path}, row {row}: empty label ({self.column!r})")
            self.empty.append(row)
            return
        self.rows.append((file, start, end, label, low, high, str(self.path), row))

    def frame(self, annotated) -> pd.DataFrame:
        if self.empty and self.policy == "warn":
            _warn(
                f"{self.path}: skipped {len(self.empty)} event(s) with an empty label "
                f"({self.column!r}) at row(s) {self.empty[:10]}"
            )
        return _frame(self.rows, annotated)


def _frame(rows: list[tuple], annotated) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=EVENT_COLUMNS).astype(_DTYPES)
    df.attrs["annotated_files"] = list(dict.fromkeys(annotated))
    return df


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    annotated = [f for df in frames for f in df.attrs.get("annotated_files", [])]
    frames = [df for df in frames if len(df)]
    df = pd.concat(frames, ignore_index=True) if frames else _frame([], [])
    df.attrs = {"annotated_files": list(dict.fromkeys(annotated))}
    return df
