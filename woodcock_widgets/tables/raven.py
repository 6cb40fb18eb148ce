"""Raven Pro selection tables: write detections, read tables back, clip labels from them.

Reading a folder of real exports (duplicate view rows, several files per table, label
columns by name) is :mod:`.annotations`' job; this module is the export side and the
simple one-table reader the prediction round trip uses.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import LabelError
from ..io_utils import atomic_write_text
from .grid import clip_windows

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
    """Read a Raven Pro selection table.

    Raises
    ------
    LabelError
        Missing file or missing Raven columns (named).
    """
    path = Path(path)
    if not path.is_file():
        raise LabelError(f"Raven table not found: {path}")
    try:
        table = pd.read_csv(path, sep="\t", encoding="utf-8-sig")
    except pd.errors.EmptyDataError as exc:
        raise LabelError(f"Raven table is empty: {path}") from exc
    # Raven writes a trailing tab, which pandas reads as an empty "Unnamed" column
    table = table.loc[:, [c for c in table.columns if not str(c).startswith("Unnamed:")]]
    missing = [c for c in ("Begin Time (s)", "End Time (s)") if c not in table.columns]
    if missing:
        raise LabelError(f"{path} is not a Raven selection table: missing column(s) {missing}")
    return table


def raven_to_clip_labels(
    table: pd.DataFrame,
    duration: float,
    clip_seconds: float,
    annotation_column: str = "Annotation",
    overlap: float = 0.0,
    min_overlap: float = 0.25,
) -> pd.DataFrame:
    """Turn Raven selections into clip labels: one row per window, one 0/1 column per class.

    A window is labeled with a class when a selection of that class covers at least
    ``min_overlap`` seconds of it (or the whole selection, if shorter).
    """
    if annotation_column not in table.columns:
        raise LabelError(
            f"Raven table has no column {annotation_column!r}; it has {list(table.columns)}"
        )
    classes = sorted({str(v) for v in table[annotation_column].dropna()})
    rows = []
    for s, e in clip_windows(duration, clip_seconds, overlap):
        row = {"start_time": s, "end_time": e}
        for c in classes:
            sel = table[table[annotation_column].astype(str) == c]
            inter = np.minimum(sel["End Time (s)"], e) - np.maximum(sel["Begin Time (s)"], s)
            need = np.minimum(min_overlap, sel["End Time (s)"] - sel["Begin Time (s)"])
            row[c] = int(bool(((inter >= need) & (inter > 0)).any()))
        rows.append(row)
    return pd.DataFrame(rows, columns=["start_time", "end_time", *classes])
