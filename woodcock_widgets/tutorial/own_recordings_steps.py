"""The "your own recordings" notebooks' steps: the few calls each notebook makes of its own.

Notebook 01 reads the annotation tables and matches them to the audio
(:func:`read_and_match`); notebook 02 splits the windows by recording
(:func:`split_by_recording`), checks the method (:func:`check_method`) and the label mode
(:func:`label_mode`), and prepares windows for a CNN (:func:`windows_for_cnn`). The chain, its
stages and its files are :mod:`woodcock_widgets.tutorial.own_recordings`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..errors import SplitError, TutorialError
from ..tables.matching import MatchReport
from ..tables.windows import WINDOW_COLUMNS
from .own_recordings import METHODS

__all__ = [
    "read_and_match",
    "WindowSplit",
    "split_by_recording",
    "label_mode",
    "check_method",
    "windows_for_cnn",
]


# ------------------------------------------------------------------------- notebook 01
def _read_events(annotations: Path, format: str, label_column: str, columns: dict):
    from ..tables._events import _concat
    from ..tables.annotations import read_annotations, read_audacity

    if format == "audacity":
        if label_column:
            raise TutorialError(
                "label_column does not apply to Audacity labels (the label is the 3rd field); "
                'leave it ""'
            )
        if annotations.is_dir():  # one label track per recording, named after it
            tracks = sorted(p for p in annotations.rglob("*.txt") if not p.name.startswith("."))
            if not tracks:
                raise TutorialError(f"no Audacity label files (*.txt) under {annotations}")
            return _concat([read_audacity(p) for p in tracks])
        return read_audacity(annotations)
    if format == "raven":
        if columns:
            raise TutorialError("csv_columns apply to the csv format only; leave it {}")
        return read_annotations(annotations, "raven", label_column=label_column or "Annotation")
    names = {"file": "file", "start_time": "start_time", "end_time": "end_time"}
    unknown = sorted(set(columns) - set(names))
    if unknown:
        raise TutorialError(
            f"csv_columns: unknown key(s) {unknown}; it maps {sorted(names)} to your column names"
        )
    names.update(columns)
    return read_annotations(
        annotations,
        "csv",
        label_column=label_column or "label",
        file_column=names["file"],
        start_column=names["start_time"],
        end_column=names["end_time"],
    )


def read_and_match(
    annotations: str | os.PathLike,
    audio_dir: str | os.PathLike,
    format: str = "raven",
    label_column: str = "",
    csv_columns: dict | None = None,
    classes: Sequence[str] = (),
    max_recordings: int = 0,
    fully_annotated: bool = False,
) -> MatchReport:
    """Read annotation tables and match them to the recordings under ``audio_dir``.

    Parameters
    ----------
    annotations : str or path-like
        A table, or a folder of tables (Raven; Audacity: one label file per recording).
    audio_dir : str or path-like
        Folder searched (with its subfolders) for the recordings.
    format : {"raven", "audacity", "csv"}
        The tables' format.
    label_column : str
        The label column (default ``Annotation`` for Raven, ``label`` for CSV).
    csv_columns : dict, optional
        CSV format: ``{"file": ..., "start_time": ..., "end_time": ...}`` naming the columns
        of the recording, start and end where they differ from those names.
    classes : sequence of str
        The classes to keep; each must be a label of the tables (default: every label).
    max_recordings : int
        Keep only the first this many annotated recordings (in path order); 0 keeps all.
    fully_annotated : bool
        Recordings without a table hold none of the classes (all their windows negative).

    Returns
    -------
    MatchReport
        Events with their audio, the annotated recordings, tables without audio (their
        events are left out, with a warning) and audio without tables.

    Raises
    ------
    TutorialError
        A missing path, an unknown format or class, bad options.
    AnnotationError
        What the readers and :func:`~woodcock_widgets.tables.matching.match_audio` find
        (naming the table and row).
    """
    from ..tables.matching import match_audio

    for name, value in (("annotations", annotations), ("audio_dir", audio_dir)):
        if not str(value).strip():
            raise TutorialError(f"parameter {name!r} is empty: say where your data is")
    annotations, audio_dir = Path(annotations).expanduser(), Path(audio_dir).expanduser()
    if not annotations.exists():
        raise TutorialError(f"annotations not found: {annotations}")
    if not audio_dir.is_dir():
        raise TutorialError(f"audio folder not found: {audio_dir}")
    formats = ("raven", "audacity", "csv")
    if format not in formats:
        raise TutorialError(f"unknown annotation format {format!r}; use one of {list(formats)}")
    if int(max_recordings) < 0:
        raise TutorialError(f"max_recordings must be 0 (all) or more, got {max_recordings}")
    events = _read_events(annotations, format, label_column, dict(csv_columns or {}))
    report = match_audio(
        events, audio_dir, fully_annotated=True if fully_annotated else None, missing_audio="warn"
    )
    labels = sorted(report.events["label"].astype(str).unique())
    unknown = [str(c) for c in classes if str(c) not in labels]
    if unknown:
        raise TutorialError(
            f"class(es) {unknown} are not labels of the tables; their labels are {labels}"
        )
    if max_recordings and len(report.recordings) > max_recordings:
        kept = report.recordings.sort_values("path").head(int(max_recordings))
        mine = report.events["path"].isin(kept["path"]).to_numpy()
        report = dataclasses.replace(
            report,
            events=report.events[mine].reset_index(drop=True),
            recordings=kept.reset_index(drop=True),
        )
    if report.recordings.empty:
        raise TutorialError(
            f"no annotated recording found under {audio_dir} for the tables in {annotations}"
        )
    return report


# ------------------------------------------------------------------------- notebook 02
@dataclasses.dataclass(frozen=True)
class WindowSplit:
    """Windows split by recording (see :func:`split_by_recording`).

    Unpacks as ``train, valid`` (what ``split=`` of the training functions takes).

    Attributes
    ----------
    train, valid : pandas.DataFrame
        The two parts: window tables, no recording in both.
    report : pandas.DataFrame
        Per class: positive windows and recordings with one, in train and in valid.
    warnings : list of str
        Classes without a positive window in a part (named; they are kept).
    """

    train: pd.DataFrame
    valid: pd.DataFrame
    report: pd.DataFrame
    warnings: list[str] = dataclasses.field(default_factory=list)

    def __iter__(self):
        return iter((self.train, self.valid))


def split_by_recording(
    windows: pd.DataFrame, train_fraction: float = 0.8, seed: int = 0
) -> WindowSplit:
    """Split a window table into train and validation, keeping each recording on one side.

    Of many random splits by recording, the one that leaves the fewest classes without a
    positive window on a side, then keeps each class's share closest to ``train_fraction``
    (:func:`~woodcock_widgets.tables.splits.split_multilabel`), for single-target and
    multi-label windows alike.

    Parameters
    ----------
    windows : pandas.DataFrame
        A window table.
    train_fraction : float
        Share of the windows for training, about (whole recordings move).
    seed : int
        The same seed gives the same split.

    Raises
    ------
    SplitError
        Fewer than two recordings, a bad fraction.
    """
    from ..tables.splits import split_multilabel

    classes = [c for c in windows.columns if c not in WINDOW_COLUMNS]
    if windows["file"].nunique() < 2:
        raise SplitError(
            "a split by recording needs at least two recordings; the window table has "
            f"{windows['file'].nunique()}"
        )
    result = split_multilabel(
        windows, classes, train_fraction, seed=seed, group_column="file", filename_column="file"
    )
    train, valid = result.train, result.valid
    report = pd.DataFrame(
        {
            "train_windows": train[classes].sum().astype(int),
            "valid_windows": valid[classes].sum().astype(int),
            "train_recordings": [train.loc[train[c] > 0, "file"].nunique() for c in classes],
            "valid_recordings": [valid.loc[valid[c] > 0, "file"].nunique() for c in classes],
        },
        index=pd.Index(classes, name="class"),
    )
    return WindowSplit(train, valid, report, list(result.warnings))


def label_mode(multi_label: str) -> bool | None:
    """``"auto"`` → ``None`` (from the table), ``"yes"`` → ``True``, ``"no"`` → ``False``."""
    modes = {"auto": None, "yes": True, "no": False}
    key = str(multi_label).strip().lower()
    if key not in modes:
        raise TutorialError(f"multi_label must be one of {list(modes)}, got {multi_label!r}")
    return modes[key]


def check_method(method: str) -> str:
    """The training method, checked (see :data:`METHODS`).

    Raises
    ------
    TutorialError
        An unknown method.
    """
    if method not in METHODS:
        raise TutorialError(f"unknown method {method!r}; use one of {list(METHODS)}")
    return method


def windows_for_cnn(windows: pd.DataFrame, split: WindowSplit, multi_label: bool | None = None):
    """The window table prepared for CNN training, and the split's parts of it.

    Returns
    -------
    (WindowLabels, (pandas.DataFrame, pandas.DataFrame))
        What ``TrainingControl.for_table(run_dir, table, split=parts, ...)`` (and
        :func:`~woodcock_widgets.workflow.pipeline.new_trainer`) take.
    """
    from ..tables.labeled import prepare_windows

    table = prepare_windows(windows, multi_label=multi_label)  # same rows, in the same order
    rows = table.df

    def part(df: pd.DataFrame) -> pd.DataFrame:
        return rows.iloc[windows.index.get_indexer(df.index)]

    return table, (part(split.train), part(split.valid))
