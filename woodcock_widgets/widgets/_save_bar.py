"""SaveBar: where to save, a Save button, and a line saying what the last Save wrote."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets

from ._tables import status_html

__all__ = ["SaveBar"]


class SaveBar(widgets.VBox):
    """A path box and a Save button on one line, the status line under them.

    Parameters
    ----------
    description : str
        Label of the path box (``"save as"``, ``"save to"``).
    value : str
        The path shown at first.
    button : str
        The button's text.
    on_save : callable
        Called (no arguments) by the button.
    """

    def __init__(self, description: str, value: str, button: str, on_save: Callable) -> None:
        self.path_text = widgets.Text(
            value=value, description=description, layout=widgets.Layout(width="60%")
        )
        self.save_button = widgets.Button(
            description=button, icon="save", layout=widgets.Layout(width="auto")
        )
        self.status_html = widgets.HTML()
        super().__init__([widgets.HBox([self.path_text, self.save_button]), self.status_html])
        self.save_button.on_click(lambda _: on_save())
        self._suggested = ""

    def suggest(self, path: str) -> None:
        """Show ``path`` in the path box, unless a user typed another one there."""
        if self.path_text.value in ("", self._suggested):
            self._suggested = self.path_text.value = path

    def show_status(self, text: str) -> None:
        """What the last Save wrote (``""``: nothing, or out of date)."""
        self.status_html.value = status_html(text, "ok") if text else ""

    def enable(self, enabled: bool, why_not: str = "") -> None:
        """Enable the button, or disable it with a tooltip saying why."""
        self.save_button.disabled = not enabled
        self.save_button.tooltip = "" if enabled else why_not
