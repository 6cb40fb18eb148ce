"""The long-recording view without a browser: stretches, event boxes, colours, clicks, audio.

:class:`~woodcock_widgets.widgets.LongRecordingView` shows a stretch ``[start, start +
duration)`` of a long recording as a spectrogram with the annotation boxes of an events table
(see :mod:`woodcock_widgets.tables.annotations`) drawn over it. Everything it computes lives
here, in pandas and numpy, so scripts and tests get the same stretches, boxes and sounds:

- :func:`events_for_recording`: the events of one audio file;
- :func:`clamp_stretch`, :func:`visible_events`, :func:`event_boxes`: what a stretch shows;
- :func:`box_outline`, :func:`window_edges`: the boxes and window bounds as polylines;
- :func:`box_at`, :func:`window_at`: what a click at ``(seconds, Hz)`` hits;
- :func:`render_stretch`, :func:`event_audio`: read only the audio that is shown or played.

Event ids are the events table's index labels, kept through every step.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

import numpy as np
import pandas as pd

from woodcock_widgets.audio.clip import Audio, audio_info
from woodcock_widgets.audio.spectrogram import Spectrogram
from woodcock_widgets.errors import AnnotationError

__all__ = ["PALETTE", "class_colors", "events_for_recording", "clamp_stretch"]
__all__ += ["visible_events", "event_boxes", "box_outline", "window_edges", "box_at"]
__all__ += ["window_at", "StretchView", "render_stretch", "event_audio", "recording_duration"]
__all__ += ["auto_decibel_limits"]

#: Class colours, in class order (Tableau 10, then the lighter Tableau 20 shades).
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
    "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
)  # fmt: skip
BOX_COLUMNS = ["x0", "x1", "y0", "y1", "label"]


def class_colors(classes: Sequence[str]) -> dict[str, str]:
    """A CSS colour per class, in the given order (the palette repeats past 20 classes)."""
    return {str(c): PALETTE[i % len(PALETTE)] for i, c in enumerate(classes)}


def _short_name(name: str) -> str:
    return PureWindowsPath(str(name)).name  # the file name, with / or \ separators


def events_for_recording(events: pd.DataFrame, audio_path) -> pd.DataFrame:
    """The events of one recording, in time order, with the table's index kept as event ids.

    Parameters
    ----------
    events : pandas.DataFrame
        An events table (``start_time, end_time, label``; ``path`` after
        :func:`~woodcock_widgets.tables.matching.match_audio`, else ``file``).
    audio_path : str or path-like
        The audio file shown.

    Returns
    -------
    pandas.DataFrame
        Rows whose ``path`` is this file, or (without ``path``) whose ``file`` is this file's
        path, name or stem; sorted by start time.

    Raises
    ------
    AnnotationError
        Missing columns.
    """
    key = "path" if "path" in events.columns else "file"
    missing = [c for c in (key, "start_time", "end_time", "label") if c not in events.columns]
    if missing:
        raise AnnotationError(f"events lack column(s) {missing}; they have {list(events.columns)}")
    audio_path = Path(audio_path)
    names = events[key].astype(str)
    if key == "path":
        target = os.path.normpath(os.path.abspath(audio_path))
        mine = names.map(lambda p: os.path.normpath(os.path.abspath(p))) == target
    else:
        short = names.map(_short_name)
        mine = (short == audio_path.name) | (short == audio_path.stem)
        mine |= names.map(lambda p: Path(p).is_absolute() and Path(p) == audio_path.absolute())
    out = events[mine.to_numpy()]
    return out.sort_values("start_time", kind="stable")


def recording_duration(audio_path) -> float:
    """Seconds in an audio file, from its header (nothing is decoded)."""
    return float(audio_info(audio_path).duration)


def clamp_stretch(
    start: float,
    duration: float,
    total: float,
    min_duration: float = 0.25,
    max_duration: float = 60.0,
) -> tuple[float, float]:
    """A stretch that fits the recording: ``duration`` within limits, ``start`` inside.

    Returns
    -------
    (float, float)
        ``(start, duration)`` with ``min(min_duration, total) <= duration <= min(max_duration,
        total)`` and ``0 <= start <= total - duration``.
    """
    total = max(float(total), 0.0)
    duration = min(max(float(duration), min(min_duration, total)), max_duration, total)
    start = min(max(float(start), 0.0), max(total - duration, 0.0))
    return round(start, 6), round(duration, 6)


def visible_events(
    events: pd.DataFrame, start: float, duration: float, classes: Sequence[str] | None = None
) -> pd.DataFrame:
    """Events that overlap ``[start, start + duration]`` (touching counts), of ``classes``.

    Parameters
    ----------
    events : pandas.DataFrame
        The events of one recording (see :func:`events_for_recording`).
    start, duration : float
        The stretch, in seconds.
    classes : sequence of str, optional
        Keep only these labels; ``None`` keeps all.
    """
    end = start + duration
    keep = (events["end_time"] >= start) & (events["start_time"] <= end)
    if classes is not None:
        keep &= events["label"].astype(str).isin([str(c) for c in classes])
    return events[keep.to_numpy()]


def event_boxes(events: pd.DataFrame, band: tuple[float, float]) -> pd.DataFrame:
    """Rectangles of events: time from start to end, frequency from low to high.

    Parameters
    ----------
    events : pandas.DataFrame
        Events (``low_freq``/``high_freq`` optional).
    band : tuple of float
        The frequency range shown (Hz): a missing ``low_freq`` or ``high_freq`` takes its
        bound, and boxes are clipped to it.

    Returns
    -------
    pandas.DataFrame
        ``x0, x1, y0, y1, label`` indexed like ``events``.
    """
    lo, hi = float(band[0]), float(band[1])
    nan = pd.Series(np.nan, index=events.index)
    low = pd.to_numeric(events.get("low_freq", nan), errors="coerce").fillna(lo).clip(lo, hi)
    high = pd.to_numeric(events.get("high_freq", nan), errors="coerce").fillna(hi).clip(lo, hi)
    return pd.DataFrame(
        {
            "x0": events["start_time"].astype(float),
            "x1": events["end_time"].astype(float),
            "y0": np.minimum(low, high),
            "y1": np.maximum(low, high),
            "label": events["label"].astype(str),
        },
        index=events.index,
    )


def box_outline(boxes: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """All boxes as one polyline: 5 corners per box (closed), NaN between boxes.

    A line mark draws the NaN as a gap, so one mark draws any number of rectangles.
    """
    n = len(boxes)
    if n == 0:
        return np.zeros(0), np.zeros(0)
    x0, x1 = boxes["x0"].to_numpy(float), boxes["x1"].to_numpy(float)
    y0, y1 = boxes["y0"].to_numpy(float), boxes["y1"].to_numpy(float)
    gap = np.full(n, np.nan)
    x = np.stack([x0, x1, x1, x0, x0, gap], axis=1).ravel()[:-1]
    y = np.stack([y0, y0, y1, y1, y0, gap], axis=1).ravel()[:-1]
    return x, y


def _window_bounds(start: float, end: float, windows, clip_seconds: float) -> np.ndarray:
    """Window start and end times within ``[start, end]``."""
    if windows is not None:
        t = np.unique(windows[["start_time", "end_time"]].to_numpy(float).ravel())
    else:
        first = math.ceil(start / clip_seconds - 1e-9)
        t = np.arange(first, math.floor(end / clip_seconds + 1e-9) + 1) * clip_seconds
    return t[(t >= start - 1e-9) & (t <= end + 1e-9)]


def window_edges(
    start: float,
    duration: float,
    band: tuple[float, float],
    windows: pd.DataFrame | None = None,
    clip_seconds: float = 2.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Vertical lines at the window bounds inside a stretch, as one NaN-separated polyline.

    Windows are the rows of a window table (``start_time, end_time``) when given, else
    back-to-back windows of ``clip_seconds`` from 0.
    """
    t = _window_bounds(start, start + duration, windows, clip_seconds)
    if not len(t):
        return np.zeros(0), np.zeros(0)
    gap = np.full(len(t), np.nan)
    x = np.stack([t, t, gap], axis=1).ravel()[:-1]
    y = np.stack([np.full(len(t), band[0]), np.full(len(t), band[1]), gap], axis=1).ravel()[:-1]
    return x, y


