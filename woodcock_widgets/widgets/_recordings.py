"""The recordings a LongRecordingView shows, with their events and windows (no controls)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..errors import AnnotationError
from ..tables.annotations import read_annotations
from ..tables.long_view import class_colors, events_for_recording, recording_duration
from ..tables.windows import read_window_table

__all__ = ["Recordings"]

_NO_EVENTS = ["start_time", "end_time", "label"]


def _as_events(events, format: str, label_column: str | None) -> pd.DataFrame | None:
    if events is None or isinstance(events, pd.DataFrame):
        return events
    options = {} if label_column is None or format == "audacity" else {"label_column": label_column}
    return read_annotations(events, format, **options)


def _as_windows(windows) -> pd.DataFrame | None:
    if windows is None or isinstance(windows, pd.DataFrame):
        return windows
    return read_window_table(windows)


class Recordings:
    """Audio files, the events table and the window table; one recording selected.

    Parameters are those of :class:`~woodcock_widgets.widgets.LongRecordingView`.

    Attributes
    ----------
    recordings : list of str
        The audio files (a recording selected by path is added).
    all_events : pandas.DataFrame or None
        The whole events table.
    windows : pandas.DataFrame or None
        The whole window table.
    classes : list of str
        The events' labels, sorted; ``colors`` gives each its colour.
    recording, total : str, float
        The selected recording and its length (s).
    events : pandas.DataFrame
        Its events (index: event ids, as in the given table).
    recording_windows : pandas.DataFrame or None
        Its windows.
    """

    def __init__(
        self,
        audio: str | os.PathLike | Sequence[str | os.PathLike],
        events: pd.DataFrame | str | os.PathLike | None,
        format: str,
        label_column: str | None,
        windows: pd.DataFrame | str | os.PathLike | None,
    ) -> None:
        paths = [audio] if isinstance(audio, str | os.PathLike) else list(audio)
        if not paths:
            raise AnnotationError("LongRecordingView needs at least one audio file")
        self.recordings = [str(p) for p in paths]
        self.all_events = _as_events(events, format, label_column)
        self.windows = _as_windows(windows)
        labels = [] if self.all_events is None else self.all_events["label"].astype(str)
        self.classes = sorted(set(labels))
        self.colors = class_colors(self.classes)
        self.recording: str | None = None
        self.total: float | None = None
        self.events = pd.DataFrame(columns=_NO_EVENTS)
        self.recording_windows: pd.DataFrame | None = None

    def select(self, path: str | os.PathLike) -> str | None:
        """Select a recording (any audio file); return a warning when no event is of it."""
        path = str(path)
        total = recording_duration(path)
        if path not in self.recordings:
            self.recordings.append(path)
        self.recording, self.total = path, total
        warning = None
        if self.all_events is None:
            self.events = pd.DataFrame(columns=_NO_EVENTS)
        else:
            self.events = events_for_recording(self.all_events, path)
            if self.events.empty:  # the check the view is for: does the table match?
                warning = f"the events table has no event of {Path(path).name}"
        if self.windows is None:
            self.recording_windows = None
        else:
            files = self.windows["file"].map(lambda f: os.path.abspath(f))
            self.recording_windows = self.windows[(files == os.path.abspath(path)).to_numpy()]
        return warning
