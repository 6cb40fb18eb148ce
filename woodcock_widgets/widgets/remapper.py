"""LabelRemapper: map a column's values to classes, see the counts, get codes, save a new CSV."""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from pathlib import Path

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets

from ..errors import LabelError
from ..tables.labeled import LabeledTable
from ..tables.labels import read_labels, save_labels
from ..tables.remapping import RemapPreview, identity_mapping, preview_remap
from ._errors import ErrorLog
from ._plots import bar_figure
from ._tables import frame_html, mapping_html, messages_html, status_html

__all__ = ["LabelRemapper"]


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
        self.df = df
        self.filename_column = filename_column
        self.source_path = Path(source_path) if source_path is not None else None
        self._save_path = save_path
        self.saved_path: Path | None = None
        self._saved_state: tuple | None = None
        self.errors = ErrorLog()
        self._columns = [c for c in df.columns if c != filename_column]
        if not self._columns:
            raise LabelError(f"table has no label column besides {filename_column!r}")
        source_column = source_column or self._columns[0]
        if source_column not in df.columns:
            raise LabelError(f"table has no column {source_column!r}; it has {list(df.columns)}")
        self._start_mapping = {str(k): str(v) for k, v in (mapping or {}).items()}
        self.class_boxes: dict[str, widgets.Combobox] = {}
        self._building = False
        self.preview: RemapPreview | None = None
        self._default_shown = ""
        self._building = True
        try:
            self.name_prefix = name_prefix
            self.new_column = new_column or f"{source_column}_class"
            self.column = source_column
        finally:
            self._building = False
        self._build()
        self._set_source(source_column)

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        guard = self.errors.guard
        self.source_dropdown = widgets.Dropdown(
            options=self._columns, value=self.column, description="source"
        )
        self.new_column_text = widgets.Text(
            value=self.new_column, description="new column", continuous_update=False
        )
        self.name_prefix_text = widgets.Text(
            value=self.name_prefix,
            description="name prefix",
            placeholder="e.g. scolopax-minor-",
            continuous_update=False,
        )
        self.rows_box = widgets.VBox()
        self.counts_before_html = widgets.HTML()
        self.counts_after_html = widgets.HTML()
        self.label_dict_html = widgets.HTML()
        self.unmapped_html = widgets.HTML()
        self.before_figure, self.before_bars = bar_figure("value", "clips", title="before")
        self.after_figure, self.after_bars = bar_figure("class", "clips", title="after")
        for fig in (self.before_figure, self.after_figure):
            fig.layout.width = "48%"
        self.save_path_text = widgets.Text(
            value="", description="save as", layout=widgets.Layout(width="60%")
        )
        self.save_button = widgets.Button(
            description="Save CSV", icon="save", layout=widgets.Layout(width="auto")
        )
        self.status_html = widgets.HTML()

        traitlets.link((self, "column"), (self.source_dropdown, "value"))
        traitlets.link((self, "new_column"), (self.new_column_text, "value"))
        traitlets.link((self, "name_prefix"), (self.name_prefix_text, "value"))
        self.observe(guard(lambda ch: self._on_column(ch["new"])), names="column")
        self.observe(guard(lambda _: self._on_mapping()), names="mapping")
        self.observe(guard(lambda _: self.refresh()), names=["new_column", "name_prefix"])
        self.observe(lambda ch: self._show_status(ch["new"]), names="status")
        self.save_button.on_click(guard(lambda _: self.save()))

        self.children = [
            widgets.HBox([self.source_dropdown, self.new_column_text, self.name_prefix_text]),
            widgets.HTML("<b>value → class</b> (type or pick a class; empty = unmapped)"),
            self.rows_box,
            self.unmapped_html,
            widgets.HBox(
                [self.counts_before_html, self.counts_after_html, self.label_dict_html],
                layout=widgets.Layout(justify_content="space-around"),
            ),
            widgets.HBox([self.before_figure, self.after_figure]),
            widgets.HBox([self.save_path_text, self.save_button]),
            self.status_html,
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
            rows = []
            boxes = {}
            counts = self.df[column].astype(str).str.strip().value_counts()
            for value, target in start.items():
                box = widgets.Combobox(
                    value=target,
                    options=self._suggestions(start),
                    placeholder="class",
                    ensure_option=False,
                    continuous_update=False,
                    layout=widgets.Layout(width="16em"),
                )
                box.observe(self.errors.guard(self._on_box), names="value")
                boxes[value] = box
                label = widgets.HTML(
                    f"<code>{html.escape(value)}</code> ({int(counts.get(value, 0))} clips)",
                    layout=widgets.Layout(width="16em"),
                )
                rows.append(widgets.HBox([label, widgets.HTML("→"), box]))
            self.class_boxes = boxes
            self.rows_box.children = rows
            self.mapping = {k: v for k, v in start.items() if v}
        finally:
            self._building = False
        self.refresh()

    def _on_box(self, _change) -> None:
        if not self._building:
            self.mapping = {k: b.value for k, b in self.class_boxes.items()}

    def _on_mapping(self) -> None:
        if self._building:
            return
        self._building = True
        try:
            for value, box in self.class_boxes.items():
                box.value = self.mapping.get(value, "")
        finally:
            self._building = False
        self.refresh()

    @staticmethod
    def _suggestions(mapping: Mapping[str, str]) -> list[str]:
        return sorted({v for v in mapping.values() if v} | set(mapping))

    # ------------------------------------------------------------ public API
    @property
    def source_column(self) -> str:
        """The column being remapped (same as :attr:`column`)."""
        return self.column

    def set_mapping(self, mapping: Mapping[str, str]) -> None:
        """Set the class of each listed value (others keep theirs; ``""`` unmaps)."""
        self.mapping = {**self.mapping, **{str(k): str(v) for k, v in mapping.items()}}

    def _state(self) -> tuple:
        return (self.column, tuple(sorted(self.mapping.items())), self.new_column, self.name_prefix)

    def refresh(self) -> RemapPreview | None:
        """Recompute the remap from the controls and update tables and charts."""
        if self._building:
            return self.preview
        p = preview_remap(self.df, self.column, self.mapping, self.new_column, self.name_prefix)
        self.preview = p
        if self.status and self._state() != self._saved_state:
            self.status = ""  # the saved file no longer matches what is shown
        suggestions = self._suggestions({**{k: "" for k in self.class_boxes}, **p.mapping})
        for box in self.class_boxes.values():
            box.options = suggestions
        self.counts_before_html.value = "<b>before</b>" + frame_html(p.counts_before)
        after_title = (
            "<b>after</b>"
            if p.complete
            else "<b>after</b> <small>(codes once every value has a class)</small>"
        )
        self.counts_after_html.value = after_title + frame_html(p.counts_after)
        self.label_dict_html.value = (
            "<b>label dictionary</b>" + mapping_html(p.label_dict, "code", "name")
            if p.label_dict
            else ""
        )
        counts = p.counts_before.set_index("value")["count"]
        self.unmapped_html.value = messages_html(
            [
                f"value {v!r} ({int(counts.loc[v])} clips) has no class: "
                "type one in its box before saving"
                for v in p.unmapped
            ],
            "warning",
        )
        with self.before_bars.hold_sync():
            self.before_bars.x = np.asarray(p.counts_before["value"], dtype=str)
            self.before_bars.y = p.counts_before["count"].to_numpy(float)
        with self.after_bars.hold_sync():
            self.after_bars.x = np.asarray(p.counts_after["class"], dtype=str)
            self.after_bars.y = p.counts_after["count"].to_numpy(float)
        self.save_button.disabled = not p.complete
        self.save_button.tooltip = "" if p.complete else "every value needs a class first"
        if self.save_path_text.value in ("", self._default_shown):
            self._default_shown = str(self.default_save_path())
            self.save_path_text.value = self._default_shown
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
        if self._save_path is not None:
            return Path(self._save_path)
        column = self.preview.new_column if self.preview else "remapped"
        if self.source_path is not None:
            return self.source_path.with_name(f"{self.source_path.stem}_{column}.csv")
        return Path(f"labels_{column}.csv")

    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Write :attr:`result` to a new CSV atomically (never over the source CSV).

        A refusal is shown in the widget; a notebook cell that called this prints it as
        one line (no traceback) and stops there.

        Raises
        ------
        LabelError
            Values are still unmapped, or ``path`` is the source CSV.
        """
        with self.errors.raising():
            if self.result is None:
                raise LabelError(
                    f"cannot save: value(s) {self.unmapped} of column {self.column!r} "
                    "have no class yet; give each a class in the remapper"
                )
            target = (
                Path(path)
                if path is not None
                else Path(self.save_path_text.value.strip() or self.default_save_path())
            )
            self.saved_path = save_labels(self.result, target, source=self.source_path)
        self._saved_state = self._state()
        self.status = f"saved {len(self.result)} rows to {self.saved_path}"
        return self.saved_path

    def _show_status(self, text: str) -> None:
        self.status_html.value = status_html(text, "ok") if text else ""
