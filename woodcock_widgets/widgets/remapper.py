"""LabelRemapper: map a column's values to classes, see the counts, get codes, save a new CSV.

A view composed of sub-views (:mod:`._remap_parts`, :mod:`._save_bar`); the remapper holds
the state in traits and turns it into core calls (:mod:`woodcock_widgets.tables.remapping`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import ipywidgets as widgets
import pandas as pd
import traitlets

from ..errors import LabelError
from ..tables.labeled import LabeledTable
from ..tables.labels import read_labels
from ..tables.remapping import RemapPreview, identity_mapping, preview_remap
from ._errors import ErrorLog
from ._parts import Part
from ._remap_parts import MappingRows, RemapSettings, RemapSummary
from ._remap_save import default_save_path, remap_state, save_remap
from ._save_bar import SaveBar

__all__ = ["LabelRemapper"]


def _label_columns(df: pd.DataFrame, filename_column: str, source_column: str | None) -> list:
    """The columns a remap can start from (checking that ``source_column`` is one)."""
    columns = [c for c in df.columns if c != filename_column]
    if not columns:
        raise LabelError(f"table has no label column besides {filename_column!r}")
    if source_column is not None and source_column not in df.columns:
        raise LabelError(f"table has no column {source_column!r}; it has {list(df.columns)}")
    return columns


class LabelRemapper(widgets.VBox):
    """Map each value of a label column to a class; counts, codes and a new CSV.

    Parameters
    ----------
    df : pandas.DataFrame or path
        The label table, or its CSV (then it is also the ``source_path`` never overwritten).
    source_column : str, optional
        Column to remap (e.g. ``sound_type``); default: the first column that is not the
        filename column.
    mapping : mapping of str to str, optional
        Starting value → class (e.g. ``{"song": "present", "call": "absent", "na":
        "absent"}``); values it leaves out start mapped to themselves.
    new_column : str, optional
        Name of the class column (default ``f"{source_column}_class"``).
    name_prefix : str
        Prepended to class names in the label dictionary (``"scolopax-minor-"``).
    filename_column : str
        The audio path column.
    source_path : path, optional
        The original CSV; Save refuses to write over it.
    save_path : path, optional
        Where Save writes (default: beside the source, ``<stem>_<new_column>.csv``, or
        ``labels_<new_column>.csv`` in the working folder).

    Attributes
    ----------
    column : str
        The column being remapped (a trait, like the four below: observe or link them).
    mapping : dict of str to str
        Value → class as the controls say now (values without a class left out). Setting
        it replaces the whole mapping; :meth:`set_mapping` changes some values.
    new_column : str
        Name of the class column.
    name_prefix : str
        Prefix of the class names in the label dictionary.
    status : str
        What the last Save wrote; emptied as soon as the remap it describes changes.
    result : pandas.DataFrame or None
        The table with the class column and integer codes (``NumericLabels``); ``None`` while
        some values have no class.
    label_dict : dict of int to str
        Code → class name, e.g. ``{0: "scolopax-minor-absent", 1: "scolopax-minor-present"}``.
    unmapped : list of str
        Values without a class (reported in the widget, never dropped silently).
    table : LabeledTable or None
        :attr:`result` ready for :class:`SplitBalance` / :class:`TrainingControl`.
    preview : RemapPreview
        Everything above plus the before/after counts tables.
    saved_path : pathlib.Path or None
        Where the last Save wrote.

    Examples
    --------
    >>> from woodcock_widgets.widgets import LabelRemapper
    >>> remapper = LabelRemapper(                        # doctest: +SKIP
    ...     "data/woodcock_labels.csv", "sound_type",
    ...     {"song": "present", "call": "absent", "na": "absent"},
    ...     new_column="woodcock_song", name_prefix="scolopax-minor-")
    >>> remapper                                         # display; edit the classes
    >>> remapper.label_dict        # {0: 'scolopax-minor-absent', 1: 'scolopax-minor-present'}
    >>> remapper.save("runs/r1/labels_song.csv")         # or click Save
    >>> table = remapper.table                           # for SplitBalance / TrainingControl
    """

    column = traitlets.Unicode(help="The column whose values are mapped.")
    mapping = traitlets.Dict(
        value_trait=traitlets.Unicode(), key_trait=traitlets.Unicode(), help="value → class"
    )
    new_column = traitlets.Unicode(help="Name of the class column.")
    name_prefix = traitlets.Unicode(help="Prefix of the class names in the label dictionary.")
    status = traitlets.Unicode(help="What the last Save wrote ('' once it is out of date).")

    # child controls by role, owned by the sub-view that wires them
    source_dropdown, new_column_text, name_prefix_text = Part.of("settings", 3)
    class_boxes = Part("rows_box")
    unmapped_html, counts_before_html, counts_after_html = Part.of("summary", 3)
    label_dict_html, before_figure, before_bars, after_figure, after_bars = Part.of("summary", 5)
    save_path_text = Part("save_bar", "path_text")
    save_button, status_html = Part.of("save_bar", 2)

    @traitlets.validate("column")
    def _valid_column(self, proposal):
        column = proposal["value"]
        if column not in self.df.columns or column == self.filename_column:
            raise LabelError(f"table has no label column {column!r}; it has {self._columns}")
        return column

    @traitlets.validate("mapping")
    def _valid_mapping(self, proposal):
        clean = {str(k).strip(): str(v).strip() for k, v in proposal["value"].items()}
        unknown = sorted(set(clean) - set(self.class_boxes))
        if unknown:
            raise LabelError(
                f"column {self.column!r} has no value(s) {unknown}; "
                f"its values are {sorted(self.class_boxes)}"
            )
        return {k: v for k, v in clean.items() if v}

    def __init__(
        self,
        df: pd.DataFrame | str | os.PathLike,
        source_column: str | None = None,
        mapping: Mapping[str, str] | None = None,
        new_column: str | None = None,
        *,
        name_prefix: str = "",
        filename_column: str = "filename",
        source_path: str | os.PathLike | None = None,
        save_path: str | os.PathLike | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(df, pd.DataFrame):
            source_path = source_path or df
            df = read_labels(df, filename_column=filename_column, check_files=False)
        self.df, self.filename_column = df, filename_column
        self.source_path = Path(source_path) if source_path is not None else None
        self._save_path = save_path
        self.saved_path: Path | None = None
        self._saved_state: tuple | None = None
        self.errors = ErrorLog()
        self._columns = _label_columns(df, filename_column, source_column)
        source_column = source_column or self._columns[0]
        self._start_mapping = {str(k): str(v) for k, v in (mapping or {}).items()}
        self.preview: RemapPreview | None = None
        self._building = True
        try:
            self.name_prefix = name_prefix
            self.new_column = new_column or f"{source_column}_class"
            self.column = source_column
        finally:
            self._building = False
        self._build()
        self._set_source(source_column)

    def _build(self) -> None:
        guard = self.errors.guard
        self.settings = RemapSettings(self._columns, self.column, self.new_column, self.name_prefix)
        self.rows_box = MappingRows(lambda values: setattr(self, "mapping", values), guard)
        self.summary = RemapSummary()
        self.save_bar = SaveBar("save as", "", "Save CSV", guard(self.save))
        traitlets.link((self, "column"), (self.source_dropdown, "value"))
        traitlets.link((self, "new_column"), (self.new_column_text, "value"))
        traitlets.link((self, "name_prefix"), (self.name_prefix_text, "value"))
        self.observe(guard(lambda ch: self._on_column(ch["new"])), names="column")
        self.observe(guard(lambda _: self._on_mapping()), names="mapping")
        self.observe(guard(lambda _: self.refresh()), names=["new_column", "name_prefix"])
        self.observe(lambda ch: self.save_bar.show_status(ch["new"]), names="status")
        self.children = [
            self.settings,
            widgets.HTML("<b>value → class</b> (type or pick a class; empty = unmapped)"),
            self.rows_box,
            self.summary,
            self.save_bar,
            self.errors.output,
        ]

    def _on_column(self, column: str) -> None:
        if not self._building:
            self.new_column = f"{column}_class"
            self._set_source(column)

    def _set_source(self, column: str) -> None:
        start = identity_mapping(self.df, column)
        start.update({k: v for k, v in self._start_mapping.items() if k in start})
        self._building = True
        try:
            counts = self.df[column].astype(str).str.strip().value_counts()
            self.rows_box.build(start, counts)
            self.mapping = {k: v for k, v in start.items() if v}
        finally:
            self._building = False
        self.refresh()

    def _on_mapping(self) -> None:
        if not self._building:
            self.rows_box.show(self.mapping)
            self.refresh()

    # ------------------------------------------------------------ public API
    @property
    def source_column(self) -> str:
        """The column being remapped (same as :attr:`column`)."""
        return self.column

    def set_mapping(self, mapping: Mapping[str, str]) -> None:
        """Set the class of each listed value (others keep theirs; ``""`` unmaps)."""
        self.mapping = {**self.mapping, **{str(k): str(v) for k, v in mapping.items()}}

    def refresh(self) -> RemapPreview | None:
        """Recompute the remap from the controls and update tables and charts."""
        if self._building:
            return self.preview
        p = preview_remap(self.df, self.column, self.mapping, self.new_column, self.name_prefix)
        self.preview = p
        if self.status and remap_state(self) != self._saved_state:
            self.status = ""  # the saved file no longer matches what is shown
        self.rows_box.suggest(p.mapping)
        self.summary.show(p)
        self.save_bar.enable(p.complete, "every value needs a class first")
        self.save_bar.suggest(str(self.default_save_path()))
        return p

    @property
    def result(self) -> pd.DataFrame | None:
        """The remapped table with ``NumericLabels`` (``None`` while values are unmapped)."""
        return self.preview.result if self.preview else None

    @property
    def label_dict(self) -> dict[int, str]:
        """Code → class name (empty while values are unmapped)."""
        return dict(self.preview.label_dict) if self.preview else {}

    @property
    def unmapped(self) -> list[str]:
        """Values without a class."""
        return list(self.preview.unmapped) if self.preview else []

    @property
    def table(self) -> LabeledTable | None:
        """The result as a :class:`~woodcock_widgets.tables.labeled.LabeledTable`."""
        if self.result is None:
            return None
        return LabeledTable(self.result, self.preview.new_column, self.label_dict)

    def default_save_path(self) -> Path:
        """Where Save writes when no path is typed."""
        column = self.preview.new_column if self.preview else "remapped"
        return default_save_path(self._save_path, self.source_path, column)

    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Write :attr:`result` to a new CSV atomically (never over the source CSV).

        A refusal is shown in the widget; a notebook cell that called this prints it as
        one line (no traceback) and stops there.

        Raises
        ------
        LabelError
            Values are still unmapped, or ``path`` is the source CSV.
        """
        return save_remap(self, path)
