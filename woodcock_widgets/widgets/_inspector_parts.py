"""Sub-views of the SpectrogramInspector, one job each.

:class:`ClipNavigator` moves between clips, :class:`FilterBar` picks the rows browsed,
:class:`ContrastPanel` holds the dB and band sliders with their readouts, :class:`ClipPane`
shows one clip (spectrogram, player, labels). The grid of clips is
:class:`~woodcock_widgets.widgets._clip_grid.ClipGrid`. Each owns its controls; the inspector
owns the state (its traits) and turns control changes into calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import ipywidgets as widgets
import pandas as pd

from ..audio.clip import Audio
from ..tables.browse import ClipView, distinct_values
from ._clip_source import CLIP_ERRORS
from ._parts import Syncing
from ._plots import BLANK_PNG, set_spectrogram, show_png, spectrogram_figure
from ._tables import mapping_html, messages_html

__all__ = ["ALL_ROWS", "ClipNavigator", "ClipPane", "ContrastPanel", "FilterBar", "db_text"]

#: The filter column dropdown's "no filter" entry.
ALL_ROWS = "(all rows)"


def db_text(value: float) -> str:
    """A dB value as the readouts write it: no decimals for whole numbers."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


class ClipNavigator(widgets.HBox):
    """Previous and next buttons, a clip slider (1-based) and the "clip N of M" line.

    Parameters
    ----------
    on_previous, on_next : callable
        Called (no arguments) by the buttons.
    on_pick : callable
        Called with the 0-based position a user picks on the slider.
    """

    def __init__(self, on_previous: Callable, on_next: Callable, on_pick: Callable) -> None:
        self.previous_button = widgets.Button(description="◀ previous", tooltip="previous clip")
        self.next_button = widgets.Button(description="next ▶", tooltip="next clip")
        # 1-based, like the "clip N of M" line beside it
        self.clip_slider = widgets.IntSlider(
            1, min=1, max=1, description="clip", continuous_update=False
        )
        self.position_html = widgets.HTML()
        super().__init__(
            [self.previous_button, self.next_button, self.clip_slider, self.position_html]
        )
        self.syncing = Syncing()
        self.previous_button.on_click(lambda _: on_previous())
        self.next_button.on_click(lambda _: on_next())
        self.clip_slider.observe(
            lambda ch: None if self.syncing else on_pick(ch["new"] - 1), names="value"
        )

    def set_count(self, n: int) -> None:
        """Browse ``n`` clips (the slider is disabled for one or none)."""
        with self.syncing:
            self.clip_slider.max = max(n, 1)
            self.clip_slider.disabled = n <= 1

    def show(self, index: int, n: int, text: str) -> None:
        """Show position ``index`` of ``n`` and the position line ``text`` (HTML)."""
        with self.syncing:
            self.clip_slider.value = min(index + 1, self.clip_slider.max)
        self.previous_button.disabled = index <= 0
        self.next_button.disabled = index >= n - 1
        self.position_html.value = text


class FilterBar(widgets.HBox):
    """A label column and the value its rows must have ("(all rows)": no filter).

    Parameters
    ----------
    on_change : callable
        Called with ``(column, value)`` when a user picks a column (value ``None``: the
        caller picks one) or a value.
    """

    def __init__(self, on_change: Callable) -> None:
        self.filter_column_dropdown = widgets.Dropdown(description="filter", options=[ALL_ROWS])
        self.filter_value_dropdown = widgets.Dropdown(
            description="equals", options=[], disabled=True
        )
        super().__init__([self.filter_column_dropdown, self.filter_value_dropdown])
        self.syncing = Syncing()
        self.filter_column_dropdown.observe(
            lambda ch: None if self.syncing else on_change(self._column(ch["new"]), None),
            names="value",
        )
        self.filter_value_dropdown.observe(
            lambda ch: (
                None
                if self.syncing or ch["new"] is None
                else on_change(self._column(self.filter_column_dropdown.value), ch["new"])
            ),
            names="value",
        )

    @staticmethod
    def _column(option: str) -> str | None:
        return None if option == ALL_ROWS else option

    def offer(self, df: pd.DataFrame, columns: list[str], column: str | None) -> None:
        """Offer ``columns`` (of a new table ``df``), showing ``column``'s values."""
        with self.syncing:
            self.filter_column_dropdown.options = [ALL_ROWS, *columns]
            self.filter_column_dropdown.value = column or ALL_ROWS
            self._fill_values(df, column)

    def select(self, df: pd.DataFrame, column: str | None, value: str | None) -> None:
        """Show the filter ``column == value`` (without calling back)."""
        with self.syncing:
            options = self.filter_column_dropdown.options
            if column is not None and column not in options:
                self.filter_column_dropdown.options = [*options, column]
            self.filter_column_dropdown.value = column if column is not None else ALL_ROWS
            self._fill_values(df, column)
            if column is not None:
                self.filter_value_dropdown.value = value

    def _fill_values(self, df: pd.DataFrame, column: str | None) -> None:
        if column is None:
            self.filter_value_dropdown.options = []
            self.filter_value_dropdown.disabled = True
        else:
            self.filter_value_dropdown.options = distinct_values(df, column)
            self.filter_value_dropdown.disabled = False


