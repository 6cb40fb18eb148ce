"""StretchPlot: a stretch of a long recording drawn with its windows, events and selection."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import bqplot as bq
import ipywidgets as widgets
import numpy as np
import pandas as pd

from ..tables.long_view import (
    StretchView,
    box_outline,
    event_boxes,
    render_stretch,
    visible_events,
    window_edges,
)
from ._plots import BLANK_PNG, set_spectrogram, show_png, spectrogram_figure

__all__ = ["StretchPlot"]

_EMPTY = np.zeros(0)


def _outline_mark(scales: dict, color: str, label: str, width: float = 2.0, **kw) -> bq.Lines:
    """An empty line mark for NaN-separated outlines (see ``tables.long_view.box_outline``)."""
    return bq.Lines(
        x=_EMPTY, y=_EMPTY, scales=scales, colors=[color], labels=[label], stroke_width=width, **kw
    )


def _draw(mark: bq.Lines, x, y, **kw) -> None:
    with mark.hold_sync():
        mark.x, mark.y = x, y
        for name, value in kw.items():
            setattr(mark, name, value)


class StretchPlot(widgets.VBox):
    """A stretch's spectrogram with outlines: windows, a mark per class, the selection.

    Parameters
    ----------
    colors : mapping of str to str
        Class → colour of its boxes.
    figure_height : str
        CSS height of the figure.
    options : dict
        Keywords of :func:`~woodcock_widgets.tables.long_view.render_stretch`; ``"auto"`` dB
        limits are replaced by the first stretch's, then kept, so stretches compare.

    Attributes
    ----------
    view : StretchView or None
        The spectrogram drawn (``None`` when the stretch could not be read).
    boxes : pandas.DataFrame
        The event boxes drawn (``x0, x1, y0, y1, label``, index: event ids).
    """

    def __init__(self, colors: Mapping[str, str], figure_height: str, options: dict) -> None:
        self.figure, self.image_mark = spectrogram_figure(figure_height)
        scales = self.image_mark.scales
        self.window_mark = _outline_mark(scales, "#888888", "windows", 1.0, line_style="dashed")
        self.box_marks = {c: _outline_mark(scales, color, c) for c, color in colors.items()}
        self.selection_mark = _outline_mark(scales, "#000000", "selected", 4.0)
        self.figure.marks = [
            self.image_mark,
            self.window_mark,
            *self.box_marks.values(),
            self.selection_mark,
        ]
        super().__init__([self.figure], layout=widgets.Layout(flex="1 1 auto"))
        self.options: dict[str, Any] = dict(options)
        if not isinstance(self.options["decibel_limits"], str):
            self.options["decibel_limits"] = tuple(float(v) for v in options["decibel_limits"])
        self.view: StretchView | None = None
        self.boxes = event_boxes(pd.DataFrame(columns=["start_time", "end_time", "label"]), (0, 1))

    @property
    def band(self) -> tuple[float, float]:
        """The frequency band drawn (Hz)."""
        if self.view is not None:
            return self.view.frequency_range
        fr = self.options["frequency_range"]
        return (0.0, 1.0) if fr is None else (float(fr[0]), float(fr[1]))

    def render(
        self,
        recording: str,
        start: float,
        duration: float,
        windows: pd.DataFrame | None,
        clip_seconds: float,
    ) -> StretchView:
        """Read and draw the stretch and its windows (a blank plot when it cannot be read)."""
        try:
            self.view = render_stretch(recording, start, duration, **self.options)
        except Exception:
            self.view = None
            show_png(self.image_mark, BLANK_PNG)
            raise
        self.options["decibel_limits"] = self.view.decibel_limits
        set_spectrogram(self.image_mark, self.view.png, (start, start + duration), self.band)
        _draw(self.window_mark, *window_edges(start, duration, self.band, windows, clip_seconds))
        return self.view

    def draw_events(
        self, events: pd.DataFrame, start: float, duration: float, classes: Sequence[str]
    ) -> pd.DataFrame:
        """Outline the events of ``classes`` in the stretch; return their :attr:`boxes`."""
        shown = visible_events(events, start, duration, classes)
        self.boxes = event_boxes(shown, self.band)
        for c, mark in self.box_marks.items():
            x, y = box_outline(self.boxes[self.boxes["label"] == c])
            _draw(mark, x, y, visible=c in classes)
        return self.boxes

    def outline(self, played: tuple | None) -> None:
        """Outline what the player holds: ``("event", id, a, b)`` or ``("window", _, a, b)``."""
        kind, event, a, b = played or (None, None, 0.0, 0.0)
        x, y = _EMPTY, _EMPTY
        if self.view is None:
            pass
        elif kind == "event" and event in self.boxes.index:
            x, y = box_outline(self.boxes.loc[[event]])
        elif kind == "window":
            lo, hi = self.band
            x, y = box_outline(pd.DataFrame({"x0": [a], "x1": [b], "y0": [lo], "y1": [hi]}))
        _draw(self.selection_mark, x, y)
