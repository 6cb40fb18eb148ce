"""LongRecordingView: a long recording's spectrogram, stretch by stretch, with its annotations."""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from pathlib import Path

import bqplot as bq
import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets

from ..errors import AnnotationError, WoodcockError
from ..tables.annotations import read_annotations
from ..tables.long_view import (
    box_at,
    box_outline,
    clamp_stretch,
    class_colors,
    event_audio,
    event_boxes,
    events_for_recording,
    recording_duration,
    render_stretch,
    visible_events,
    window_at,
    window_edges,
)
from ..tables.windows import WINDOW_COLUMNS, read_window_table
from ._errors import ErrorLog
from ._plots import BLANK_PNG, set_spectrogram, show_png, spectrogram_figure
from ._tables import legend_html, status_html

__all__ = ["LongRecordingView"]

_EMPTY = np.zeros(0)
_SHOWN_ERRORS = (WoodcockError, ValueError, OSError)


def _outline_mark(scales: dict, color: str, label: str, width: float = 2.0, **kw) -> bq.Lines:
    """An empty line mark for NaN-separated outlines (see ``tables.long_view.box_outline``)."""
    return bq.Lines(
        x=_EMPTY, y=_EMPTY, scales=scales, colors=[color], labels=[label], stroke_width=width, **kw
    )


def _as_events(events, format: str, label_column: str | None) -> pd.DataFrame | None:
    if events is None or isinstance(events, pd.DataFrame):
        return events
    options = {} if label_column is None or format == "audacity" else {"label_column": label_column}
    return read_annotations(events, format, **options)


def _as_windows(windows) -> pd.DataFrame | None:
    if windows is None or isinstance(windows, pd.DataFrame):
        return windows
    return read_window_table(windows)