class ContrastPanel(widgets.HBox):
    """The dB range and frequency band sliders, each with a readout line.

    The sliders' own readouts are too narrow for "-100 – -20"; an HTML line says it.
    """

    def __init__(self, db_range, frequency_range, nyquist: float) -> None:
        self.db_slider = widgets.FloatRangeSlider(
            value=db_range,
            min=-160.0,
            max=0.0,
            step=1.0,
            description="dB",
            continuous_update=False,
            readout=False,
        )
        self.db_readout = widgets.HTML()
        self.frequency_slider = widgets.FloatRangeSlider(
            value=frequency_range,
            min=0.0,
            max=nyquist,
            step=50.0,
            description="Hz",
            continuous_update=False,
            readout=False,
        )
        self.frequency_readout = widgets.HTML()
        super().__init__(
            [self.db_slider, self.db_readout, self.frequency_slider, self.frequency_readout],
            layout=widgets.Layout(align_items="center"),
        )

    def show(self, db_range, frequency_range, clip: ClipView | None) -> None:
        """Write the readouts (and where a clip's loudest sound is below the ceiling)."""
        floor, ceiling = db_range
        text = f"floor {db_text(floor)} dB · ceiling {db_text(ceiling)} dB"
        if clip is not None and clip.above_floor and clip.peak_db < ceiling:
            text += f"<br><small>black: this clip's loudest, {db_text(clip.peak_db)} dB</small>"
        self.db_readout.value = text
        lo, hi = frequency_range
        self.frequency_readout.value = f"{lo:.0f} – {hi:.0f} Hz"


class ClipPane(widgets.HBox):
    """One clip: its spectrogram, a player and a message line, its labels beside them.

    Attributes
    ----------
    clip : ClipView or None
        What is drawn (``None`` when the clip could not be read or drawn).
    error : str or None
        Why the clip could not be read or drawn.
    """

    def __init__(self, figure_height: str) -> None:
        self.figure, self.image_mark = spectrogram_figure(figure_height)
        self.audio = widgets.Audio(value=b"", format="wav", autoplay=False, loop=False)
        self.message_html = widgets.HTML()
        self.labels_html = widgets.HTML(layout=widgets.Layout(min_width="14em"))
        super().__init__(
            [
                widgets.VBox(
                    [self.figure, self.audio, self.message_html],
                    layout=widgets.Layout(flex="1 1 auto", width="70%"),
                ),
                self.labels_html,
            ]
        )
        self.clip: ClipView | None = None
        self.error: str | None = None
        self._loaded: Audio | None = None

    def load(self, labels: Mapping, read: Callable[[], Audio]) -> bool:
        """Show a row's labels (column → value) and read its clip; ``False``: unreadable."""
        self.labels_html.value = mapping_html(labels, "column", "value")
        try:
            self._loaded = read()
        except CLIP_ERRORS as exc:
            self._loaded = None
            self.show_error(str(exc))
            return False
        return True

    def redraw(self, render: Callable[..., ClipView], *args) -> bool:
        """Draw the clip read last (``render(audio, *args)``), play it; ``False``: not drawn."""
        if self._loaded is None:
            return False
        try:
            view = render(self._loaded, *args)
        except CLIP_ERRORS as exc:
            self.show_error(str(exc))
            return False
        self.clip, self.error = view, None
        floor = view.decibel_limits[0]
        self.message_html.value = (
            ""
            if view.above_floor
            else messages_html(
                [
                    f"all of this clip is quieter than the floor ({db_text(floor)} dB): "
                    "lower the floor to see it"
                ],
                "warning",
            )
        )
        set_spectrogram(self.image_mark, view.png, (0.0, view.duration), view.frequency_range)
        self.audio.value = view.wav
        return True

    def clear(self) -> None:
        """No clip: no labels, a blank plot and an empty player."""
        self._loaded = None
        self.labels_html.value = ""
        self.show_error(None)

    def show_error(self, text: str | None) -> None:
        """Why the clip cannot be shown (``None``: nothing to show); blank plot and player."""
        self.clip, self.error = None, text
        self.message_html.value = messages_html([text], "error") if text else ""
        show_png(self.image_mark, BLANK_PNG)
        self.audio.value = b""