def box_at(boxes: pd.DataFrame, x: float, y: float | None = None):
    """The event id of the box holding the point ``(x s, y Hz)``; the smallest when nested.

    ``y=None`` tests time only. Returns ``None`` when no box holds the point.
    """
    if not len(boxes):
        return None
    hit = (boxes["x0"] <= x) & (x <= boxes["x1"])
    if y is not None:
        hit &= (boxes["y0"] <= y) & (y <= boxes["y1"])
    if not hit.any():
        return None
    inside = boxes[hit.to_numpy()]
    area = (inside["x1"] - inside["x0"]) * (inside["y1"] - inside["y0"] + 1e-9)
    event = inside.index[int(np.argmin(area.to_numpy()))]
    return event.item() if isinstance(event, np.generic) else event


def window_at(
    x: float, total: float, windows: pd.DataFrame | None = None, clip_seconds: float = 2.0
) -> tuple[float, float] | None:
    """The window ``(start, end)`` holding ``x`` seconds (the latest-starting one), or None.

    Windows are the rows of a window table when given (``start_time, end_time``: a click
    between windows hits none), else back-to-back windows of ``clip_seconds`` from 0, the
    last one cut at the end of the recording.
    """
    if windows is not None:
        s = windows["start_time"].to_numpy(float)
        e = windows["end_time"].to_numpy(float)
        hit = np.flatnonzero((s <= x) & (x < e))
        if not len(hit):
            return None
        i = hit[np.argmax(s[hit])]
        return float(s[i]), float(e[i])
    if not 0 <= x <= total or clip_seconds <= 0:
        return None
    k = min(math.floor(x / clip_seconds + 1e-9), max(math.ceil(total / clip_seconds) - 1, 0))
    return k * clip_seconds, min((k + 1) * clip_seconds, total)


