"""SpectrogramInspector: browse the clips of a label table as spectrograms you can hear.

A view composed of sub-views (:mod:`._inspector_parts`, :mod:`._clip_grid`) over the clips
of a table (:mod:`._clip_source`); the inspector holds the state in traits and wires them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import ipywidgets as widgets
import pandas as pd
import traitlets

from ..audio.preprocessing import Preprocessing
from ..errors import LabelError
from ..tables.browse import distinct_values, filter_rows
from ._clip_grid import ClipGrid
from ._clip_source import ClipSource
from ._errors import ErrorLog
from ._inspector_parts import ClipNavigator, ClipPane, ContrastPanel, FilterBar
from ._parts import Part

__all__ = ["SpectrogramInspector"]


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

    # child controls by role, owned by the sub-view that wires them (and the table's settings)
    previous_button, next_button, clip_slider, position_html = Part.of("navigator", 4)
    filter_column_dropdown, filter_value_dropdown = Part.of("filter_bar", 2)
    db_slider, db_readout, frequency_slider, frequency_readout = Part.of("contrast", 4)
    figure, image_mark, audio, message_html, labels_html = Part.of("single_box", 5)
    clip, error = Part.of("single_box", 2)
    grid, page_previous_button, page_next_button, page_html, _cells = Part.of("grid_box", 5)
    grid_shape, page, per_page, n_pages, cells = Part.of("grid_box", 5)
    df, label_columns, filename_column, offset_column = Part.of("_source", 4)
    max_seconds, preprocessing = Part.of("_source", 2)

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
        pre = preprocessing or Preprocessing()
        band = pre.bandpass or (0.0, pre.sample_rate / 2)
        super().__init__(
            db_range=tuple(float(v) for v in pre.decibel_limits),
            frequency_range=tuple(float(v) for v in band),
        )
        self.errors = ErrorLog()
        self._source = ClipSource(
            df, filename_column, label_columns, pre, offset_column, max_seconds
        )
        self.rows: list = []
        self.row = None
        self._subset: list | None = None
        self._filter: tuple[str | None, str | None] = (None, None)
        self._build(figure_height, grid_shape)
        self.filter_bar.offer(self.df, self.label_columns, None)
        self._apply_filter()

    def _build(self, figure_height: str, grid_shape: tuple[int, int]) -> None:
        guard = self.errors.guard
        self.navigator = ClipNavigator(guard(self.previous), guard(self.next), guard(self.show))
        self.filter_bar = FilterBar(guard(self.set_filter))
        self.mode_toggle = widgets.ToggleButtons(options=["single", "grid"], value=self.mode)
        nyquist = self.preprocessing.sample_rate / 2
        self.contrast = ContrastPanel(self.db_range, self.frequency_range, nyquist)
        self.single_box = ClipPane(figure_height)
        self.grid_box = ClipGrid(grid_shape, self._cell, self._open, guard)
        traitlets.link((self, "db_range"), (self.db_slider, "value"))
        traitlets.link((self, "frequency_range"), (self.frequency_slider, "value"))
        traitlets.link((self, "mode"), (self.mode_toggle, "value"))
        self.observe(guard(lambda _: self._redraw_all()), names=["db_range", "frequency_range"])
        self.observe(guard(lambda ch: self._show_mode(ch["new"])), names="mode")
        self.observe(guard(lambda _: self._render()), names="index")
        self.children = [
            self.navigator,
            widgets.HBox([self.filter_bar, self.mode_toggle]),
            self.contrast,
            self.single_box,
            self.grid_box,
            self.errors.output,
        ]
        self._show_readouts()

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
        self.filter_bar.select(self.df, *self._filter)
        self._apply_filter()

    def set_rows(self, rows: Sequence | None = None) -> None:
        """Browse only these index labels (e.g. one confusion-matrix cell); ``None``: all."""
        self._subset = None if rows is None else list(rows)
        self._apply_filter()

    def set_table(self, df: pd.DataFrame, rows: Sequence | None = None) -> None:
        """Browse another table (keeping the settings); ``rows`` as in :meth:`set_rows`."""
        self._source.set_table(df)
        if self._filter[0] is not None and self._filter[0] not in self.df.columns:
            self._filter = (None, None)
        self._subset = None if rows is None else list(rows)
        self.filter_bar.offer(self.df, self.label_columns, self._filter[0])
        self._apply_filter()

    def set_mode(self, mode: str) -> None:
        """``"single"`` (one clip) or ``"grid"`` (a page of clips); same as setting ``mode``."""
        if mode not in ("single", "grid"):
            raise ValueError(f"mode must be 'single' or 'grid', got {mode!r}")
        self.mode = mode

    def show_page(self, page: int) -> None:
        """Fill the grid with page ``page`` (0-based, clamped) of :attr:`rows`."""
        self.grid_box.show_page(page, self.rows)

    # -------------------------------------------------------------- wiring
    def _apply_filter(self) -> None:
        column, value = self._filter
        self.rows = filter_rows(self.df, column, value, self._subset)
        self.navigator.set_count(len(self.rows))
        self.show(0)
        if self.mode == "grid":
            self.show_page(0)

    def _show_mode(self, mode: str) -> None:
        self.single_box.layout.display = None if mode == "single" else "none"
        self.grid_box.layout.display = None if mode == "grid" else "none"
        if mode == "grid":
            self.show_page(self.index // self.per_page)

    def _cell(self, row) -> tuple[bytes, bytes, str]:
        return self._source.cell(row, self.db_range, self.frequency_range)

    def _open(self, row) -> None:
        self.mode = "single"
        self.show(self.rows.index(row))

    def _render(self) -> None:
        n = len(self.rows)
        self.row = self.rows[self.index] if n else None
        if self.row is None:
            self.navigator.show(self.index, n, "no clips match the filter")
            self.single_box.clear()
            return
        self.navigator.show(self.index, n, self._source.position_html(self.row, self.index, n))
        row = self.row
        if self.single_box.load(self._source.labels(row), lambda: self._source.load(row)):
            self._redraw()

    def _redraw_all(self) -> None:
        self._redraw()
        if self.mode == "grid":
            self.show_page(self.page)

    def _redraw(self) -> None:
        self._show_readouts()
        if self.single_box.redraw(self._source.view, self.db_range, self.frequency_range):
            self._show_readouts()

    def _show_readouts(self) -> None:
        self.contrast.show(self.db_range, self.frequency_range, self.clip)
