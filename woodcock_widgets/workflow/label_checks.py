"""Checks and fixes of a label table before training: short clips, review corrections.

Used by :mod:`.pipeline` (and so by the command line, the notebooks and the widgets).
"""

from __future__ import annotations

import os

import pandas as pd

from ..audio.clip import audio_info
from ..errors import AudioLoadError, TrainingError
from ..tables.corrections import apply_corrections
from ..tables.labeled import LabeledTable
from ..tables.labeled_windows import WindowLabels
from .run_folder import RunFolder

__all__ = ["SHORT_CLIP_TOLERANCE", "short_clip_warning", "correct_labels", "correct_split"]

#: Clips shorter than the clip length by more than this (s) are reported as zero-padded.
SHORT_CLIP_TOLERANCE = 0.01


def short_clip_warning(
    df: pd.DataFrame, clip_seconds: float, filename_column: str = "filename"
) -> str | None:
    """A message when clips of a clip table are shorter than the clip length, else ``None``.

    Such clips are zero-padded to ``clip_seconds``: silence the model learns as part of the
    sound. Only file headers are read; an unreadable file is left to the dataset to report
    (with its row).
    """
    short, shortest, seen = 0, float("inf"), 0
    for f in dict.fromkeys(df[filename_column].astype(str)):
        try:
            info = audio_info(f)
        except AudioLoadError:
            continue
        seen += 1
        seconds = info.frames / info.samplerate if info.samplerate else 0.0
        if seconds < clip_seconds - SHORT_CLIP_TOLERANCE:
            short += 1
            shortest = min(shortest, seconds)
    if not short:
        return None
    return (
        f"{short} of {seen} clip(s) are shorter than the {clip_seconds:g} s clip length "
        f"(shortest {shortest:.3g} s) and are zero-padded to it; set the clip length to the "
        "clips' (clip_seconds, --clip-seconds) to train on the sound alone"
    )


def correct_labels(table: LabeledTable, corrections: str | os.PathLike) -> tuple[LabeledTable, int]:
    """Apply a corrections CSV (:mod:`woodcock_widgets.tables.corrections`) to a clip table.

    Returns the corrected table and how many clips got another label. A missing file
    changes nothing.

    Raises
    ------
    TrainingError
        A window table (corrections name clips, not windows).
    LabelError
        See :func:`~woodcock_widgets.tables.corrections.apply_corrections`.
    """
    if isinstance(table, WindowLabels):
        raise TrainingError(
            f"corrections ({corrections}) name clips of a clip table; a window table is "
            "corrected in the table itself"
        )
    df, changed = apply_corrections(table.df, corrections)
    return LabeledTable(df, table.class_column, table.label_dict), changed


def correct_split(
    folder: RunFolder,
    train_df: pd.DataFrame,
    valid_df: pd.DataFrame,
    corrections: str | os.PathLike,
) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Apply a corrections CSV to a run's recorded split; rewrite it when labels changed.

    Returns the corrected parts and how many clips got another label (0 for a missing
    file). ``train.csv`` and ``valid.csv`` are rewritten (atomically) only when some did,
    so they always hold the labels the run trains on.
    """
    train_df, n_train = apply_corrections(train_df, corrections)
    valid_df, n_valid = apply_corrections(valid_df, corrections)
    if n_train + n_valid:
        folder.write_split(train_df, valid_df)
    return train_df, valid_df, n_train + n_valid
