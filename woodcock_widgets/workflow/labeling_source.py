"""The windows a labeling loop scores: a folder, files, a recordings table or a window table.

Rule (the same as :func:`~woodcock_widgets.tables.windows.make_windows`): windows of
``window_seconds`` start every ``step`` seconds from 0; only full windows are made, except that
a recording shorter than one window gets one window over all of it (the embedder centres and
pads it, see :mod:`woodcock_widgets.ml.embedders`).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import LabelError
from ..tables.annotations import AUDIO_EXTENSIONS
from ..tables.windows import WINDOW_COLUMNS

__all__ = ["window_grid", "audio_files"]

_EPS = 1e-9


def audio_files(folder) -> list[str]:
    """Audio files under a folder, recursively, sorted; hidden files and folders skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise LabelError(f"audio folder not found: {folder}")
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out += [
            os.path.join(root, f)
            for f in files
            if not f.startswith(".") and Path(f).suffix.lower() in AUDIO_EXTENSIONS
        ]
    if not out:
        raise LabelError(f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) under {folder}")
    return sorted(out)


def _grid(recordings: list[tuple[str, float]], clip: float, step: float) -> pd.DataFrame:
    files, starts, ends = [], [], []
    for path, duration in recordings:
        if duration + _EPS < clip:
            s, e = np.zeros(1), np.array([duration])
        else:
            n = int(math.floor((duration - clip) / step + _EPS)) + 1
            s = np.round(np.arange(n) * step, 9)
            e = s + clip
        files += [path] * len(s)
        starts.append(s)
        ends.append(e)
    return pd.DataFrame(
        {
            "file": files,
            "start_time": np.concatenate(starts) if starts else np.zeros(0),
            "end_time": np.concatenate(ends) if ends else np.zeros(0),
        }
    )


def window_grid(source, window_seconds: float | None, step: float | None = None) -> pd.DataFrame:
    """The windows of a loop's source.

    Parameters
    ----------
    source : path, list of paths or pandas.DataFrame
        A folder (searched recursively for audio), a list of audio files, a recordings table
        (``path`` or ``file``, and ``duration``) or a window table (``file, start_time,
        end_time``: used as it is).
    window_seconds : float
        Window length (not needed for a window table).
    step : float, optional
        Seconds between starts; default ``window_seconds``.

    Returns
    -------
    pandas.DataFrame
        ``file`` (absolute path), ``start_time``, ``end_time``; one row per window.

    Raises
    ------
    LabelError
        No audio, a bad length or step, a window listed twice, a table without the columns.
    """
    from ..audio.clip import audio_info

    if isinstance(source, pd.DataFrame) and {"start_time", "end_time"} <= set(source.columns):
        out = source[WINDOW_COLUMNS].copy().reset_index(drop=True)
        out["file"] = [os.path.normpath(os.path.abspath(f)) for f in out["file"].astype(str)]
        out["start_time"] = out["start_time"].astype(float)
        out["end_time"] = out["end_time"].astype(float)
    else:
        clip = float(window_seconds) if window_seconds is not None else math.nan
        step = clip if step is None else float(step)
        if not (clip > 0 and step > 0):
            raise LabelError(f"window_seconds and step must be positive: {window_seconds}, {step}")
        if isinstance(source, pd.DataFrame):
            key = "path" if "path" in source.columns else "file"
            if key not in source.columns or "duration" not in source.columns:
                raise LabelError("a recordings table needs 'path' (or 'file') and 'duration'")
            recs = list(zip(source[key].astype(str), source["duration"].astype(float)))
        else:
            is_folder = isinstance(source, str | os.PathLike) and Path(source).is_dir()
            files = audio_files(source) if is_folder else [os.fspath(f) for f in source]
            recs = [(f, audio_info(f).duration) for f in files]
        recs = [(os.path.normpath(os.path.abspath(p)), d) for p, d in recs]
        out = _grid(recs, clip, step)
    if out.empty:
        raise LabelError("the source has no windows")
    dup = out.duplicated(WINDOW_COLUMNS)
    if dup.any():
        raise LabelError(f"window listed twice: {out[dup].iloc[0].to_dict()}")
    return out