class LongRecordingView(widgets.VBox):
    """A long recording as a spectrogram, a stretch at a time, with its annotation boxes.

    Only the stretch shown is read and drawn (a 10-minute file is never decoded whole), with
    each event of the annotation table drawn as a box coloured by class: time from its start
    to its end, frequency from ``low_freq`` to ``high_freq`` (the full band where the table
    has none). Scroll with the previous/next buttons or the start slider, zoom with the length
    slider or the zoom buttons, filter classes with the list, and click a box to hear that
    event, or anywhere else to hear the window under the click. It is also how to check that
    a table lines up with its audio: the boxes should sit on the calls.

    Parameters
    ----------
    audio : path or sequence of paths
        The recording(s); with several, a dropdown chooses the one shown.
    events : pandas.DataFrame or path, optional
        An events table (:mod:`woodcock_widgets.tables.annotations`; with a ``path`` column
        after ``match_audio``, else matched by the ``file`` name or stem), or an annotation
        file or folder read with ``read_annotations(events, format, label_column=...)``.
    format : {"raven", "audacity", "csv"}
        Format of ``events`` when it is a path.
    label_column : str, optional
        Label column of ``events`` when it is a path (e.g. ``"Species"``).
    windows : pandas.DataFrame or path, optional
        A window table (``file, start_time, end_time`` + classes): its bounds are drawn and a
        click plays the window under it with its labels; default: back-to-back windows of
        ``clip_seconds``.
    start, duration : float
        The first stretch shown (seconds).
    classes : sequence of str, optional
        The classes shown at first (default: all).
    sample_rate : int, optional
        Analyse and play at this rate; default: each file's own.
    window_samples, overlap_samples : int
        STFT frame length and overlap.
    decibel_limits : tuple of float or "auto"
        dB range mapped to white .. black; ``"auto"`` takes it from the first stretch (then
        it stays, so stretches compare; the dB slider changes it).
    frequency_range : tuple of float, optional
        Band shown (Hz); default: 0 to half the sample rate.
    clip_seconds : float
        Window length when no window table is given.
    max_duration : float
        Longest stretch (s) the zoom allows.
    max_columns : int
        Widest spectrogram image in pixels (longer stretches are pooled).
    figure_height : str
        CSS height of the figure.

    Attributes
    ----------
    recording : str
        The audio file shown.
    total : float
        Its length in seconds.
    events : pandas.DataFrame
        Its events (index: event ids, as in the given table).
    boxes : pandas.DataFrame
        The boxes drawn now (``x0, x1, y0, y1, label``, index: event ids).
    view : StretchView or None
        The spectrogram shown (``None`` when the stretch could not be read).
    played : tuple or None
        ``("event", id, start, end)`` or ``("window", None, start, end)``: what the player holds.
    errors : ErrorLog
        Errors raised by the controls (also shown in the widget).

    Examples
    --------
    >>> from woodcock_widgets.widgets import LongRecordingView
    >>> view = LongRecordingView("rec1.wav", "rec1.Table.1.selections.txt")  # doctest: +SKIP
    >>> view                                      # display it in a notebook cell
    >>> view.start = 30; view.duration = 5        # the stretch 30-35 s
    >>> view.classes_shown = ["a", "b"]           # only the boxes of a and b
    >>> view.click(31.2, 4000)                    # hear the event (or window) under a point
    """

    start = traitlets.Float(0.0, help="Start of the stretch shown, in seconds.")
    duration = traitlets.Float(10.0, help="Length of the stretch shown, in seconds (the zoom).")
    classes_shown = traitlets.List(traitlets.Unicode(), help="Classes whose boxes are drawn.")
    selected_event = traitlets.Any(
        None, allow_none=True, help="Id (events index label) of the event in the player, or None."
    )

    @traitlets.validate("start")
    def _valid_start(self, proposal):
        total = getattr(self, "total", None)
        if total is None:
            return float(proposal["value"])
        return clamp_stretch(proposal["value"], self.duration, total, **self._limits)[0]

    @traitlets.validate("duration")
    def _valid_duration(self, proposal):
        total = getattr(self, "total", None)
        if total is None:
            return float(proposal["value"])
        return clamp_stretch(self.start, proposal["value"], total, **self._limits)[1]

    @traitlets.validate("classes_shown")
    def _valid_classes(self, proposal):
        unknown = [c for c in proposal["value"] if c not in getattr(self, "classes", [])]
        if unknown:
            raise traitlets.TraitError(f"unknown class(es) {unknown}; classes: {self.classes}")
        return [c for c in self.classes if c in proposal["value"]]  # class order

    def __init__(
        self,
        audio: str | os.PathLike | Sequence[str | os.PathLike],
        events: pd.DataFrame | str | os.PathLike | None = None,
        *,
        format: str = "raven",
        label_column: str | None = None,
        windows: pd.DataFrame | str | os.PathLike | None = None,
        start: float = 0.0,
        duration: float = 10.0,
        classes: Sequence[str] | None = None,
        sample_rate: int | None = None,
        window_samples: int = 512,
        overlap_samples: int = 256,
        decibel_limits: tuple[float, float] | str = "auto",
        frequency_range: tuple[float, float] | None = None,
        clip_seconds: float = 2.0,
        max_duration: float = 60.0,
        max_columns: int = 1600,
        figure_height: str = "320px",
    ) -> None:
        super().__init__()
        paths = [audio] if isinstance(audio, str | os.PathLike) else list(audio)
        if not paths:
            raise AnnotationError("LongRecordingView needs at least one audio file")
        self.recordings = [str(p) for p in paths]
        self.all_events = _as_events(events, format, label_column)
        self.windows = _as_windows(windows)
        labels = [] if self.all_events is None else self.all_events["label"].astype(str)
        self.classes = sorted(set(labels))
        self.colors = class_colors(self.classes)
        self.errors = ErrorLog()
        self._render_options = {
            "sample_rate": sample_rate,
            "window_samples": window_samples,
            "overlap_samples": overlap_samples,
            "decibel_limits": decibel_limits
            if isinstance(decibel_limits, str)
            else tuple(float(v) for v in decibel_limits),
            "frequency_range": frequency_range,
            "max_columns": max_columns,
        }
        self.sample_rate = sample_rate
        self.clip_seconds = float(clip_seconds)
        self._limits = {"min_duration": 0.25, "max_duration": float(max_duration)}
        self.view = None
        self.played = None
        self.boxes = event_boxes(pd.DataFrame(columns=["start_time", "end_time", "label"]), (0, 1))
        self._syncing = False
        self._rendered = None  # (recording, start, duration) drawn last
        self.total = None
        self._build(figure_height)
        self.classes_shown = list(self.classes if classes is None else classes)
        self.set_recording(self.recordings[0], start=start, duration=duration)
        self.observe(self.errors.guard(self._on_stretch), names=["start", "duration"])
        self.observe(self.errors.guard(lambda _: self._draw_boxes()), names="classes_shown")
        self.observe(self.errors.guard(self._on_selected), names="selected_event")

    # ------------------------------------------------------------------ layout
    def _build(self, figure_height: str) -> None:
        guard = self.errors.guard
        self.recording_dropdown = widgets.Dropdown(
            options=[(Path(p).name, p) for p in self.recordings],
            description="recording",
            layout=widgets.Layout(
                width="28em", display=None if len(self.recordings) > 1 else "none"
            ),
        )
        self.previous_button = widgets.Button(description="◀ previous", tooltip="previous stretch")
        self.next_button = widgets.Button(description="next ▶", tooltip="next stretch")
        self.start_slider = widgets.FloatSlider(
            0.0, min=0.0, max=0.0, step=0.1, description="start (s)", continuous_update=False
        )
        self.duration_slider = widgets.FloatSlider(
            10.0,
            min=self._limits["min_duration"],
            max=self._limits["max_duration"],
            step=0.25,
            description="length (s)",
            continuous_update=False,
        )
        self.decibel_slider = widgets.FloatRangeSlider(
            value=(-100.0, -20.0),
            min=-200.0,
            max=20.0,
            step=1.0,
            description="dB",
            continuous_update=False,
            readout=False,  # its box is too narrow for "-106 – -54": a label instead
        )
        self.decibel_label = widgets.HTML()
        narrow = {"layout": widgets.Layout(width="8em")}
        self.zoom_in_button = widgets.Button(description="zoom in", icon="search-plus", **narrow)
        self.zoom_out_button = widgets.Button(description="zoom out", icon="search-minus", **narrow)
        self.class_select = widgets.SelectMultiple(
            options=self.classes,
            rows=min(max(len(self.classes), 2), 6),
            description="classes",
            layout=widgets.Layout(width="14em"),
        )
        self.all_classes_button = widgets.Button(description="all classes")
        self.figure, self.image_mark = spectrogram_figure(figure_height)
        scales = self.image_mark.scales
        self.window_mark = _outline_mark(scales, "#888888", "windows", 1.0, line_style="dashed")
        self.box_marks = {c: _outline_mark(scales, self.colors[c], c) for c in self.classes}
        self.selection_mark = _outline_mark(scales, "#000000", "selected", 4.0)
        self.figure.marks = [
            self.image_mark,
            self.window_mark,
            *self.box_marks.values(),
            self.selection_mark,
        ]
        self.audio = widgets.Audio(value=b"", format="wav", autoplay=False, loop=False)
        self.position = widgets.HTML()
        self.legend = widgets.HTML()
        self.info = widgets.HTML(value="click a box to hear the event, elsewhere for the window")

        self.recording_dropdown.observe(guard(self._on_recording), names="value")
        self.previous_button.on_click(guard(lambda _: self.previous()))
        self.next_button.on_click(guard(lambda _: self.next()))
        self.zoom_in_button.on_click(guard(lambda _: self.zoom(0.5)))
        self.zoom_out_button.on_click(guard(lambda _: self.zoom(2.0)))
        self.start_slider.observe(guard(self._on_start_slider), names="value")
        self.duration_slider.observe(guard(self._on_duration_slider), names="value")
        self.decibel_slider.observe(guard(self._on_decibel_slider), names="value")
        self.class_select.observe(guard(self._on_class_select), names="value")
        self.all_classes_button.on_click(guard(lambda _: self.show_classes(None)))
        self.image_mark.on_element_click(guard(self._on_image_click))

        wrap = {"layout": widgets.Layout(flex_flow="row wrap")}
        self.children = [
            widgets.HBox([self.recording_dropdown, self.position], **wrap),
            widgets.HBox([self.previous_button, self.next_button, self.start_slider], **wrap),
            widgets.HBox(
                [
                    self.duration_slider,
                    self.zoom_in_button,
                    self.zoom_out_button,
                    self.decibel_slider,
                    self.decibel_label,
                ],
                **wrap,
            ),
            self.legend,
            widgets.HBox(
                [
                    widgets.VBox([self.figure], layout=widgets.Layout(flex="1 1 auto")),
                    widgets.VBox([self.class_select, self.all_classes_button]),
                ]
            ),
            widgets.HBox([self.audio, self.info]),
            self.errors.output,
        ]

    # ------------------------------------------------------------ public API
    def set_recording(self, path, start: float = 0.0, duration: float | None = None) -> None:
        """Show another recording (one of :attr:`recordings`, or any audio file)."""
        path = str(path)
        total = recording_duration(path)
        if path not in self.recordings:
            self.recordings.append(path)
            self.recording_dropdown.options = [(Path(p).name, p) for p in self.recordings]
        self.recording, self.total = path, total
        if self.all_events is None:
            self.events = pd.DataFrame(columns=["start_time", "end_time", "label"])
        else:
            self.events = events_for_recording(self.all_events, path)
            if self.events.empty:  # the check this view is for: does the table match?
                self.errors.warn(f"the events table has no event of {Path(path).name}")
        if self.windows is not None:
            mine = self.windows["file"].map(lambda f: os.path.abspath(f)) == os.path.abspath(path)
            self._windows = self.windows[mine.to_numpy()]
        else:
            self._windows = None
        self._syncing = True
        try:
            self.recording_dropdown.value = path
        finally:
            self._syncing = False
        self.selected_event = None
        self._clear_player()
        s, d = clamp_stretch(
            start, self.duration if duration is None else duration, total, **self._limits
        )
        with self.hold_trait_notifications():
            self.duration = d
            self.start = s
        self._render()  # when the stretch is the same as before, on another recording

    def next(self) -> None:
        """Show the next stretch (the same length, starting where this one ends)."""
        self.start = self.start + self.duration

    def previous(self) -> None:
        """Show the previous stretch."""
        self.start = self.start - self.duration

    def zoom(self, factor: float) -> None:
        """Multiply the stretch length by ``factor`` (< 1 zooms in), keeping its centre."""
        centre = self.start + self.duration / 2
        s, d = clamp_stretch(
            centre - self.duration * factor / 2, self.duration * factor, self.total, **self._limits
        )
        with self.hold_trait_notifications():
            self.duration = d
            self.start = s

    def show_classes(self, classes: Sequence[str] | None = None) -> None:
        """Draw the boxes of these classes only; ``None`` draws all."""
        self.classes_shown = list(self.classes if classes is None else classes)

    def click(self, x: float, y: float | None = None) -> tuple | None:
        """Play what is under the point ``(x s, y Hz)``: a box's event, else the window.

        Returns
        -------
        tuple or None
            :attr:`played`; ``None`` when nothing is there (past the end, between windows).
        """
        event = box_at(self.boxes, x, y)
        if event is not None:
            if event == self.selected_event:
                self._play_event(event)  # a second click plays it again
            else:
                self.selected_event = event
            return self.played
        window = window_at(x, self.total, self._windows, self.clip_seconds)
        if window is None:
            return None
        self.play_window(*window)
        return self.played

    def play_event(self, event) -> None:
        """Put one event (an id of :attr:`events`) in the player and outline it."""
        if event == self.selected_event:
            self._play_event(event)
        else:
            self.selected_event = event

    def play_window(self, start: float, end: float) -> None:
        """Put the window ``[start, end)`` of the recording in the player and outline it."""
        self.selected_event = None
        audio = event_audio(self.recording, start, end, self.sample_rate)
        self.audio.value = audio.to_wav_bytes()
        self.played = ("window", None, float(start), float(end))
        self._outline_selection()
        labels = ""
        if self._windows is not None:
            rows = self._windows[np.isclose(self._windows["start_time"], start)]
            classes = [c for c in rows.columns if c not in WINDOW_COLUMNS]
            if len(rows):
                labels = ", ".join(c for c in classes if rows.iloc[0][c]) or "no class"
        text = f"window {start:.2f}–{end:.2f} s" + (f": {labels}" if labels else "")
        self.info.value = status_html(text)

    # -------------------------------------------------------------- handlers
    def _on_recording(self, change) -> None:
        if not self._syncing and change["new"] != self.recording:
            self.set_recording(change["new"])

    def _on_stretch(self, change) -> None:
        if change["name"] == "duration":  # a new length may push the start back
            self.start = self.start
        self._render()

    def _on_start_slider(self, change) -> None:
        if not self._syncing:
            self.start = change["new"]

    def _on_duration_slider(self, change) -> None:
        if not self._syncing:
            self.duration = change["new"]

    def _on_decibel_slider(self, change) -> None:
        lo, hi = change["new"]
        self.decibel_label.value = f"{lo:.0f} to {hi:.0f} dB"
        if not self._syncing:
            self._render_options["decibel_limits"] = tuple(float(v) for v in change["new"])
            self._rendered = None
            self._render()

    def _on_class_select(self, change) -> None:
        if not self._syncing:
            self.classes_shown = list(change["new"])

    def _on_image_click(self, mark, content) -> None:
        data = (content or {}).get("data") or {}
        if "click_x" in data:
            self.click(float(data["click_x"]), float(data["click_y"]))

    def _on_selected(self, change) -> None:
        if change["new"] is None:
            if self.played and self.played[0] == "event":
                self._clear_player()
            return
        self._play_event(change["new"])

    def _play_event(self, event) -> None:
        if event not in self.events.index:
            raise AnnotationError(f"{self.recording}: no event {event!r} in this recording")
        row = self.events.loc[event]
        a, b = float(row["start_time"]), float(row["end_time"])
        if b < self.start or a > self.start + self.duration:  # bring it into view
            self.start = a - max(self.duration - (b - a), 0) / 2
        audio = event_audio(self.recording, a, b, self.sample_rate)
        self.audio.value = audio.to_wav_bytes()
        self.played = ("event", event, a, b)
        self._outline_selection()
        where = f"{row['source_file']}, row {row['source_row']}" if "source_row" in row else ""
        text = f"event {event}: {row['label']} · {a:.3f}–{b:.3f} s ({b - a:.3f} s)"
        self.info.value = status_html(text) + (
            f" <small>{html.escape(Path(str(where)).name)}</small>" if where else ""
        )

    def _clear_player(self) -> None:
        self.audio.value = b""
        self.played = None
        if getattr(self, "selection_mark", None) is not None:
            self._outline_selection()

    # ------------------------------------------------------------- rendering
    def _band(self) -> tuple[float, float]:
        if self.view is not None:
            return self.view.frequency_range
        fr = self._render_options["frequency_range"]
        return (0.0, 1.0) if fr is None else (float(fr[0]), float(fr[1]))

    def _sync_controls(self) -> None:
        self._syncing = True
        try:
            self.start_slider.max = max(self.total - self.duration, 0.0)
            self.start_slider.value = self.start
            self.duration_slider.max = min(self._limits["max_duration"], self.total)
            self.duration_slider.value = self.duration
            self.class_select.value = tuple(self.classes_shown)
        finally:
            self._syncing = False
        self.previous_button.disabled = self.start <= 0
        self.next_button.disabled = self.start + self.duration >= self.total - 1e-6
        self.start_slider.disabled = self.duration >= self.total - 1e-6

    def _render(self) -> None:
        """Read and draw the stretch, then the boxes and windows on it (once per stretch)."""
        key = (self.recording, self.start, self.duration)
        if key == self._rendered:
            return
        self._rendered = key
        self._sync_controls()
        end = self.start + self.duration
        name = html.escape(Path(self.recording).name)
        self.position.value = f"{name} · {self.start:.2f}–{end:.2f} s of {self.total:.2f} s"
        try:
            self.view = render_stretch(
                self.recording, self.start, self.duration, **self._render_options
            )
        except _SHOWN_ERRORS as exc:
            self.view = None
            show_png(self.image_mark, BLANK_PNG)
            self.errors.report(exc)
            return
        # "auto" dB limits are taken from the first stretch, then kept: stretches compare
        self._render_options["decibel_limits"] = self.view.decibel_limits
        self._syncing = True
        try:
            self.decibel_slider.value = self.view.decibel_limits
        finally:
            self._syncing = False
        set_spectrogram(self.image_mark, self.view.png, (self.start, end), self._band())
        self._draw_windows()
        self._draw_boxes()

    def _draw_windows(self) -> None:
        x, y = window_edges(
            self.start, self.duration, self._band(), self._windows, self.clip_seconds
        )
        with self.window_mark.hold_sync():
            self.window_mark.x, self.window_mark.y = x, y

    def _draw_boxes(self) -> None:
        self._sync_controls()
        shown = visible_events(self.events, self.start, self.duration, self.classes_shown)
        self.boxes = event_boxes(shown, self._band())
        for c, mark in self.box_marks.items():
            x, y = box_outline(self.boxes[self.boxes["label"] == c])
            with mark.hold_sync():
                mark.x, mark.y = x, y
                mark.visible = c in self.classes_shown
        counts = self.boxes["label"].value_counts()
        self.legend.value = legend_html(
            f"{len(self.boxes)} of {len(self.events)} events in view:",
            {f"{c} ({counts.get(c, 0)})": self.colors[c] for c in self.classes_shown},
        )
        self._outline_selection()

    def _outline_selection(self) -> None:
        x, y = _EMPTY, _EMPTY
        if self.played is not None and self.view is not None:
            kind, event, a, b = self.played
            if kind == "event" and event in self.boxes.index:
                x, y = box_outline(self.boxes.loc[[event]])
            elif kind == "window":
                lo, hi = self._band()
                x, y = box_outline(pd.DataFrame({"x0": [a], "x1": [b], "y0": [lo], "y1": [hi]}))
        with self.selection_mark.hold_sync():
            self.selection_mark.x, self.selection_mark.y = x, y
