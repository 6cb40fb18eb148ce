"""LongRecordingView: a long recording's spectrogram, stretch by stretch, with its annotations.

A view composed of sub-views (:mod:`._long_recording_parts`, :mod:`._stretch_plot`) over the
recordings and their tables (:mod:`._recordings`): the view holds the state in traits and
wires the sub-views to the core (:mod:`woodcock_widgets.tables.long_view`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import ipywidgets as widgets
import pandas as pd
import traitlets

from ..errors import WoodcockError
from ._click_to_play import ClickToPlay
from ._errors import ErrorLog
from ._long_recording_parts import (
    ClassFilter,
    EventLegend,
    PlayerRow,
    RecordingPicker,
    StretchControls,
)
from ._parts import Part
from ._recordings import Recordings
from ._stretch_plot import StretchPlot
from ._stretch_state import StretchState

__all__ = ["LongRecordingView"]

_SHOWN_ERRORS = (WoodcockError, ValueError, OSError)


class LongRecordingView(StretchState, ClickToPlay, widgets.VBox):
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

    # start, duration (traits), next, previous, zoom: see StretchState; click, play_event,
    # play_window: see ClickToPlay
    classes_shown = traitlets.List(traitlets.Unicode(), help="Classes whose boxes are drawn.")
    selected_event = traitlets.Any(
        None, allow_none=True, help="Id (events index label) of the event in the player, or None."
    )

    # child controls by role, owned by the sub-view that wires them
    recording_dropdown, position = Part.of("picker", 2)
    previous_button, next_button, start_slider, duration_slider = Part.of("controls", 4)
    zoom_in_button, zoom_out_button, decibel_slider, decibel_label = Part.of("controls", 4)
    figure, image_mark, window_mark, box_marks, selection_mark = Part.of("plot", 5)
    view, boxes = Part.of("plot", 2)
    class_select, all_classes_button = Part.of("class_filter", 2)
    audio, info, played, sample_rate = Part.of("player", 4)
    recordings, all_events, windows, classes, colors = Part.of("_source", 5)
    recording, total, events = Part.of("_source", 3)

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
        self._source = Recordings(audio, events, format, label_column, windows)
        self.errors = ErrorLog()
        self.clip_seconds = float(clip_seconds)
        self._limits = {"min_duration": 0.25, "max_duration": float(max_duration)}
        self._rendered = None  # (recording, start, duration) drawn last
        options = {"sample_rate": sample_rate, "window_samples": window_samples}
        options.update(overlap_samples=overlap_samples, decibel_limits=decibel_limits)
        options.update(frequency_range=frequency_range, max_columns=max_columns)
        self._build(figure_height, options, sample_rate)
        self.classes_shown = list(self.classes if classes is None else classes)
        self.set_recording(self.recordings[0], start=start, duration=duration)
        self.observe(self.errors.guard(self._on_stretch), names=["start", "duration"])
        self.observe(self.errors.guard(lambda _: self._draw_boxes()), names="classes_shown")
        self.observe(self.errors.guard(self._on_selected), names="selected_event")

    def _build(self, figure_height: str, options: dict, sample_rate: int | None) -> None:
        guard = self.errors.guard
        self.picker = RecordingPicker(self.recordings, guard(self.set_recording))
        self.controls = StretchControls(self, guard, guard(self._on_decibels), **self._limits)
        self.plot = StretchPlot(self.colors, figure_height, options)
        self.class_filter = ClassFilter(
            self.classes, guard(self.show_classes), guard(lambda: self.show_classes(None))
        )
        self.player = PlayerRow(sample_rate)
        self.legend = EventLegend()
        self.image_mark.on_element_click(guard(self._on_image_click))
        self.children = [
            self.picker,
            self.controls,
            self.legend,
            widgets.HBox([self.plot, self.class_filter]),
            self.player,
            self.errors.output,
        ]

    # ------------------------------------------------------------ public API
    def set_recording(self, path, start: float = 0.0, duration: float | None = None) -> None:
        """Show another recording (one of :attr:`recordings`, or any audio file)."""
        warning = self._source.select(path)
        if warning:
            self.errors.warn(warning)
        self.picker.select(self.recording, self.recordings)
        self.selected_event = None
        self._clear_player()
        self.show_stretch(start, self.duration if duration is None else duration)
        self._render()  # when the stretch is the same as before, on another recording

    def show_classes(self, classes: Sequence[str] | None = None) -> None:
        """Draw the boxes of these classes only; ``None`` draws all."""
        self.classes_shown = list(self.classes if classes is None else classes)

    # -------------------------------------------------------------- wiring
    def _on_stretch(self, change) -> None:
        if change["name"] == "duration":  # a new length may push the start back
            self.start = self.start
        self._render()

    def _on_decibels(self, limits: tuple[float, float]) -> None:
        self.plot.options["decibel_limits"] = limits
        self._rendered = None
        self._render()

    # ------------------------------------------------------------- drawing
    def _sync_controls(self) -> None:
        self.controls.show(self.start, self.duration, self.total)
        self.class_filter.show(self.classes_shown)

    def _render(self) -> None:
        """Read and draw the stretch, then the boxes and windows on it (once per stretch)."""
        key = (self.recording, self.start, self.duration)
        if key == self._rendered:
            return
        self._rendered = key
        self._sync_controls()
        end = self.start + self.duration
        self.picker.show_position(self.recording, self.start, end, self.total)
        try:
            view = self.plot.render(*key, self._source.recording_windows, self.clip_seconds)
        except _SHOWN_ERRORS as exc:
            self.errors.report(exc)
            return
        self.controls.show_decibels(view.decibel_limits)
        self._draw_boxes()

    def _draw_boxes(self) -> None:
        self._sync_controls()
        self.plot.draw_events(self.events, self.start, self.duration, self.classes_shown)
        colors = {c: self.colors[c] for c in self.classes_shown}
        self.legend.show(self.boxes, len(self.events), colors)
        self.plot.outline(self.played)
