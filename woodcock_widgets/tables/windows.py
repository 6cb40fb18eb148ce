"""Fixed-length windows over annotated recordings, with one 0/1 label column per class.

A *window table* is a pandas DataFrame ``file, start_time, end_time`` plus one integer 0/1
column per class; ``file`` is the recording's audio path. It is what :func:`make_windows`
returns, and what :func:`write_window_table` / :func:`read_window_table` store as CSV.

Labelling rule (:func:`make_windows`): a window ``[s, s + clip)`` is positive for a class when
an event ``[a, b]`` of that class overlaps it by ``o = min(b, s + clip) - max(a, s) > 0``
seconds with ``o >= min_overlap`` and, when ``min_fraction`` is given,
``o >= min_fraction * min(b - a, clip)``: the fraction is of the event, capped at the window,
so a call longer than the window counts when it covers that fraction of the window. An event
of zero length counts when it lies in the window (and ``min_overlap`` is 0).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from woodcock_widgets.errors import AnnotationError
from woodcock_widgets.io_utils import atomic_write_csv
from woodcock_widgets.tables.annotations import _warn

__all__ = [
    "WINDOW_COLUMNS",
    "WINDOW_CLASS_COLUMN",
    "make_windows",
    "write_window_table",
    "read_window_table",
]
__all__ += ["class_counts"]

WINDOW_COLUMNS = ["file", "start_time", "end_time"]
#: Column a prepared window table adds (:mod:`~woodcock_widgets.tables.labeled_windows`):
#: each window's class names, e.g. ``song+call``. Never a class column when read back.
WINDOW_CLASS_COLUMN = "window_classes"
_EPS = 1e-9


def _recordings(recordings) -> list[tuple[str, float]]:
    """(path, duration) pairs from a MatchReport, a DataFrame or a list of pairs."""
    recordings = getattr(recordings, "recordings", recordings)
    if isinstance(recordings, pd.DataFrame):
        key = "path" if "path" in recordings.columns else "file"
        missing = [c for c in (key, "duration") if c not in recordings.columns]
        if missing:
            raise AnnotationError(f"recordings table lacks column(s) {missing}")
        pairs = list(zip(recordings[key], recordings["duration"]))
    else:
        pairs = [tuple(r) for r in recordings]
    out = []
    for i, pair in enumerate(pairs, start=1):
        if len(pair) != 2:
            raise AnnotationError(f"recording {i}: expected (path, duration), got {pair!r}")
        path, duration = str(pair[0]), float(pair[1])
        if not math.isfinite(duration) or duration <= 0:
            raise AnnotationError(f"{path}: duration {pair[1]!r} is not a positive number")
        out.append((path, duration))
    dupes = pd.Series([p for p, _ in out]).duplicated()
    if dupes.any():
        raise AnnotationError(f"recording listed twice: {out[int(np.argmax(dupes))][0]}")
    return out


def _per_class(value, classes: list[str], name: str, default):
    """A per-class dict from one value or a (partial) dict; unknown classes are an error."""
    if not isinstance(value, dict):
        return dict.fromkeys(classes, value)
    unknown = sorted(set(value) - set(classes))
    if unknown:
        raise AnnotationError(f"{name} names classes that are not in the labels: {unknown}")
    return {c: value.get(c, default) for c in classes}


def _starts(duration: float, clip: float, step: float) -> np.ndarray:
    n = int(math.floor((duration - clip) / step + _EPS)) + 1
    return np.round(np.arange(n) * step, 9)


def make_windows(
    recordings,
    events: pd.DataFrame,
    clip_seconds: float = 2.0,
    step: float | None = None,
    min_overlap=0.0,
    min_fraction=None,
    classes=None,
    pad_short: bool = False,
) -> pd.DataFrame:
    """Cut annotated recordings into windows and label each window for each class.

    Parameters
    ----------
    recordings : MatchReport, pandas.DataFrame or list of (path, duration)
        The annotated recordings (a DataFrame with ``path`` or ``file``, and ``duration``;
        a :class:`~woodcock_widgets.tables.matching.MatchReport` gives its
        ``recordings``). Every window of these recordings that no event touches is a
        negative (all 0); recordings not listed get no windows.
    events : pandas.DataFrame
        Events (``start_time, end_time, label`` and ``path`` or ``file`` naming a recording
        of ``recordings``).
    clip_seconds : float
        Window length in seconds.
    step : float, optional
        Seconds between window starts; by default ``clip_seconds`` (no overlap). Only full
        windows are made: the last one ends at or before the end of the recording.
    min_overlap : float or dict
        Least overlap, in seconds, of an event with a window (per class with a dict; classes
        not in it get 0).
    min_fraction : float or dict, optional
        Least overlap as a fraction of the event's length, capped at the window's length (see
        the module docstring); per class with a dict (classes not in it have none).
    classes : list of str, optional
        The class columns, in order; by default the sorted labels of ``events``. Events of
        other labels are ignored.
    pad_short : bool
        Give a recording shorter than one window a single window ``[0, clip_seconds)``
        (the audio loader pads it) instead of raising.

    Returns
    -------
    pandas.DataFrame
        ``file, start_time, end_time`` and one int 0/1 column per class, in recording order
        then time. A class with no positive window still has its column, and a warning names
        it.

    Raises
    ------
    AnnotationError
        A recording shorter than one window (without ``pad_short``), an event of a recording
        not in ``recordings`` (naming its table and row), bad parameters.
    """
    clip = float(clip_seconds)
    step = clip if step is None else float(step)
    if not clip > 0 or not step > 0:
        raise AnnotationError(f"clip_seconds and step must be positive: {clip_seconds}, {step}")
    recs = _recordings(recordings)
    key = "path" if "path" in events.columns else "file"
    missing = [c for c in (key, "start_time", "end_time", "label") if c not in events.columns]
    if missing:
        raise AnnotationError(f"events lack column(s) {missing}")
    labels = events["label"].astype(str)
    classes = sorted(labels.unique()) if classes is None else [str(c) for c in classes]
    clash = sorted(set(classes) & set(WINDOW_COLUMNS)) or [c for c in classes if not c]
    if clash or len(set(classes)) != len(classes):
        raise AnnotationError(f"class names must be unique and not {WINDOW_COLUMNS}: {classes}")
    overlap = _per_class(min_overlap, classes, "min_overlap", 0.0)
    fraction = _per_class(min_fraction, classes, "min_fraction", None)
    known = {p for p, _ in recs}
    stray = events[~events[key].astype(str).isin(known)]
    if len(stray):
        r = stray.iloc[0]
        where = f"{r['source_file']}, row {r['source_row']}" if "source_row" in r else "events"
        raise AnnotationError(
            f"{where}: event of recording {r[key]!r}, which is not in the recordings given "
            f"({len(stray)} such event(s))"
        )
    code = pd.Index(classes).get_indexer(labels)  # -1: a label not in classes
    keep = code >= 0
    ev_key = events[key].astype(str).to_numpy()[keep]
    ev_code = code[keep]
    ev_a = events["start_time"].to_numpy(float)[keep]
    ev_b = events["end_time"].to_numpy(float)[keep]
    # each event's thresholds, from its class: overlap, and fraction of min(event, window)
    need = np.array([overlap[c] for c in classes], float)[ev_code] - _EPS
    frac = np.array([np.nan if fraction[c] is None else fraction[c] for c in classes], float)
    need = np.fmax(need, frac[ev_code] * np.minimum(ev_b - ev_a, clip) - _EPS)
    starts_all, labels_all, files = [], [], []
    for path, duration in recs:
        if duration + _EPS < clip:
            if not pad_short:
                raise AnnotationError(
                    f"{path}: recording is {duration:.3f} s, shorter than one {clip} s window "
                    "(pass pad_short=True to pad it)"
                )
            starts = np.zeros(1)
        else:
            starts = _starts(duration, clip, step)
        mine = ev_key == path
        a, b = ev_a[mine][None, :], ev_b[mine][None, :]
        s, e = starts[:, None], starts[:, None] + clip
        o = np.minimum(b, e) - np.maximum(a, s)  # windows x events
        ok = ((o > 0) | ((a == b) & (a >= s) & (a < e))) & (o >= need[mine][None, :])
        onehot = np.eye(len(classes), dtype=np.int64)[ev_code[mine]]  # events x classes
        labels_all.append((ok.astype(np.int64) @ onehot > 0).astype(np.int64))
        starts_all.append(starts)
        files += [path] * len(starts)
    starts = np.concatenate(starts_all) if recs else np.zeros(0)
    out = pd.DataFrame({"file": files, "start_time": starts, "end_time": starts + clip})
    table = np.concatenate(labels_all) if recs else np.zeros((0, len(classes)), np.int64)
    out = pd.concat([out, pd.DataFrame(table, columns=classes)], axis=1)
    empty = [c for c in classes if not out[c].any()]
    if empty:
        _warn(f"class(es) with no positive window: {empty}")
    return out


def write_window_table(windows: pd.DataFrame, csv_path) -> Path:
    """Write a window table as CSV, atomically.

    Parameters
    ----------
    windows : pandas.DataFrame
        A window table (see :func:`make_windows`).
    csv_path : str or path-like
        The CSV to write. ``file`` paths under its folder are written relative to it (with
        ``/``), others absolute, so the folder can be moved as a whole.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    AnnotationError
        A missing ``file``/``start_time``/``end_time`` column.
    """
    csv_path = Path(csv_path)
    missing = [c for c in WINDOW_COLUMNS if c not in windows.columns]
    if missing:
        raise AnnotationError(f"cannot write {csv_path}: windows lack column(s) {missing}")
    folder = csv_path.resolve().parent

    def rel(file) -> str:
        p = Path(os.path.abspath(file))
        return p.relative_to(folder).as_posix() if p.is_relative_to(folder) else str(p)

    out = windows.copy()
    out["file"] = [rel(f) for f in out["file"]]
    return atomic_write_csv(csv_path, out)


def _derived_columns() -> tuple[str, ...]:
    from .labeled import CODE_COLUMN  # here: tables.labeled imports this module

    return (WINDOW_CLASS_COLUMN, CODE_COLUMN)


def read_window_table(csv_path) -> pd.DataFrame:
    """Read a window table written by :func:`write_window_table` (or by hand).

    Parameters
    ----------
    csv_path : str or path-like
        The CSV; relative ``file`` paths are taken relative to its folder.

    Returns
    -------
    pandas.DataFrame
        ``file`` (absolute path), ``start_time``, ``end_time`` and one int 0/1 column per class
        (every other column). The columns a prepared table adds for training
        (``window_classes`` and the ``NumericLabels`` codes, e.g. in a run folder's
        ``valid.csv``) are derived from the class columns, so they are left out, not read as
        classes.

    Raises
    ------
    AnnotationError
        A missing file or column, no class column, a bad time (naming row and column), or a
        class value other than 0/1 (naming row and column). Rows are 1-based lines of the CSV.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise AnnotationError(f"window table not found: {csv_path}")
    try:
        df = pd.read_csv(csv_path, dtype=str, keep_default_na=False, skip_blank_lines=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise AnnotationError(f"{csv_path}: not a readable CSV: {exc}") from exc
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in WINDOW_COLUMNS if c not in df.columns]
    if missing:
        raise AnnotationError(f"{csv_path}: missing column(s) {missing}; it has {list(df.columns)}")
    derived = _derived_columns()
    classes = [c for c in df.columns if c not in WINDOW_COLUMNS and c not in derived]
    if not classes:
        raise AnnotationError(f"{csv_path}: no class column after {WINDOW_COLUMNS}")
    df = df[(df != "").any(axis=1)]  # blank lines
    rows = df.index.to_numpy() + 2  # line 1 is the header
    out = pd.DataFrame(index=range(len(df)))
    folder = csv_path.resolve().parent
    files = df["file"].str.strip()
    if (files == "").any():
        raise AnnotationError(f"{csv_path}, row {rows[np.argmax(files == '')]}: empty 'file'")
    out["file"] = [os.path.normpath(folder / f) for f in files]
    for c in ("start_time", "end_time"):
        values = pd.to_numeric(df[c].str.strip(), errors="coerce").to_numpy(float)
        bad = ~np.isfinite(values)
        if bad.any():
            i = int(np.argmax(bad))
            raise AnnotationError(
                f"{csv_path}, row {rows[i]}, column {c!r}: not a number: {df[c].iloc[i]!r}"
            )
        out[c] = values
    wrong = out["end_time"].to_numpy() <= out["start_time"].to_numpy()
    if wrong.any():
        raise AnnotationError(f"{csv_path}, row {rows[np.argmax(wrong)]}: end_time <= start_time")
    for c in classes:
        text = df[c].str.strip()
        ok = text.isin(["0", "1", "0.0", "1.0"]).to_numpy()
        if not ok.all():
            i = int(np.argmax(~ok))
            raise AnnotationError(
                f"{csv_path}, row {rows[i]}, column {c!r}: class values must be 0 or 1, "
                f"got {df[c].iloc[i]!r}"
            )
        out[c] = text.astype(float).astype(np.int64).to_numpy()
    return out


def class_counts(windows: pd.DataFrame) -> pd.DataFrame:
    """Per-class counts of positive windows, for printing.

    Parameters
    ----------
    windows : pandas.DataFrame
        A window table.

    Returns
    -------
    pandas.DataFrame
        Indexed by class, in column order: ``positives`` (windows labelled 1), ``negatives``
        and ``files`` (recordings with at least one positive window).
    """
    classes = [c for c in windows.columns if c not in WINDOW_COLUMNS]
    pos = windows[classes].astype(bool)
    return pd.DataFrame(
        {
            "positives": pos.sum().astype(int),
            "negatives": (~pos).sum().astype(int),
            "files": [windows.loc[pos[c], "file"].nunique() for c in classes],
        },
        index=pd.Index(classes, name="class"),
    )
