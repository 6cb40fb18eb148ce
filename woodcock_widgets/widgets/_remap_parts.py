"""Sub-views of the LabelRemapper, one job each.

:class:`RemapSettings` names the source column, the class column and the name prefix;
:class:`MappingRows` is one class box per value; :class:`RemapSummary` shows the counts
before and after, the label dictionary and the values still without a class. The Save line
is :class:`~woodcock_widgets.widgets._save_bar.SaveBar`.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping

import ipywidgets as widgets
import numpy as np
import pandas as pd

from ..tables.remapping import RemapPreview
from ._parts import Syncing
from ._plots import bar_figure
from ._tables import frame_html, mapping_html, messages_html

__all__ = ["MappingRows", "RemapSettings", "RemapSummary", "suggestions"]


def suggestions(mapping: Mapping[str, str]) -> list[str]:
    """Classes a box offers: the classes given so far and the values themselves."""
    return sorted({v for v in mapping.values() if v} | set(mapping))


class RemapSettings(widgets.HBox):
    """The source column, the new column's name and the class-name prefix."""

    def __init__(self, columns: list[str], column: str, new_column: str, prefix: str) -> None:
        self.source_dropdown = widgets.Dropdown(options=columns, value=column, description="source")
        self.new_column_text = widgets.Text(
            value=new_column, description="new column", continuous_update=False
        )
        self.name_prefix_text = widgets.Text(
            value=prefix,
            description="name prefix",
            placeholder="e.g. scolopax-minor-",
            continuous_update=False,
        )
        super().__init__([self.source_dropdown, self.new_column_text, self.name_prefix_text])


class MappingRows(widgets.VBox):
    """One row per value of the source column: the value, its clip count, its class box.

    Parameters
    ----------
    on_edit : callable
        Called with ``{value: class}`` of every box when a user edits one.
    guard : callable
        Wraps the boxes' observers (the owner's ``ErrorLog.guard``).

    Attributes
    ----------
    class_boxes : dict of str to ipywidgets.Combobox
        Value → its class box.
    """

    def __init__(self, on_edit: Callable, guard: Callable[[Callable], Callable]) -> None:
        super().__init__()
        self.class_boxes: dict[str, widgets.Combobox] = {}
        self.syncing = Syncing()
        self._on_box = guard(lambda _: None if self.syncing else on_edit(self.values()))

    def values(self) -> dict[str, str]:
        """Value → class as the boxes say now (``""``: no class)."""
        return {k: b.value for k, b in self.class_boxes.items()}

    def build(self, start: Mapping[str, str], counts: pd.Series) -> None:
        """A row per value of ``start`` (value → class), with its clip count."""
        rows, boxes = [], {}
        with self.syncing:
            for value, target in start.items():
                box = widgets.Combobox(
                    value=target,
                    options=suggestions(start),
                    placeholder="class",
                    ensure_option=False,
                    continuous_update=False,
                    layout=widgets.Layout(width="16em"),
                )
                box.observe(self._on_box, names="value")
                boxes[value] = box
                label = widgets.HTML(
                    f"<code>{html.escape(value)}</code> ({int(counts.get(value, 0))} clips)",
                    layout=widgets.Layout(width="16em"),
                )
                rows.append(widgets.HBox([label, widgets.HTML("→"), box]))
            self.class_boxes = boxes
            self.children = rows

    def show(self, mapping: Mapping[str, str]) -> None:
        """Put each value's class (``""`` when ``mapping`` has none) in its box."""
        with self.syncing:
            for value, box in self.class_boxes.items():
                box.value = mapping.get(value, "")

    def suggest(self, mapping: Mapping[str, str]) -> None:
        """Offer the classes of ``mapping`` (and the values) in every box."""
        options = suggestions({**{k: "" for k in self.class_boxes}, **mapping})
        for box in self.class_boxes.values():
            box.options = options


class RemapSummary(widgets.VBox):
    """Values without a class; counts before and after; the label dictionary; two bar charts."""

    def __init__(self) -> None:
        self.unmapped_html = widgets.HTML()
        self.counts_before_html = widgets.HTML()
        self.counts_after_html = widgets.HTML()
        self.label_dict_html = widgets.HTML()
        self.before_figure, self.before_bars = bar_figure("value", "clips", title="before")
        self.after_figure, self.after_bars = bar_figure("class", "clips", title="after")
        for fig in (self.before_figure, self.after_figure):
            fig.layout.width = "48%"
        super().__init__(
            [
                self.unmapped_html,
                widgets.HBox(
                    [self.counts_before_html, self.counts_after_html, self.label_dict_html],
                    layout=widgets.Layout(justify_content="space-around"),
                ),
                widgets.HBox([self.before_figure, self.after_figure]),
            ]
        )

    def show(self, p: RemapPreview) -> None:
        """Show a remap preview."""
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
