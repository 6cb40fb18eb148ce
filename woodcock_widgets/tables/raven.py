"""Raven Pro selection tables: write detections, read tables back, clip labels from them.

This module is the export side. Reading is :mod:`.annotations`' job (a folder of real
exports, duplicate view rows, several files per table, label columns by name) and labelling
windows is :mod:`.windows`'; :func:`read_raven_table` and :func:`raven_to_clip_labels` are
thin calls of those readers, kept for the prediction round trip and older code.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import LabelError
from ..io_utils import atomic_write_text
from .annotations import read_raven_selections
from .grid import clip_windows
from .windows import make_windows

__all__ = [
    "RAVEN_COLUMNS",
    "to_raven_table",
    "write_raven_table",
    "read_raven_table",
    "raven_to_clip_labels",
]

RAVEN_COLUMNS = [
    "Selection",
    "View",
    "Channel",
    "Begin Time (s)",
    "End Time (s)",
    "Low Freq (Hz)",
    "High Freq (Hz)",
]


def to_raven_table(
    dets: pd.DataFrame,
    low_freq: float = 0.0,
    high_freq: float | None = None,
    annotation_column: str = "Annotation",
) -> pd.DataFrame:
    """Detections (``start_time, end_time[, annotation, score]``) as a Raven selection table."""
    n = len(dets)
    high = high_freq if high_freq is not None else 11025.0
    table = pd.DataFrame(
        {
            "Selection": np.arange(1, n + 1),
            "View": ["Spectrogram 1"] * n,
            "Channel": [1] * n,
            "Begin Time (s)": dets["start_time"].to_numpy(float) if n else [],
            "End Time (s)": dets["end_time"].to_numpy(float) if n else [],
            "Low Freq (Hz)": [float(low_freq)] * n,
            "High Freq (Hz)": [float(high)] * n,
            annotation_column: (
                dets["annotation"].astype(str).to_numpy()
                if "annotation" in dets.columns
                else [""] * n
            ),
        }
    )
    if "score" in dets.columns:
        table["Score"] = dets["score"].to_numpy(float)
    return table


def write_raven_table(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a Raven Pro selection table (tab-separated, ``.txt``) atomically."""
    return atomic_write_text(path, table.to_csv(sep="\t", index=False, lineterminator="\n"))


def read_raven_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a Raven Pro selection table as it is (its own columns, numbers typed).

    A thin call of :func:`~woodcock_widgets.tables.annotations.read_raven_selections`; for
    the events of real exports use :func:`~woodcock_widgets.tables.annotations.read_raven`.

    Raises
    ------
    LabelError
        Missing or empty file, or missing Raven columns (named); an
        :class:`~woodcock_widgets.errors.AnnotationError`.
    """
    return read_raven_selections(path)


def raven_to_clip_labels(
    table: pd.DataFrame,
    duration: float,
    clip_seconds: float,
    annotation_column: str = "Annotation",
    overlap: float = 0.0,
    min_overlap: float = 0.25,
) -> pd.DataFrame:
    """Turn Raven selections into clip labels: one row per window, one 0/1 column per class.

    The windows are the prediction grid (:func:`~woodcock_widgets.tables.grid.clip_windows`,
    the last one padded past the end). A window is labeled with a class when a selection of
    that class covers at least ``min_overlap`` seconds of it, or the whole selection if it
    is shorter: :func:`~woodcock_widgets.tables.windows.make_windows` with ``min_overlap``
    for the longer selections and ``min_fraction=1`` for the shorter ones.
    """
    if annotation_column not in table.columns:
        raise LabelError(
            f"Raven table has no column {annotation_column!r}; it has {list(table.columns)}"
        )
    classes = sorted({str(v) for v in table[annotation_column].dropna()})
    grid = clip_windows(duration, clip_seconds, overlap)
    start, end = table["Begin Time (s)"].astype(float), table["End Time (s)"].astype(float)
    events = pd.DataFrame(
        {
            "file": "recording",
            "start_time": start,
            "end_time": end,
            "label": table[annotation_column],
        }
    )[end > start]  # a selection of no length covers nothing
    # the grid as make_windows cuts it: full windows of a recording ending at the last one
    step = float(clip_seconds) - float(overlap)
    recording = [("recording", (len(grid) - 1) * step + float(clip_seconds))]
    short = (events["end_time"] - events["start_time"]) < float(min_overlap)
    labels = np.zeros((len(grid), len(classes)), dtype=np.int64)
    with warnings.catch_warnings():  # a class without windows here is no news
        warnings.simplefilter("ignore")
        for part, rule in ((events[~short], {"min_overlap": min_overlap}),
                           (events[short], {"min_fraction": 1.0})):  # fmt: skip
            windows = make_windows(recording, part, clip_seconds, step, classes=classes, **rule)
            labels |= windows[classes].to_numpy(dtype=np.int64)
    out = pd.DataFrame(labels, columns=classes)
    out.insert(0, "end_time", [e for _, e in grid])
    out.insert(0, "start_time", [s for s, _ in grid])
    return out
