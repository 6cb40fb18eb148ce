"""SpectrogramInspector: browse the clips of a label table as spectrograms you can hear."""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from pathlib import Path

import ipywidgets as widgets
import pandas as pd
import traitlets

from ..audio.clip import Audio
from ..audio.preprocessing import Preprocessing
from ..errors import LabelError, WoodcockError
from ..tables.browse import (
    ClipView,
    distinct_values,
    filter_rows,
    load_audio,
    n_pages,
    page_rows,
    render_clip,
)
from ..tables.labels import read_labels
from ._errors import ErrorLog
from ._plots import BLANK_PNG, set_spectrogram, show_png, spectrogram_figure
from ._tables import mapping_html, messages_html

__all__ = ["SpectrogramInspector"]

_ALL = "(all rows)"
# What a clip that cannot be shown raises; the inspector reports it and keeps browsing.
_CLIP_ERRORS = (WoodcockError, ValueError, OSError)


def _as_table(df: pd.DataFrame | str | os.PathLike, filename_column: str) -> pd.DataFrame:
    if isinstance(df, pd.DataFrame):
        table = df
    else:
        table = read_labels(df, filename_column=filename_column, check_files=False)
    if filename_column not in table.columns:
        raise LabelError(f"table has no column {filename_column!r}; it has {list(table.columns)}")
    if not table.index.is_unique:
        table = table.reset_index(drop=True)
    return table


