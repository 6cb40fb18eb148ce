"""Sub-views of the LongRecordingView, one job each.

:class:`RecordingPicker` chooses the recording and says where the stretch is,
:class:`StretchControls` moves, zooms and sets the dB range, :class:`ClassFilter` picks the
classes drawn, :class:`EventLegend` counts them and :class:`PlayerRow` plays an event or
window; the plot is :class:`~woodcock_widgets.widgets._stretch_plot.StretchPlot`. Each owns
its controls; the view owns the state (its traits) and turns control changes into calls.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd

from ..errors import AnnotationError
from ..tables.long_view import event_audio
from ..tables.windows import WINDOW_COLUMNS
from ._parts import Syncing
from ._tables import legend_html, status_html

__all__ = [
    "ClassFilter",
    "PlayerRow",
    "RecordingPicker",
    "EventLegend",
    "StretchControls",
    "event_html",
    "window_html",
]

_WRAP = {"layout": widgets.Layout(flex_flow="row wrap")}


def _on_value(control, syncing: Syncing, callback: Callable) -> None:
    """Call ``callback(new value)`` when a user (not the sub-view itself) changes ``control``."""
    control.observe(lambda ch: None if syncing else callback(ch["new"]), names="value")


class RecordingPicker(widgets.HBox):
    """The recording shown (a dropdown, hidden for one) and where the stretch is in it.

    ``on_pick(path)`` is called when a user picks another recording than the one shown.
    """

    def __init__(self, recordings: Sequence[str], on_pick: Callable) -> None:
        self.recording_dropdown = widgets.Dropdown(
            options=[(Path(p).name, p) for p in recordings],
            description="recording",
            layout=widgets.Layout(width="28em", display=None if len(recordings) > 1 else "none"),
        )
        self.position = widgets.HTML()
        super().__init__([self.recording_dropdown, self.position], **_WRAP)
        self.syncing = Syncing()
        self.current: str | None = None
        _on_value(
            self.recording_dropdown,
            self.syncing,
            lambda path: None if path == self.current else on_pick(path),
        )

    def select(self, path: str, recordings: Sequence[str]) -> None:
        """Offer ``recordings`` and show ``path`` (without calling back)."""
        self.current = path
        options = tuple((Path(p).name, p) for p in recordings)
        with self.syncing:
            if tuple(tuple(o) for o in self.recording_dropdown.options) != options:
                self.recording_dropdown.options = options
            self.recording_dropdown.value = path

    def show_position(self, recording: str, start: float, end: float, total: float) -> None:
        """``name · start–end s of total s``."""
        name = html.escape(Path(recording).name)
        self.position.value = f"{name} · {start:.2f}–{end:.2f} s of {total:.2f} s"


class StretchControls(widgets.VBox):
    """Previous / next stretch, its start and length, zoom buttons and the dB range.

    Parameters
    ----------
    owner : StretchState
        The view: the buttons call its ``previous``, ``next`` and ``zoom``, the sliders set
        its ``start`` and ``duration``.
    guard : callable
        Wraps those callbacks (the owner's ``ErrorLog.guard``).
    on_decibels : callable
        Called with ``(low, high)`` when a user moves the dB slider.
    min_duration, max_duration : float
        Limits of the length slider.
    """

    def __init__(
        self,
        owner: Any,
        guard: Callable[[Callable], Callable],
        on_decibels: Callable,
        min_duration: float,
        max_duration: float,
    ) -> None:
        self.previous_button = widgets.Button(description="◀ previous", tooltip="previous stretch")
        self.next_button = widgets.Button(description="next ▶", tooltip="next stretch")
        self.start_slider = widgets.FloatSlider(
            0.0, min=0.0, max=0.0, step=0.1, description="start (s)", continuous_update=False
        )
        self.duration_slider = widgets.FloatSlider(
            10.0,
            min=min_duration,
            max=max_duration,
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
        super().__init__(
            [
                widgets.HBox([self.previous_button, self.next_button, self.start_slider], **_WRAP),
                widgets.HBox(
                    [
                        self.duration_slider,
                        self.zoom_in_button,
                        self.zoom_out_button,
                        self.decibel_slider,
                        self.decibel_label,
                    ],
                    **_WRAP,
                ),
            ]
        )
        self.syncing = Syncing()
        self.max_duration = float(max_duration)
        self.previous_button.on_click(guard(lambda _: owner.previous()))
        self.next_button.on_click(guard(lambda _: owner.next()))
        self.zoom_in_button.on_click(guard(lambda _: owner.zoom(0.5)))
        self.zoom_out_button.on_click(guard(lambda _: owner.zoom(2.0)))
        _on_value(self.start_slider, self.syncing, guard(lambda v: setattr(owner, "start", v)))
        _on_value(
            self.duration_slider, self.syncing, guard(lambda v: setattr(owner, "duration", v))
        )
        self.decibel_slider.observe(self._show_decibels, names="value")
        _on_value(self.decibel_slider, self.syncing, lambda v: on_decibels(tuple(map(float, v))))

    def _show_decibels(self, change) -> None:
        lo, hi = change["new"]
        self.decibel_label.value = f"{lo:.0f} to {hi:.0f} dB"

    def show(self, start: float, duration: float, total: float) -> None:
        """Put the sliders on the stretch ``start .. start + duration`` of ``total`` s."""
        with self.syncing:
            self.start_slider.max = max(total - duration, 0.0)
            self.start_slider.value = start
            self.duration_slider.max = min(self.max_duration, total)
            self.duration_slider.value = duration
        self.previous_button.disabled = start <= 0
        self.next_button.disabled = start + duration >= total - 1e-6
        self.start_slider.disabled = duration >= total - 1e-6

    def show_decibels(self, limits: tuple[float, float]) -> None:
        """Put the dB slider on ``limits`` (without calling back)."""
        with self.syncing:
            self.decibel_slider.value = limits


class ClassFilter(widgets.VBox):
    """The classes whose boxes are drawn, and an "all classes" button."""

    def __init__(self, classes: Sequence[str], on_pick: Callable, on_all: Callable) -> None:
        self.class_select = widgets.SelectMultiple(
            options=list(classes),
            rows=min(max(len(classes), 2), 6),
            description="classes",
            layout=widgets.Layout(width="14em"),
        )
        self.all_classes_button = widgets.Button(description="all classes")
        super().__init__([self.class_select, self.all_classes_button])
        self.syncing = Syncing()
        _on_value(self.class_select, self.syncing, lambda v: on_pick(list(v)))
        self.all_classes_button.on_click(lambda _: on_all())

    def show(self, classes: Sequence[str]) -> None:
        """Select ``classes`` (without calling back)."""
        with self.syncing:
            self.class_select.value = tuple(classes)


class EventLegend(widgets.HTML):
    """How many events are in view, and each shown class's colour and count."""

    def show(self, boxes: pd.DataFrame, n_events: int, colors: Mapping[str, str]) -> None:
        """Count ``boxes`` (in view) of ``n_events``, for the classes in ``colors``."""
        counts = boxes["label"].value_counts()
        self.value = legend_html(
            f"{len(boxes)} of {n_events} events in view:",
            {f"{c} ({counts.get(c, 0)})": color for c, color in colors.items()},
        )


class PlayerRow(widgets.HBox):
    """The player and a line saying what it holds: an event or a window of the recording.

    Attributes
    ----------
    played : tuple or None
        ``("event", id, start, end)`` or ``("window", None, start, end)``.
    """

    def __init__(self, sample_rate: int | None) -> None:
        self.audio = widgets.Audio(value=b"", format="wav", autoplay=False, loop=False)
        self.info = widgets.HTML(value="click a box to hear the event, elsewhere for the window")
        super().__init__([self.audio, self.info])
        self.sample_rate = sample_rate
        self.played: tuple | None = None

    def _play(self, recording: str, played: tuple, text: str) -> None:
        audio = event_audio(recording, played[2], played[3], self.sample_rate)
        self.audio.value = audio.to_wav_bytes()
        self.played = played
        self.info.value = text

    def play_event(self, recording: str, events: pd.DataFrame, event) -> tuple[float, float]:
        """Play one event (an id of ``events``, the recording's); return its start and end."""
        if event not in events.index:
            raise AnnotationError(f"{recording}: no event {event!r} in this recording")
        row = events.loc[event]
        a, b = float(row["start_time"]), float(row["end_time"])
        self._play(recording, ("event", event, a, b), event_html(event, row))
        return a, b

    def play_window(
        self, recording: str, start: float, end: float, windows: pd.DataFrame | None
    ) -> None:
        """Play the window ``[start, end)`` (its classes from ``windows``, if given)."""
        played = ("window", None, float(start), float(end))
        self._play(recording, played, window_html(start, end, windows))

    def clear(self) -> None:
        """An empty player."""
        self.audio.value = b""
        self.played = None


def window_html(start: float, end: float, windows: pd.DataFrame | None) -> str:
    """``window a–b s: classes`` (the classes of the window table's window starting at a)."""
    labels = ""
    if windows is not None:
        rows = windows[np.isclose(windows["start_time"], start)]
        classes = [c for c in rows.columns if c not in WINDOW_COLUMNS]
        if len(rows):
            labels = ", ".join(c for c in classes if rows.iloc[0][c]) or "no class"
    return status_html(f"window {start:.2f}–{end:.2f} s" + (f": {labels}" if labels else ""))


def event_html(event, row: pd.Series) -> str:
    """``event id: label · a–b s (length)`` and the annotation file and row it came from."""
    a, b = float(row["start_time"]), float(row["end_time"])
    where = f"{row['source_file']}, row {row['source_row']}" if "source_row" in row else ""
    text = f"event {event}: {row['label']} · {a:.3f}–{b:.3f} s ({b - a:.3f} s)"
    return status_html(text) + (
        f" <small>{html.escape(Path(str(where)).name)}</small>" if where else ""
    )
