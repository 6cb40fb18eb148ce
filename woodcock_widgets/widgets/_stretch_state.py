"""StretchState: which stretch of a recording a view shows, always inside the recording."""

from __future__ import annotations

import traitlets

from ..tables.long_view import clamp_stretch

__all__ = ["StretchState"]


class StretchState(traitlets.HasTraits):
    """``start`` and ``duration`` traits, clamped to the recording; next, previous and zoom.

    A mixin for a widget with ``total`` (the recording's length in seconds, ``None`` before
    one is chosen) and ``_limits`` (``min_duration`` and ``max_duration``, seconds).
    """

    start = traitlets.Float(0.0, help="Start of the stretch shown, in seconds.")
    duration = traitlets.Float(10.0, help="Length of the stretch shown, in seconds (the zoom).")

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

    def show_stretch(self, start: float, duration: float) -> None:
        """Show ``start .. start + duration`` s (clamped), notifying observers once."""
        s, d = clamp_stretch(start, duration, self.total, **self._limits)
        with self.hold_trait_notifications():
            self.duration, self.start = d, s

    def next(self) -> None:
        """Show the next stretch (the same length, starting where this one ends)."""
        self.start = self.start + self.duration

    def previous(self) -> None:
        """Show the previous stretch."""
        self.start = self.start - self.duration

    def zoom(self, factor: float) -> None:
        """Multiply the stretch length by ``factor`` (< 1 zooms in), keeping its centre."""
        centre, length = self.start + self.duration / 2, self.duration * factor
        self.show_stretch(centre - length / 2, length)
