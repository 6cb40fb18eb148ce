"""Sub-views of the SplitBalance, one job each.

:class:`SplitSettings` holds the controls of the split's settings (linked to the owner's
traits); :class:`BalanceChart` shows how many clips of each class each part holds. The
Save line is :class:`~woodcock_widgets.widgets._save_bar.SaveBar`.
"""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets

from ..tables.long_view import class_colors
from ..tables.splits import SplitResult
from ._plots import stacked_bar_figure
from ._tables import frame_html, legend_html

__all__ = ["NO_GROUP", "PARTS", "BalanceChart", "SplitSettings", "counts_table", "moved_text"]

NO_GROUP = "(none)"
PARTS = ("all", "train", "valid")


class SplitSettings(widgets.VBox):
    """Class column and train share; seed, stratify and group column — linked to ``owner``.

    Parameters
    ----------
    owner : traitlets.HasTraits
        Has the traits ``label_column``, ``train_fraction``, ``seed``, ``stratify`` and
        ``group_column``; each control is linked to one.
    columns : list of str
        The class columns offered.
    groups : list of str
        The group columns offered (besides "(none)").
    """

    def __init__(self, owner: traitlets.HasTraits, columns: list[str], groups: list[str]) -> None:
        self.label_column_dropdown = widgets.Dropdown(
            options=columns, value=owner.label_column, description="classes"
        )
        # A text box, not a slider: a slider would silently clamp the value.
        self.train_fraction_input = widgets.FloatText(
            value=owner.train_fraction, step=0.05, description="train share"
        )
        self.seed_input = widgets.IntText(value=owner.seed, description="seed")
        self.stratify_checkbox = widgets.Checkbox(value=owner.stratify, description="stratify")
        self.group_dropdown = widgets.Dropdown(
            options=[NO_GROUP, *groups],
            value=owner.group_column or NO_GROUP,
            description="group by",
        )
        super().__init__(
            [
                widgets.HBox([self.label_column_dropdown, self.train_fraction_input]),
                widgets.HBox([self.seed_input, self.stratify_checkbox, self.group_dropdown]),
            ]
        )
        traitlets.link((owner, "label_column"), (self.label_column_dropdown, "value"))
        traitlets.link((owner, "train_fraction"), (self.train_fraction_input, "value"))
        traitlets.link((owner, "seed"), (self.seed_input, "value"))
        traitlets.link((owner, "stratify"), (self.stratify_checkbox, "value"))
        traitlets.link(
            (owner, "group_column"),
            (self.group_dropdown, "value"),
            transform=(lambda g: g or NO_GROUP, lambda v: None if v == NO_GROUP else v),
        )


def counts_table(result: SplitResult, n_all: int) -> pd.DataFrame:
    """Per class and part: ``count (share %)``, plus a total row."""
    report = result.report
    totals = {"all": n_all, "train": len(result.train), "valid": len(result.valid)}
    rows = {
        str(c): {
            p: f"{report.loc[c, f'{p}_count']} ({report.loc[c, f'{p}_fraction']:.1%})"
            for p in PARTS
        }
        for c in report.index
    }
    rows["total"] = {p: str(totals[p]) for p in PARTS}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "class"
    return table.reset_index()


def moved_text(seed: int, moved: int | None, n_valid: int) -> str:
    """How many validation clips a new seed changed (or how many there are)."""
    if moved is None:
        return f"<small>seed {seed}: {n_valid} validation clips</small>"
    return (
        f"<small>seed {seed}: {moved} of the {n_valid} validation clips "
        "were not held out in the split shown before</small>"
    )


class BalanceChart(widgets.HBox):
    """A bar per part (all, train, valid) split by class, its legend, and the counts table."""

    def __init__(self) -> None:
        self.legend_html = widgets.HTML()
        self.figure, self.bars = stacked_bar_figure("part", "clips", [])
        self.figure.layout.width = "420px"
        self.moved_html = widgets.HTML()
        self.counts_html = widgets.HTML()
        super().__init__(
            [widgets.VBox([self.legend_html, self.figure, self.moved_html]), self.counts_html],
            layout=widgets.Layout(align_items="flex-start"),
        )

    def show(self, result: SplitResult, n_all: int, what: str, moved: str) -> None:
        """Draw a split: ``what`` the bars count (legend title), ``moved`` under the chart."""
        report = result.report
        classes = [str(c) for c in report.index]
        colors = list(self.bars.colors)
        if list(self.bars.labels) != classes:  # one colour per class, past ten classes too
            colors = list(class_colors(classes).values())
        with self.bars.hold_sync():
            self.bars.labels = classes
            self.bars.colors = colors
            self.bars.x = np.array(PARTS, dtype=str)
            self.bars.y = np.vstack(
                [[report.loc[c, f"{p}_count"] for p in PARTS] for c in report.index]
            ).astype(float)
        self.legend_html.value = legend_html(what, dict(zip(classes, colors)))
        self.moved_html.value = moved
        self.counts_html.value = frame_html(counts_table(result, n_all))

    def clear(self) -> None:
        """No split: empty bars, no counts."""
        self.counts_html.value = self.moved_html.value = ""
        with self.bars.hold_sync():
            self.bars.x = np.array([], dtype=str)
            self.bars.y = np.zeros((len(self.bars.labels), 0))
