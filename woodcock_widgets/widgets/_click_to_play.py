"""ClickToPlay: what a click on a long recording's stretch plays, and the player's outline.

A mixin of :class:`~woodcock_widgets.widgets.long_recording.LongRecordingView`: a click on a
box plays its event, anywhere else the window under it (:mod:`woodcock_widgets.tables.
long_view` finds which); the event in the player is the view's ``selected_event`` trait, and
playing one outside the stretch scrolls it into view. The view provides ``boxes``, ``events``,
``recording``, ``total``, ``clip_seconds``, ``start``/``duration``, its ``player``
(:class:`~._long_recording_parts.PlayerRow`), ``plot`` (:class:`~._stretch_plot.StretchPlot`)
and ``_source`` (:class:`~._recordings.Recordings`).
"""

from __future__ import annotations

from ..tables.long_view import box_at, window_at

__all__ = ["ClickToPlay"]


class ClickToPlay:
    """Click, event and window playback of a long-recording view (module docstring)."""

    def click(self, x: float, y: float | None = None) -> tuple | None:
        """Play what is under the point ``(x s, y Hz)``: a box's event, else the window.

        Returns
        -------
        tuple or None
            :attr:`played`; ``None`` when nothing is there (past the end, between windows).
        """
        event = box_at(self.boxes, x, y)
        window = window_at(x, self.total, self._source.recording_windows, self.clip_seconds)
        if event is not None:
            self.play_event(event)
        elif window is not None:
            self.play_window(*window)
        return self.played if event is not None or window is not None else None

    def play_event(self, event) -> None:
        """Put one event (an id of :attr:`events`) in the player and outline it."""
        if event == self.selected_event:
            self._play_event(event)  # a second click plays it again
        else:
            self.selected_event = event

    def play_window(self, start: float, end: float) -> None:
        """Put the window ``[start, end)`` of the recording in the player and outline it."""
        self.selected_event = None
        self.player.play_window(self.recording, start, end, self._source.recording_windows)
        self.plot.outline(self.played)

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
        a, b = self.player.play_event(self.recording, self.events, event)
        if b < self.start or a > self.start + self.duration:  # bring it into view
            self.start = a - max(self.duration - (b - a), 0) / 2
        self.plot.outline(self.played)

    def _clear_player(self) -> None:
        self.player.clear()
        self.plot.outline(self.played)
