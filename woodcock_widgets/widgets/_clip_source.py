"""The clips a SpectrogramInspector browses: each row of a label table as audio, text, picture.

No controls here: the inspector's sub-views ask this object for what to show.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..audio.clip import Audio
from ..audio.preprocessing import Preprocessing
from ..errors import LabelError, WoodcockError
from ..tables.browse import ClipView, extent_text, load_audio, render_clip
from ..tables.labels import read_labels
from ._plots import BLANK_PNG
from ._tables import messages_html

__all__ = ["CLIP_ERRORS", "ClipSource", "as_table"]

#: What a clip that cannot be shown raises; the inspector reports it and keeps browsing.
CLIP_ERRORS = (WoodcockError, ValueError, OSError)


def as_table(df: pd.DataFrame | str | os.PathLike, filename_column: str) -> pd.DataFrame:
    """The table itself, or the CSV read; a unique index; the filename column checked."""
    if isinstance(df, pd.DataFrame):
        table = df
    else:
        table = read_labels(df, filename_column=filename_column, check_files=False)
    if filename_column not in table.columns:
        raise LabelError(f"table has no column {filename_column!r}; it has {list(table.columns)}")
    if not table.index.is_unique:
        table = table.reset_index(drop=True)
    return table


class ClipSource:
    """Where each row's audio is, its labels, and its spectrogram under given dB and band.

    Parameters are those of :class:`~woodcock_widgets.widgets.SpectrogramInspector`;
    :attr:`df` and :attr:`label_columns` change with :meth:`set_table`.
    """

    def __init__(
        self,
        df: pd.DataFrame | str | os.PathLike,
        filename_column: str,
        label_columns: Sequence[str] | None,
        preprocessing: Preprocessing,
        offset_column: str | None,
        max_seconds: float | None,
    ) -> None:
        self.filename_column = filename_column
        self.offset_column = offset_column
        self.max_seconds = max_seconds
        self.preprocessing = preprocessing
        self._fixed_label_columns = list(label_columns) if label_columns is not None else None
        self.set_table(df)

    def set_table(self, df: pd.DataFrame | str | os.PathLike) -> None:
        """Browse another table (its label columns checked or taken from it)."""
        self.df = as_table(df, self.filename_column)
        self.label_columns = self._label_columns()

    def _label_columns(self) -> list[str]:
        if self._fixed_label_columns is not None:
            missing = [c for c in self._fixed_label_columns if c not in self.df.columns]
            if missing:
                raise LabelError(
                    f"table has no column(s) {missing}; it has {list(self.df.columns)}"
                )
            return list(self._fixed_label_columns)
        skip = {self.filename_column, self.offset_column}
        return [c for c in self.df.columns if c not in skip]

    def where(self, row) -> tuple[str, float]:
        """The audio path of ``row`` and the clip's start inside it (s)."""
        path = str(self.df.at[row, self.filename_column])
        offset = float(self.df.at[row, self.offset_column]) if self.offset_column else 0.0
        return path, offset

    def load(self, row) -> Audio:
        """The clip of ``row``, resampled as the preprocessing says."""
        path, offset = self.where(row)
        return load_audio(path, self.preprocessing, offset, self.max_seconds)

    def view(self, audio: Audio, db_range, frequency_range) -> ClipView:
        """PNG, WAV and axes of a loaded clip."""
        return render_clip(audio, self.preprocessing, db_range, frequency_range)

    def labels(self, row) -> dict:
        """Label column → value of ``row``."""
        return {c: self.df.at[row, c] for c in self.label_columns}

    def position_html(self, row, index: int, n: int) -> str:
        """``clip N of M · row R · file at T s`` (escaped)."""
        path, offset = self.where(row)
        at = f" at {offset:g} s" if offset else ""
        name = html.escape(f"{Path(path).name}{at}")
        return f"clip {index + 1} of {n} · row {row} · {name}"

    def cell(self, row, db_range, frequency_range) -> tuple[bytes, bytes, str]:
        """A grid cell's PNG, WAV and caption; an unreadable clip: a blank and the reason."""
        path, _ = self.where(row)
        labels = ", ".join(f"{c}: {self.df.at[row, c]}" for c in self.label_columns[:3])
        try:
            view = self.view(self.load(row), db_range, frequency_range)
        except CLIP_ERRORS as exc:
            return BLANK_PNG, b"", messages_html([f"{Path(path).name}: {exc}"], "error")
        name = html.escape(f"{row} {Path(path).name}")
        caption = (
            f"<b>{name}</b><br><small>{html.escape(labels)}</small>"
            f"<br><small style='color:#555'>{html.escape(extent_text(view))}</small>"
        )
        return view.png, view.wav, caption
