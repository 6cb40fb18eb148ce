"""Sub-views of the results review: the confusion matrix, the precision–recall curve.

Each is layout and drawing only; :class:`~.results_review.ResultsReview` holds the state
(class, threshold, selected cell) and tells them what to show.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ..errors import LabelError
from ._plots import HEATMAP_STYLE, _figure, heatmap_figure, set_confusion
from ._tables import mapping_html

__all__ = ["ClassChooser", "ConfusionPanel", "PrCurvePanel"]


class ClassChooser(widgets.HBox):
    """The class a review is about, and its detection threshold."""

    def __init__(self, names: Sequence[str], positive: int, threshold: float) -> None:
        super().__init__()
        self.class_dropdown = widgets.Dropdown(
            options=[(n, i) for i, n in enumerate(names)],
            value=positive,
            description="class",
            layout=widgets.Layout(width="auto"),
        )
        self.threshold_slider = widgets.FloatSlider(
            value=threshold,
            min=0.0,
            max=1.0,
            step=0.01,
            description="threshold",
            readout_format=".2f",
            continuous_update=False,
        )
        self.children = [self.class_dropdown, self.threshold_slider]


class ConfusionPanel(widgets.HBox):
    """A clickable confusion matrix and the metrics at the threshold beside it.

    Parameters
    ----------
    names : sequence of str
        Row and column names it starts with (they can change: :meth:`show`).
    size_names : sequence of str, optional
        Names to size the figure for (the longest it will show); default ``names``.
    on_cell : callable
        ``on_cell(true, predicted)`` when a cell (or its count) is clicked.
    on_clear : callable
        ``on_clear()`` when the selection is cleared.
    """

    def __init__(
        self,
        names: Sequence[str],
        on_cell: Callable[[int, int], None],
        on_clear: Callable[[], None],
        size_names: Sequence[str] | None = None,
    ) -> None:
        super().__init__(layout=widgets.Layout(align_items="center"))
        self.figure, self.heatmap, self.count_labels = heatmap_figure(size_names or names)
        self.metrics_html = widgets.HTML()
        self._on_cell, self._on_clear = on_cell, on_clear
        self.names: list[str] = []
        self.set_names(names)
        self.heatmap.observe(self._selected, names="selected")
        self.count_labels.observe(self._count_clicked, names="selected")
        self.children = [self.figure, self.metrics_html, widgets.HTML(HEATMAP_STYLE)]

    def set_names(self, names: Sequence[str]) -> None:
        """Name the rows and columns (same number as before)."""
        names = [str(c) for c in names]
        if names == self.names:
            return
        self.names = names
        with self.heatmap.hold_sync():
            self.heatmap.row = names
            self.heatmap.column = names
        with self.count_labels.hold_sync():
            self.count_labels.x = np.array(names * len(names), dtype=str)
            self.count_labels.y = np.array([r for r in names for _ in names], dtype=str)

    def show(self, matrix: np.ndarray, names: Sequence[str], metrics: dict, at: str) -> None:
        """Draw ``matrix`` (``C[true, predicted]``) under ``names``; list ``metrics`` at ``at``."""
        self.set_names(names)
        set_confusion(self.heatmap, self.count_labels, matrix)
        self.metrics_html.value = mapping_html(metrics, "at threshold", at)

    def code(self, name: str | int) -> int:
        """The row/column code of ``name`` (a name shown, or a code)."""
        if isinstance(name, int | np.integer) and 0 <= int(name) < len(self.names):
            return int(name)
        if str(name) in self.names:
            return self.names.index(str(name))
        raise LabelError(f"unknown confusion-matrix row {name!r}; the rows are {self.names}")

    def select(self, cell: tuple[int, int] | None) -> None:
        """Outline ``(true, predicted)`` (``None``: no cell) without calling back."""
        wanted = None if cell is None else [list(cell)]
        current = self.heatmap.selected
        if wanted is None and current is None:
            return
        if current is None or wanted is None or np.asarray(current).tolist() != wanted:
            self.heatmap.selected = wanted

    def _selected(self, change) -> None:
        sel = change["new"]
        if sel is None or len(sel) == 0:
            self._on_clear()
            return
        true, pred = (int(v) for v in np.asarray(sel)[-1])
        self._on_cell(true, pred)

    def _count_clicked(self, change) -> None:
        sel = change["new"]
        if sel is None or len(sel) == 0:
            return
        true, pred = divmod(int(np.asarray(sel).ravel()[-1]), len(self.names))
        self.count_labels.selected = None  # so the same count can be clicked again
        self._on_cell(true, pred)


class PrCurvePanel(widgets.VBox):
    """The precision–recall curve of one class, with the point the threshold picks.

    Attributes
    ----------
    pr_lines : bqplot.Lines
        The curve: ``x`` recall, ``y`` precision.
    pr_point : bqplot.Scatter
        Recall and precision at the current threshold.
    pr_figure : bqplot.Figure
    pr_html : ipywidgets.HTML
        The class, its AP and its positive rate (the AP of a random ranking); above the
        figure, where a long class name has room (a figure title would be cut off).
    """

    def __init__(self, height: str = "260px") -> None:
        super().__init__()
        xs = bq.LinearScale(min=0.0, max=1.0)
        ys = bq.LinearScale(min=0.0, max=1.05)
        self.pr_lines = bq.Lines(
            x=np.zeros(0),
            y=np.zeros(0),
            scales={"x": xs, "y": ys},
            colors=["#1f77b4"],
            interpolation="step-after",
            labels=["precision–recall"],
        )
        self.pr_point = bq.Scatter(
            x=np.zeros(0),
            y=np.zeros(0),
            scales={"x": xs, "y": ys},
            colors=["#d62728"],
            default_size=64,
            labels=["at threshold"],
        )
        ticks = np.linspace(0.0, 1.0, 6)  # a tick every 0.2: readable in a narrow figure
        axes = [
            bq.Axis(scale=xs, label="recall", tick_format=".1f", tick_values=ticks),
            bq.Axis(scale=ys, side="left", label="precision", tick_format=".1f", tick_values=ticks),
        ]
        self.pr_figure = _figure(
            [self.pr_lines, self.pr_point],
            axes,
            title="precision–recall",
            height=height,
            width="380px",
        )
        self.pr_html = widgets.HTML()
        self.children = [self.pr_html, self.pr_figure]

    def show(
        self,
        name: str,
        curve: tuple[np.ndarray, np.ndarray, np.ndarray],
        point: tuple[float, float] | None,
        ap: float,
        rate: float,
    ) -> None:
        """Draw ``name``'s ``(precision, recall, _)`` and ``point`` = ``(recall, precision)``."""
        precision, recall, _ = curve
        order = np.argsort(recall, kind="stable")  # left to right
        with self.pr_lines.hold_sync():
            self.pr_lines.x = np.asarray(recall, float)[order]
            self.pr_lines.y = np.asarray(precision, float)[order]
        with self.pr_point.hold_sync():
            xy = [] if point is None else [point]
            self.pr_point.x = np.array([p[0] for p in xy], dtype=float)
            self.pr_point.y = np.array([p[1] for p in xy], dtype=float)
        if len(recall) == 0:
            self.pr_html.value = f"<b>{html.escape(name)}</b>: no positive to find, no curve"
            return
        ap_text = "–" if math.isnan(ap) else f"{ap:.3f}"
        self.pr_html.value = (
            f"<b>{html.escape(name)}</b>: AP {ap_text} · a random ranking scores about {rate:.3f}"
        )
