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
    extent_text,
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


def _db(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


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
    index : int
        Position of the shown clip in :attr:`rows` (a trait: observe it, link it, set it;
        the clip slider and the "clip N of M" line show ``index + 1``).
    db_range : tuple of float
        ``(floor, ceiling)`` in dB (a trait). Quieter than the floor is white; louder than
        the ceiling, or than the clip's loudest sound where that is lower, is black.
    frequency_range : tuple of float
        Band shown, in Hz (a trait).
    mode : {"single", "grid"}
        One clip, or a page of clips each with a player (a trait).
    df : pandas.DataFrame
        The table browsed.
    rows : list
        Index labels of the clips that pass the filter, in table order.
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
    >>> inspector.index = 0; inspector.clip.duration    # first song clip, 2.0 s
    >>> inspector.db_range = (-90, -40)                 # more contrast
    >>> inspector.mode = "grid"                         # a 3x3 page of clips with players
    """

    index = traitlets.Int(0, help="Position of the shown clip in .rows (0-based).")
    db_range = traitlets.Tuple(
        traitlets.Float(),
        traitlets.Float(),
        default_value=(-100.0, -20.0),
        help="(floor, ceiling) dB",
    )
    frequency_range = traitlets.Tuple(
        traitlets.Float(), traitlets.Float(), default_value=(0.0, 11025.0), help="band shown (Hz)"
    )
    mode = traitlets.Enum(["single", "grid"], "single", help="one clip, or a page of clips")

    @traitlets.validate("index")
    def _valid_index(self, proposal):
        # clamp, so `inspector.index = 999` shows the last clip instead of failing
        return min(max(int(proposal["value"]), 0), max(len(getattr(self, "rows", [])) - 1, 0))

    @traitlets.validate("db_range", "frequency_range")
    def _valid_range(self, proposal):
        lo, hi = (float(v) for v in proposal["value"])
        if not lo < hi:
            name = proposal["trait"].name
            raise traitlets.TraitError(f"{name} must be (low, high) with low < high, got {lo, hi}")
        return (lo, hi)

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
        self.preprocessing = preprocessing or Preprocessing()
        pre = self.preprocessing
        band = pre.bandpass or (0.0, pre.sample_rate / 2)
        super().__init__(
            db_range=tuple(float(v) for v in pre.decibel_limits),
            frequency_range=tuple(float(v) for v in band),
        )
        self.filename_column = filename_column
        self.offset_column = offset_column
        self.max_seconds = max_seconds
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
        self._subset: list | None = None
        self._filter: tuple[str | None, str | None] = (None, None)
        self._audio: Audio | None = None
        self._syncing = False
        self._build(figure_height)
        self.filter_column_dropdown.options = [_ALL, *self.label_columns]
        self._apply_filter()

    # ------------------------------------------------------------------ layout
    def _build(self, figure_height: str) -> None:
        guard = self.errors.guard
        nyquist = self.preprocessing.sample_rate / 2
        self.previous_button = widgets.Button(description="◀ previous", tooltip="previous clip")
        self.next_button = widgets.Button(description="next ▶", tooltip="next clip")
        # 1-based, like the "clip N of M" line beside it
        self.clip_slider = widgets.IntSlider(
            1, min=1, max=1, description="clip", continuous_update=False
        )
        self.position_html = widgets.HTML()
        self.filter_column_dropdown = widgets.Dropdown(description="filter", options=[_ALL])
        self.filter_value_dropdown = widgets.Dropdown(
            description="equals", options=[], disabled=True
        )
        self.mode_toggle = widgets.ToggleButtons(options=["single", "grid"], value=self.mode)
        # The sliders' own readouts are too narrow for "-100 – -20"; an HTML line says it.
        self.db_slider = widgets.FloatRangeSlider(
            value=self.db_range,
            min=-160.0,
            max=0.0,
            step=1.0,
            description="dB",
            continuous_update=False,
            readout=False,
        )
        self.db_readout = widgets.HTML()
        self.frequency_slider = widgets.FloatRangeSlider(
            value=self.frequency_range,
            min=0.0,
            max=nyquist,
            step=50.0,
            description="Hz",
            continuous_update=False,
            readout=False,
        )
        self.frequency_readout = widgets.HTML()
        self.figure, self.image_mark = spectrogram_figure(figure_height)
        self.audio = widgets.Audio(value=b"", format="wav", autoplay=False, loop=False)
        self.message_html = widgets.HTML()
        self.labels_html = widgets.HTML(layout=widgets.Layout(min_width="14em"))

        traitlets.link((self, "db_range"), (self.db_slider, "value"))
        traitlets.link((self, "frequency_range"), (self.frequency_slider, "value"))
        traitlets.link((self, "mode"), (self.mode_toggle, "value"))
        self.previous_button.on_click(guard(lambda _: self.previous()))
        self.next_button.on_click(guard(lambda _: self.next()))
        self.clip_slider.observe(guard(self._on_slider), names="value")
        self.filter_column_dropdown.observe(guard(self._on_filter_column), names="value")
        self.filter_value_dropdown.observe(guard(self._on_filter_value), names="value")
        self.observe(guard(lambda _: self._redraw_all()), names=["db_range", "frequency_range"])
        self.observe(guard(lambda ch: self._show_mode(ch["new"])), names="mode")
        self.observe(guard(lambda _: self._render()), names="index")

        self.single_box = widgets.HBox(
            [
                widgets.VBox(
                    [self.figure, self.audio, self.message_html],
                    layout=widgets.Layout(flex="1 1 auto", width="70%"),
                ),
                self.labels_html,
            ]
        )
        self.page_previous_button = widgets.Button(description="◀ page")
        self.page_next_button = widgets.Button(description="page ▶")
        self.page_html = widgets.HTML()
        self.page_previous_button.on_click(guard(lambda _: self.show_page(self.page - 1)))
        self.page_next_button.on_click(guard(lambda _: self.show_page(self.page + 1)))
        self._cells = [self._make_cell(k) for k in range(self.grid_shape[0] * self.grid_shape[1])]
        self.grid = widgets.GridBox(
            [c["box"] for c in self._cells],
            layout=widgets.Layout(
                grid_template_columns=f"repeat({self.grid_shape[1]}, 1fr)", grid_gap="6px"
            ),
        )
        self.grid_box = widgets.VBox(
            [
                widgets.HBox([self.page_previous_button, self.page_html, self.page_next_button]),
                self.grid,
            ],
            layout=widgets.Layout(display="none"),
        )
        self.children = [
            widgets.HBox(
                [self.previous_button, self.next_button, self.clip_slider, self.position_html]
            ),
            widgets.HBox(
                [self.filter_column_dropdown, self.filter_value_dropdown, self.mode_toggle]
            ),
            widgets.HBox(
                [self.db_slider, self.db_readout, self.frequency_slider, self.frequency_readout],
                layout=widgets.Layout(align_items="center"),
            ),
            self.single_box,
            self.grid_box,
            self.errors.output,
        ]
        self._show_readouts()

    def _make_cell(self, k: int) -> dict:
        image = widgets.Image(
            value=BLANK_PNG, format="png", layout=widgets.Layout(width="100%", height="120px")
        )
        caption = widgets.HTML()
        audio = widgets.Audio(value=b"", format="wav", autoplay=False, loop=False)
        open_button = widgets.Button(
            description="open", layout=widgets.Layout(width="auto", flex="0 0 auto")
        )
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
            options = self.filter_column_dropdown.options
            if column is not None and column not in options:
                self.filter_column_dropdown.options = [*options, column]
            self.filter_column_dropdown.value = column if column is not None else _ALL
            self._fill_values(column)
            if column is not None:
                self.filter_value_dropdown.value = self._filter[1]
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
            self.filter_column_dropdown.options = [_ALL, *self.label_columns]
            self.filter_column_dropdown.value = self._filter[0] or _ALL
            self._fill_values(self._filter[0])
        finally:
            self._syncing = False
        self._apply_filter()

    def set_mode(self, mode: str) -> None:
        """``"single"`` (one clip) or ``"grid"`` (a page of clips); same as setting ``mode``."""
        if mode not in ("single", "grid"):
            raise ValueError(f"mode must be 'single' or 'grid', got {mode!r}")
        self.mode = mode

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
            self._fill_cell(cell, shown[k] if k < len(shown) else None)
        self.page_html.value = f"page {self.page + 1} of {self.n_pages}"
        self.page_previous_button.disabled = self.page <= 0
        self.page_next_button.disabled = self.page >= self.n_pages - 1

    # -------------------------------------------------------------- handlers
    def _on_slider(self, change) -> None:
        if not self._syncing:
            self.show(change["new"] - 1)

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
            self.filter_value_dropdown.options = []
            self.filter_value_dropdown.disabled = True
        else:
            self.filter_value_dropdown.options = distinct_values(self.df, column)
            self.filter_value_dropdown.disabled = False

    def _apply_filter(self) -> None:
        column, value = self._filter
        self.rows = filter_rows(self.df, column, value, self._subset)
        self._syncing = True
        try:
            self.clip_slider.max = max(len(self.rows), 1)
            self.clip_slider.disabled = len(self.rows) <= 1
        finally:
            self._syncing = False
        self.show(0)
        if self.mode == "grid":
            self.show_page(0)

    def _show_mode(self, mode: str) -> None:
        self.single_box.layout.display = None if mode == "single" else "none"
        self.grid_box.layout.display = None if mode == "grid" else "none"
        if mode == "grid":
            self.show_page(self.index // self.per_page)

    # ------------------------------------------------------------- rendering
    def _clip_source(self, row) -> tuple[str, float]:
        path = str(self.df.at[row, self.filename_column])
        offset = float(self.df.at[row, self.offset_column]) if self.offset_column else 0.0
        return path, offset

    def _load(self, row) -> Audio:
        path, offset = self._clip_source(row)
        return load_audio(path, self.preprocessing, offset, self.max_seconds)

    def _view(self, audio: Audio) -> ClipView:
        return render_clip(audio, self.preprocessing, self.db_range, self.frequency_range)

    def _render(self) -> None:
        n = len(self.rows)
        self._syncing = True
        try:
            self.clip_slider.value = min(self.index + 1, self.clip_slider.max)
        finally:
            self._syncing = False
        self.previous_button.disabled = self.index <= 0
        self.next_button.disabled = self.index >= n - 1
        if n == 0:
            self.row, self._audio = None, None
            self.position_html.value = "no clips match the filter"
            self.labels_html.value = ""
            self._show_error(None)
            return
        self.row = self.rows[self.index]
        path, offset = self._clip_source(self.row)
        at = f" at {offset:g} s" if offset else ""
        name = html.escape(f"{Path(path).name}{at}")
        self.position_html.value = f"clip {self.index + 1} of {n} · row {self.row} · {name}"
        labels = {c: self.df.at[self.row, c] for c in self.label_columns}
        self.labels_html.value = mapping_html(labels, "column", "value")
        try:
            self._audio = self._load(self.row)
        except _CLIP_ERRORS as exc:
            self._audio = None
            self._show_error(str(exc))
            return
        self._redraw()

    def _redraw_all(self) -> None:
        self._redraw()
        if self.mode == "grid":
            self.show_page(self.page)

    def _redraw(self) -> None:
        self._show_readouts()
        if self._audio is None:
            return
        try:
            view = self._view(self._audio)
        except _CLIP_ERRORS as exc:
            self._show_error(str(exc))
            return
        self.clip, self.error = view, None
        floor = view.decibel_limits[0]
        self.message_html.value = (
            ""
            if view.above_floor
            else messages_html(
                [
                    f"all of this clip is quieter than the floor ({_db(floor)} dB): "
                    "lower the floor to see it"
                ],
                "warning",
            )
        )
        set_spectrogram(self.image_mark, view.png, (0.0, view.duration), view.frequency_range)
        self.audio.value = view.wav
        self._show_readouts()

    def _show_readouts(self) -> None:
        floor, ceiling = self.db_range
        text = f"floor {_db(floor)} dB · ceiling {_db(ceiling)} dB"
        clip = self.clip
        if clip is not None and clip.above_floor and clip.peak_db < ceiling:
            text += f"<br><small>black: this clip's loudest, {_db(clip.peak_db)} dB</small>"
        self.db_readout.value = text
        lo, hi = self.frequency_range
        self.frequency_readout.value = f"{lo:.0f} – {hi:.0f} Hz"

    def _show_error(self, text: str | None) -> None:
        self.clip, self.error = None, text
        self.message_html.value = messages_html([text], "error") if text else ""
        show_png(self.image_mark, BLANK_PNG)
        self.audio.value = b""

    def _caption_labels(self, row) -> str:
        return ", ".join(f"{c}: {self.df.at[row, c]}" for c in self.label_columns[:3])

    def _fill_cell(self, cell: dict, row) -> None:
        cell["row"] = row
        # an empty cell takes no room, so a short page leaves no blank rows
        cell["box"].layout.display = "none" if row is None else None
        if row is None:
            cell["image"].value, cell["audio"].value, cell["caption"].value = BLANK_PNG, b"", ""
            return
        path, _ = self._clip_source(row)
        labels = html.escape(self._caption_labels(row))
        try:
            view = self._view(self._load(row))
        except _CLIP_ERRORS as exc:
            cell["image"].value, cell["audio"].value = BLANK_PNG, b""
            cell["caption"].value = messages_html([f"{Path(path).name}: {exc}"], "error")
            return
        cell["image"].value, cell["audio"].value = view.png, view.wav
        name = html.escape(f"{row} {Path(path).name}")
        cell["caption"].value = (
            f"<b>{name}</b><br><small>{labels}</small>"
            f"<br><small style='color:#555'>{html.escape(extent_text(view))}</small>"
        )

    def _open_cell(self, k: int) -> None:
        row = self._cells[k]["row"]
        if row is None:
            return
        self.mode = "single"
        self.show(self.rows.index(row))

    @property
    def cells(self) -> list[dict]:
        """Grid cells: dicts with ``row``, ``image``, ``audio`` and ``caption`` (for scripts)."""
        return [{k: c[k] for k in ("row", "image", "audio", "caption", "box")} for c in self._cells]