class SpectrogramInspector(widgets.VBox):
    """Browse a label table clip by clip: spectrogram, audio player and the row's labels.

    Parameters
    ----------
    df : pandas.DataFrame or path
        The label table (or a CSV, read with :func:`woodcock_widgets.labels.read_labels`);
        ``filename_column`` holds audio paths.
    filename_column : str
        The audio path column.
    label_columns : sequence of str, optional
        Columns shown beside the plot and offered as filters; default: all other columns.
    preprocessing : Preprocessing, optional
        Sample rate, STFT window and default dB limits / band; default: the tutorial's
        (22050 Hz, Hann 512, 50% overlap, -100..-20 dB).
    offset_column : str, optional
        Start time (s) of each clip inside its file; default 0.
    max_seconds : float, optional
        Show at most this many seconds per file (for long recordings); default: all of it.
    grid_shape : tuple of int
        ``(rows, columns)`` of a page in grid mode.
    figure_height : str
        CSS height of the spectrogram figure.

    Attributes
    ----------
    df : pandas.DataFrame
        The table browsed.
    rows : list
        Index labels of the clips that pass the filter, in table order.
    index : int
        Position of the shown clip in :attr:`rows` (a trait: observe it, or set it).
    row : object
        Index label of the shown clip (``None`` when no clip passes the filter).
    clip : ClipView or None
        PNG, WAV and axes of the shown clip (``None`` when it could not be read).
    error : str or None
        Why the shown clip could not be read.
    errors : ErrorLog
        Errors raised by the controls (also shown in the widget).

    Examples
    --------
    >>> from woodcock_widgets.widgets import SpectrogramInspector
    >>> inspector = SpectrogramInspector("data/woodcock_labels.csv")  # doctest: +SKIP
    >>> inspector                                       # display it in a notebook cell
    >>> inspector.set_filter("sound_type", "song")      # only song clips
    >>> inspector.next()                                # the next one
    >>> inspector.show(0); inspector.clip.duration      # first song clip, 2.0 s
    >>> inspector.set_mode("grid")                      # a 3x3 page of clips with players
    """

    index = traitlets.Int(0, help="Position of the shown clip in .rows.")

    @traitlets.validate("index")
    def _valid_index(self, proposal):
        # clamp, so `inspector.index = 999` shows the last clip instead of failing
        return min(max(int(proposal["value"]), 0), max(len(getattr(self, "rows", [])) - 1, 0))

    def __init__(
        self,
        df: pd.DataFrame | str | os.PathLike,
        filename_column: str = "filename",
        label_columns: Sequence[str] | None = None,
        preprocessing: Preprocessing | None = None,
        *,
        offset_column: str | None = None,
        max_seconds: float | None = None,
        grid_shape: tuple[int, int] = (3, 3),
        figure_height: str = "260px",
    ) -> None:
        super().__init__()
        self.filename_column = filename_column
        self.offset_column = offset_column
        self.max_seconds = max_seconds
        self.preprocessing = preprocessing or Preprocessing()
        self.grid_shape = (int(grid_shape[0]), int(grid_shape[1]))
        self.errors = ErrorLog()
        self._fixed_label_columns = list(label_columns) if label_columns is not None else None
        self.df = _as_table(df, filename_column)
        self.label_columns = self._label_columns()
        self.rows: list = []
        self.row = None
        self.clip: ClipView | None = None
        self.error: str | None = None
        self.page = 0
        self.mode = "single"
        self._subset: list | None = None
        self._filter: tuple[str | None, str | None] = (None, None)
        self._audio: Audio | None = None
        self._syncing = False
        self._build(figure_height)
        self.filter_column.options = [_ALL, *self.label_columns]
        self._apply_filter()

    # ------------------------------------------------------------------ layout
    def _build(self, figure_height: str) -> None:
        guard = self.errors.guard
        pre = self.preprocessing
        nyquist = pre.sample_rate / 2
        self.previous_button = widgets.Button(description="◀ previous", tooltip="previous clip")
        self.next_button = widgets.Button(description="next ▶", tooltip="next clip")
        self.slider = widgets.IntSlider(
            0, min=0, max=0, description="clip", continuous_update=False
        )
        self.position = widgets.HTML()
        self.filter_column = widgets.Dropdown(description="filter", options=[_ALL])
        self.filter_value = widgets.Dropdown(description="equals", options=[], disabled=True)
        self.mode_buttons = widgets.ToggleButtons(options=["single", "grid"], value="single")
        self.db_limits = widgets.FloatRangeSlider(
            value=pre.decibel_limits,
            min=-160.0,
            max=0.0,
            step=1.0,
            description="dB",
            continuous_update=False,
        )
        band = pre.bandpass or (0.0, nyquist)
        self.frequency_range = widgets.FloatRangeSlider(
            value=band,
            min=0.0,
            max=nyquist,
            step=50.0,
            description="Hz",
            continuous_update=False,
            readout_format=".0f",
        )
        self.figure, self.image_mark = spectrogram_figure(figure_height)
        self.audio = widgets.Audio(value=b"", format="wav", autoplay=False, loop=False)
        self.message = widgets.HTML()
        self.labels_html = widgets.HTML(layout=widgets.Layout(min_width="14em"))

        self.previous_button.on_click(guard(lambda _: self.previous()))
        self.next_button.on_click(guard(lambda _: self.next()))
        self.slider.observe(guard(self._on_slider), names="value")
        self.filter_column.observe(guard(self._on_filter_column), names="value")
        self.filter_value.observe(guard(self._on_filter_value), names="value")
        self.mode_buttons.observe(guard(lambda ch: self.set_mode(ch["new"])), names="value")
        self.db_limits.observe(guard(lambda _: self._redraw()), names="value")
        self.frequency_range.observe(guard(lambda _: self._redraw()), names="value")
        self.observe(guard(lambda _: self._render()), names="index")

        self.single_box = widgets.HBox(
            [
                widgets.VBox(
                    [self.figure, self.audio, self.message],
                    layout=widgets.Layout(flex="1 1 auto", width="70%"),
                ),
                self.labels_html,
            ]
        )
        self.page_previous = widgets.Button(description="◀ page")
        self.page_next = widgets.Button(description="page ▶")
        self.page_label = widgets.HTML()
        self.page_previous.on_click(guard(lambda _: self.show_page(self.page - 1)))
        self.page_next.on_click(guard(lambda _: self.show_page(self.page + 1)))
        self._cells = [self._make_cell(k) for k in range(self.grid_shape[0] * self.grid_shape[1])]
        self.grid = widgets.GridBox(
            [c["box"] for c in self._cells],
            layout=widgets.Layout(
                grid_template_columns=f"repeat({self.grid_shape[1]}, 1fr)", grid_gap="6px"
            ),
        )
        self.grid_box = widgets.VBox(
            [widgets.HBox([self.page_previous, self.page_label, self.page_next]), self.grid],
            layout=widgets.Layout(display="none"),
        )
        self.children = [
            widgets.HBox([self.previous_button, self.next_button, self.slider, self.position]),
            widgets.HBox([self.filter_column, self.filter_value, self.mode_buttons]),
            widgets.HBox([self.db_limits, self.frequency_range]),
            self.single_box,
            self.grid_box,
            self.errors.output,
        ]

    def _make_cell(self, k: int) -> dict:
        image = widgets.Image(
            value=BLANK_PNG, format="png", layout=widgets.Layout(width="100%", height="120px")
        )
        caption = widgets.HTML()
        audio = widgets.Audio(value=b"", format="wav", autoplay=False, loop=False)
        open_button = widgets.Button(description="open", layout=widgets.Layout(width="5em"))
        open_button.on_click(self.errors.guard(lambda _: self._open_cell(k)))
        box = widgets.VBox(
            [image, widgets.HBox([open_button, caption]), audio],
            layout=widgets.Layout(border="1px solid #ddd", padding="2px"),
        )
        return {"box": box, "image": image, "caption": caption, "audio": audio, "row": None}

    def _label_columns(self) -> list[str]:
        if self._fixed_label_columns is not None:
            missing = [c for c in self._fixed_label_columns if c not in self.df.columns]
            if missing:
                raise LabelError(
                    f"table has no column(s) {missing}; it has {list(self.df.columns)}"
                )
            return list(self._fixed_label_columns)
        skip = {self.filename_column, self.offset_column}
        return [c for c in self.df.columns if c not in skip]

    # ------------------------------------------------------------ public API
    def show(self, index: int) -> None:
        """Show the clip at position ``index`` of :attr:`rows` (clamped to the valid range)."""
        index = min(max(int(index), 0), max(len(self.rows) - 1, 0))
        if index == self.index:
            self._render()
        else:
            self.index = index  # the observer renders

    def next(self) -> None:
        """Show the next clip (stays on the last one)."""
        self.show(self.index + 1)

    def previous(self) -> None:
        """Show the previous clip (stays on the first one)."""
        self.show(self.index - 1)

    def set_filter(self, column: str | None = None, value: object = None) -> None:
        """Browse only rows whose ``column`` equals ``value``; ``None`` shows all rows."""
        if column is not None and column not in self.df.columns:
            raise LabelError(f"table has no column {column!r}; it has {list(self.df.columns)}")
        if column is not None and value is None:
            value = (distinct_values(self.df, column) or [None])[0]
        self._filter = (column, None if value is None else str(value).strip())
        self._syncing = True
        try:
            if column is not None and column not in self.filter_column.options:
                self.filter_column.options = [*self.filter_column.options, column]
            self.filter_column.value = column if column is not None else _ALL
            self._fill_values(column)
            if column is not None:
                self.filter_value.value = self._filter[1]
        finally:
            self._syncing = False
        self._apply_filter()

    def set_rows(self, rows: Sequence | None = None) -> None:
        """Browse only these index labels (e.g. one confusion-matrix cell); ``None``: all."""
        self._subset = None if rows is None else list(rows)
        self._apply_filter()

    def set_table(self, df: pd.DataFrame, rows: Sequence | None = None) -> None:
        """Browse another table (keeping the settings); ``rows`` as in :meth:`set_rows`."""
        self.df = _as_table(df, self.filename_column)
        self.label_columns = self._label_columns()
        column = self._filter[0]
        if column is not None and column not in self.df.columns:
            self._filter = (None, None)
        self._subset = None if rows is None else list(rows)
        self._syncing = True
        try:
            self.filter_column.options = [_ALL, *self.label_columns]
            self.filter_column.value = self._filter[0] or _ALL
            self._fill_values(self._filter[0])
        finally:
            self._syncing = False
        self._apply_filter()

    def set_mode(self, mode: str) -> None:
        """``"single"`` (one clip) or ``"grid"`` (a page of clips, each with a player)."""
        if mode not in ("single", "grid"):
            raise ValueError(f"mode must be 'single' or 'grid', got {mode!r}")
        self.mode = mode
        if self.mode_buttons.value != mode:
            self.mode_buttons.value = mode
        self.single_box.layout.display = None if mode == "single" else "none"
        self.grid_box.layout.display = None if mode == "grid" else "none"
        if mode == "grid":
            self.show_page(self.index // self.per_page)

    @property
    def per_page(self) -> int:
        """Clips on a grid page."""
        return self.grid_shape[0] * self.grid_shape[1]

    @property
    def n_pages(self) -> int:
        """Grid pages for the current rows."""
        return n_pages(len(self.rows), self.per_page)

    def show_page(self, page: int) -> None:
        """Fill the grid with page ``page`` (0-based, clamped) of :attr:`rows`."""
        self.page = min(max(int(page), 0), self.n_pages - 1)
        shown = page_rows(self.rows, self.page, self.per_page)
        for k, cell in enumerate(self._cells):
            row = shown[k] if k < len(shown) else None
            self._fill_cell(cell, row)
        self.page_label.value = f"page {self.page + 1} of {self.n_pages}"

    # -------------------------------------------------------------- handlers
    def _on_slider(self, change) -> None:
        if not self._syncing:
            self.show(change["new"])

    def _on_filter_column(self, change) -> None:
        if self._syncing:
            return
        column = None if change["new"] == _ALL else change["new"]
        self.set_filter(column)

    def _on_filter_value(self, change) -> None:
        if self._syncing or change["new"] is None:
            return
        self.set_filter(self._filter[0], change["new"])

    def _fill_values(self, column: str | None) -> None:
        if column is None:
            self.filter_value.options = []
            self.filter_value.disabled = True
        else:
            self.filter_value.options = distinct_values(self.df, column)
            self.filter_value.disabled = False

    def _apply_filter(self) -> None:
        column, value = self._filter
        self.rows = filter_rows(self.df, column, value, self._subset)
        self._syncing = True
        try:
            self.slider.max = max(len(self.rows) - 1, 0)
            self.slider.disabled = len(self.rows) <= 1
        finally:
            self._syncing = False
        self.show(0)
        if self.mode == "grid":
            self.show_page(0)

    # ------------------------------------------------------------- rendering
    def _clip_source(self, row) -> tuple[str, float]:
        path = str(self.df.at[row, self.filename_column])
        offset = float(self.df.at[row, self.offset_column]) if self.offset_column else 0.0
        return path, offset

    def _load(self, row) -> Audio:
        path, offset = self._clip_source(row)
        return load_audio(path, self.preprocessing, offset, self.max_seconds)

    def _view(self, audio: Audio) -> ClipView:
        return render_clip(
            audio,
            self.preprocessing,
            tuple(self.db_limits.value),
            tuple(self.frequency_range.value),
        )

    def _render(self) -> None:
        n = len(self.rows)
        self._syncing = True
        try:
            self.slider.value = min(self.index, self.slider.max)
        finally:
            self._syncing = False
        self.previous_button.disabled = self.index <= 0
        self.next_button.disabled = self.index >= n - 1
        if n == 0:
            self.row, self._audio = None, None
            self.position.value = "no clips match the filter"
            self.labels_html.value = ""
            self._show_error(None)
            return
        self.row = self.rows[self.index]
        path, offset = self._clip_source(self.row)
        at = f" at {offset:g} s" if offset else ""
        name = html.escape(f"{Path(path).name}{at}")
        self.position.value = f"clip {self.index + 1} of {n} · row {self.row} · {name}"
        labels = {c: self.df.at[self.row, c] for c in self.label_columns}
        self.labels_html.value = mapping_html(labels, "column", "value")
        try:
            self._audio = self._load(self.row)
        except _CLIP_ERRORS as exc:
            self._audio = None
            self._show_error(str(exc))
            return
        self._redraw()

    def _redraw(self) -> None:
        if self._audio is None:
            return
        try:
            view = self._view(self._audio)
        except _CLIP_ERRORS as exc:
            self._show_error(str(exc))
            return
        self.clip, self.error = view, None
        self.message.value = ""
        set_spectrogram(self.image_mark, view.png, (0.0, view.duration), view.frequency_range)
        self.audio.value = view.wav

    def _show_error(self, text: str | None) -> None:
        self.clip, self.error = None, text
        self.message.value = messages_html([text], "error") if text else ""
        show_png(self.image_mark, BLANK_PNG)
        self.audio.value = b""

    def _fill_cell(self, cell: dict, row) -> None:
        cell["row"] = row
        cell["box"].layout.visibility = "hidden" if row is None else "visible"
        if row is None:
            cell["image"].value, cell["audio"].value, cell["caption"].value = BLANK_PNG, b"", ""
            return
        path, _ = self._clip_source(row)
        labels = html.escape(", ".join(str(self.df.at[row, c]) for c in self.label_columns[:3]))
        try:
            view = self._view(self._load(row))
        except _CLIP_ERRORS as exc:
            cell["image"].value, cell["audio"].value = BLANK_PNG, b""
            cell["caption"].value = messages_html([f"{Path(path).name}: {exc}"], "error")
            return
        cell["image"].value, cell["audio"].value = view.png, view.wav
        name = html.escape(f"{row} {Path(path).name}")
        cell["caption"].value = f"<b>{name}</b><br><small>{labels}</small>"

    def _open_cell(self, k: int) -> None:
        row = self._cells[k]["row"]
        if row is None:
            return
        self.set_mode("single")
        self.show(self.rows.index(row))

    @property
    def cells(self) -> list[dict]:
        """Grid cells: dicts with ``row``, ``image`` and ``audio`` widgets (for scripts)."""
        return [{k: c[k] for k in ("row", "image", "audio", "caption")} for c in self._cells]
