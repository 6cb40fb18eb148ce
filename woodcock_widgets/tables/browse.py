"""Browsing a label table: filter rows, page through them, render one clip as PNG and WAV.

The spectrogram inspector widget is a view over these functions, so scripts and tests get
the same rows and the same images without a browser.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from ..audio.clip import Audio
from ..audio.preprocessing import Preprocessing
from ..errors import LabelError

__all__ = [
    "ClipView",
    "distinct_values",
    "filter_rows",
    "n_pages",
    "page_rows",
    "load_audio",
    "render_clip",
    "extent_text",
]


def distinct_values(df: pd.DataFrame, column: str) -> list[str]:
    """Sorted distinct values of ``column`` as stripped strings (as the label tools see them).

    Raises
    ------
    LabelError
        If the column does not exist.
    """
    if column not in df.columns:
        raise LabelError(f"table has no column {column!r}; it has {list(df.columns)}")
    return sorted(set(df[column].astype(str).str.strip()))


def filter_rows(
    df: pd.DataFrame,
    column: str | None = None,
    value: object = None,
    subset: Sequence | None = None,
) -> list:
    """Index labels of the rows to browse, in table order.

    Parameters
    ----------
    df : pandas.DataFrame
        The table.
    column : str, optional
        Keep rows whose ``column`` equals ``value`` (compared as stripped strings);
        ``None`` keeps every row.
    value : object
        The value to match.
    subset : sequence, optional
        Only consider these index labels (e.g. the clips of one confusion-matrix cell).

    Returns
    -------
    list
        Index labels of ``df``.
    """
    if subset is None:
        rows = df
    else:
        wanted = set(subset)
        rows = df[[i in wanted for i in df.index]]
    if column is None:
        return list(rows.index)
    if column not in df.columns:
        raise LabelError(f"table has no column {column!r}; it has {list(df.columns)}")
    keep = rows[column].astype(str).str.strip() == str(value).strip()
    return list(rows.index[keep.to_numpy()])


def n_pages(n_rows: int, per_page: int) -> int:
    """Pages needed for ``n_rows`` rows (at least 1, so an empty table has one empty page)."""
    if per_page < 1:
        raise ValueError(f"per_page must be at least 1, got {per_page}")
    return max(1, math.ceil(n_rows / per_page))


def page_rows(rows: Sequence, page: int, per_page: int) -> list:
    """The rows on ``page`` (0-based); pages past the end are clamped to the last one."""
    page = min(max(int(page), 0), n_pages(len(rows), per_page) - 1)
    return list(rows[page * per_page : (page + 1) * per_page])


@dataclass(frozen=True)
class ClipView:
    """What the inspector shows for one clip.

    Attributes
    ----------
    png : bytes
        Greyscale spectrogram image (loud is dark), one pixel per frequency bin and frame.
    wav : bytes
        The clip as a 16-bit WAV file, for an audio player.
    duration : float
        Seconds shown (the image spans ``0 .. duration`` on the time axis).
    frequency_range : tuple of float
        Lowest and highest frequency row (Hz): the image's vertical extent.
    image_size : tuple of int
        ``(width, height)`` of the PNG in pixels.
    decibel_limits : tuple of float
        The dB range mapped to white .. black: the floor asked for, and the ceiling asked
        for or the clip's loudest value if that is lower (see :func:`render_clip`).
    peak_db : float
        The loudest value (dB) in the band shown.
    """

    png: bytes
    wav: bytes
    duration: float
    frequency_range: tuple[float, float]
    image_size: tuple[int, int]
    decibel_limits: tuple[float, float]
    peak_db: float = float("nan")

    @property
    def above_floor(self) -> bool:
        """Whether anything in the band is louder than the floor (else the image is white)."""
        return self.peak_db > self.decibel_limits[0]


def load_audio(
    path: str | os.PathLike,
    preprocessing: Preprocessing | None = None,
    offset: float = 0.0,
    max_seconds: float | None = None,
) -> Audio:
    """Load a clip for viewing at the preprocessing's sample rate (not padded or trimmed).

    Parameters
    ----------
    path : str or path-like
        The audio file.
    preprocessing : Preprocessing, optional
        Gives the sample rate; default: the tutorial's.
    offset : float
        Seconds to skip.
    max_seconds : float, optional
        Read at most this many seconds (long recordings); ``None`` reads the whole file.

    Raises
    ------
    AudioLoadError
        The file is missing or unreadable (the message names it).
    """
    pre = preprocessing or Preprocessing()
    return Audio.from_file(path, sample_rate=pre.sample_rate, offset=offset, duration=max_seconds)


def render_clip(
    audio: Audio,
    preprocessing: Preprocessing | None = None,
    decibel_limits: tuple[float, float] | None = None,
    frequency_range: tuple[float, float] | None = None,
) -> ClipView:
    """Spectrogram PNG and WAV bytes of a clip, as the preprocessing computes them.

    Parameters
    ----------
    audio : Audio
        The clip (see :func:`load_audio`).
    preprocessing : Preprocessing, optional
        STFT settings; default: the tutorial's.
    decibel_limits : tuple of float, optional
        ``(floor, ceiling)`` in dB; default: the preprocessing's. Quieter than the floor is
        white; louder than the ceiling, or than the clip's loudest value where that is
        lower, is black.
    frequency_range : tuple of float, optional
        Only show this band (Hz); default: the preprocessing's band-pass or the full range.

    Returns
    -------
    ClipView
    """
    pre = preprocessing or Preprocessing()
    from ..audio.spectrogram import Spectrogram

    lo, hi = (float(v) for v in (decibel_limits or pre.decibel_limits))
    spec = Spectrogram.from_audio(
        audio, pre.window_samples, pre.overlap_samples, decibel_limits=(lo, hi)
    )
    band = frequency_range or pre.bandpass
    if band is not None:
        spec = spec.bandpass(float(band[0]), float(band[1]))
    # Black is the ceiling, or the clip's loudest value when that is lower: a ceiling far
    # above the clip would leave even its loudest sound pale grey, and raising the floor
    # would then fade the whole picture to white. This way the floor hides quiet background
    # and the loud parts stay dark; lowering the ceiling still darkens more. Where nothing
    # is louder than the floor the image is white (ClipView.above_floor says so).
    peak = float(spec.values.max())
    if peak > lo:
        spec = spec.limit_db((lo, min(hi, peak)))
    height, width = spec.values.shape
    return ClipView(
        png=spec.to_png_bytes(),
        wav=audio.to_wav_bytes(),
        duration=float(audio.duration),
        frequency_range=(float(spec.frequencies[0]), float(spec.frequencies[-1])),
        image_size=(int(width), int(height)),
        decibel_limits=tuple(float(v) for v in spec.decibel_limits),
        peak_db=peak,
    )


def extent_text(view: ClipView) -> str:
    """What a thumbnail spans, e.g. ``"0–2 s · 0–11 kHz"`` (a picture without axes)."""
    lo, hi = view.frequency_range

    def khz(f: float) -> str:
        return f"{f / 1000:.3g}"

    return f"0–{view.duration:.3g} s · {khz(lo)}–{khz(hi)} kHz"