@dataclass(frozen=True)
class StretchView:
    """The spectrogram of one stretch of a recording.

    Attributes
    ----------
    png : bytes
        Greyscale image (loud is dark), at most ``max_columns`` pixels wide.
    start, duration : float
        Seconds the image spans (``start .. start + duration`` on the time axis).
    frequency_range : tuple of float
        Lowest and highest frequency row (Hz): the image's vertical extent.
    image_size : tuple of int
        ``(width, height)`` in pixels.
    sample_rate : int
        The rate the stretch was analysed at.
    decibel_limits : tuple of float
        The dB range mapped to white .. black.
    """

    png: bytes
    start: float
    duration: float
    frequency_range: tuple[float, float]
    image_size: tuple[int, int]
    sample_rate: int
    decibel_limits: tuple[float, float]


def auto_decibel_limits(
    values: np.ndarray, percentiles: tuple[float, float] = (50.0, 99.9)
) -> tuple[float, float]:
    """A dB range for a spectrogram from its own values: background white, calls dark.

    The low end is the median (most of a recording is background), the high end a high
    percentile (the loudest calls), rounded outwards to whole dB.
    """
    lo, hi = np.percentile(values, percentiles)
    lo, hi = math.floor(float(lo)), math.ceil(float(hi))
    return float(lo), float(max(hi, lo + 10))


def _pool_columns(values: np.ndarray, max_columns: int) -> np.ndarray:
    """Max over groups of adjacent columns so at most ``max_columns`` remain (calls stay)."""
    n = values.shape[1]
    k = math.ceil(n / max_columns)
    if k <= 1:
        return values
    pad = (-n) % k
    if pad:
        values = np.concatenate([values, values[:, -1:].repeat(pad, axis=1)], axis=1)
    return values.reshape(values.shape[0], -1, k).max(axis=2)


def render_stretch(
    audio_path,
    start: float,
    duration: float,
    sample_rate: int | None = None,
    window_samples: int = 512,
    overlap_samples: int = 256,
    decibel_limits: tuple[float, float] | str = (-100.0, -20.0),
    frequency_range: tuple[float, float] | None = None,
    max_columns: int = 1600,
) -> StretchView:
    """Read and draw only ``[start, start + duration)`` of a recording.

    Parameters
    ----------
    audio_path : str or path-like
        The recording.
    start, duration : float
        The stretch in seconds (read with an offset: the rest of the file is not decoded).
    sample_rate : int, optional
        Resample to this rate; ``None`` keeps the file's rate.
    window_samples, overlap_samples : int
        STFT frame length and overlap.
    decibel_limits : tuple of float or "auto"
        dB range mapped to white .. black; ``"auto"`` takes it from the stretch shown (see
        :func:`auto_decibel_limits`).
    frequency_range : tuple of float, optional
        Only show this band (Hz); default: 0 to half the sample rate.
    max_columns : int
        Widest image in pixels: a longer stretch keeps the loudest frame of each group of
        adjacent frames, so a long stretch is a small image and short calls stay visible.

    Returns
    -------
    StretchView

    Raises
    ------
    AudioLoadError
        The file is missing or unreadable, or ``start`` is past its end (naming the file).
    """
    audio = Audio.from_file(audio_path, sample_rate=sample_rate, offset=start, duration=duration)
    auto = isinstance(decibel_limits, str)
    if auto and decibel_limits != "auto":
        raise ValueError(f"decibel_limits must be (low, high) or 'auto', got {decibel_limits!r}")
    limits = (-250.0, 50.0) if auto else decibel_limits
    spec = Spectrogram.from_audio(audio, window_samples, overlap_samples, decibel_limits=limits)
    if frequency_range is not None:
        spec = spec.bandpass(float(frequency_range[0]), float(frequency_range[1]))
    if auto:
        spec = spec.limit_db(auto_decibel_limits(spec.values))
    values = _pool_columns(spec.values, max(int(max_columns), 1))
    spec = Spectrogram(values, spec.frequencies, spec.times[: values.shape[1]], spec.decibel_limits)
    height, width = values.shape
    return StretchView(
        png=spec.to_png_bytes(),
        start=float(start),
        duration=float(audio.duration),
        frequency_range=(float(spec.frequencies[0]), float(spec.frequencies[-1])),
        image_size=(int(width), int(height)),
        sample_rate=audio.sample_rate,
        decibel_limits=tuple(float(v) for v in spec.decibel_limits),
    )


def event_audio(
    audio_path,
    start: float,
    end: float,
    sample_rate: int | None = None,
    point_seconds: float = 0.05,
) -> Audio:
    """The sound of one event (or window): ``end - start`` seconds read from ``start``.

    A point event (``end == start``) plays ``point_seconds`` from its start, so there is
    something to hear.
    """
    if end < start:
        raise AnnotationError(f"{audio_path}: event ends at {end} s, before its start {start} s")
    duration = float(end) - float(start) if end > start else point_seconds
    return Audio.from_file(audio_path, sample_rate=sample_rate, offset=start, duration=duration)
