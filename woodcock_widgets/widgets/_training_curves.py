"""Live training curves: loss, accuracy and F1 per epoch, with a legend that covers nothing."""

from __future__ import annotations

import math

import ipywidgets as widgets
import numpy as np

from ..ml.trainer import History
from ._plots import COLORS, line_figure
from ._tables import legend_html

__all__ = ["CURVES", "TrainingCurves"]

#: Figure name → (metric key in the history, y-axis label, series shown).
CURVES = {
    "loss": ("loss", "cross-entropy", ("train", "valid")),
    "accuracy": ("accuracy", "accuracy", ("train", "valid")),
    "F1": ("f1", "macro F1", ("train", "valid")),
}


class TrainingCurves(widgets.VBox):
    """Loss, accuracy and F1 per epoch, with one legend line above the charts.

    bqplot draws a legend inside the plot, where a curve can run under it; the legend here
    is an HTML line above the figures, so it never covers one. The epoch axes show whole
    epochs only, before training too.

    Attributes
    ----------
    curves : dict
        ``{"loss" | "accuracy" | "F1": {"train" | "valid": bqplot.Lines}}``.
    figures : dict
        ``{"loss" | "accuracy" | "F1": bqplot.Figure}``.
    """

    def __init__(self, epochs: int = 2) -> None:
        super().__init__()
        self.curves: dict[str, dict] = {}
        self.figures: dict[str, object] = {}
        for title, (_, y_label, series) in CURVES.items():
            y_range = (0.0, 1.0) if title != "loss" else None
            fig, lines = line_figure(title, y_label, series, y_range=y_range)
            for line in lines.values():
                line.display_legend = False
            fig.layout.width = "33%"
            self.curves[title], self.figures[title] = lines, fig
        self.legend_html = widgets.HTML(
            legend_html("curves", {s: COLORS[s] for s in ("train", "valid")})
        )
        self.set_epoch_axis(epochs)
        self.children = [self.legend_html, widgets.HBox(list(self.figures.values()))]

    def set_epoch_axis(self, n: int) -> None:
        """Whole-epoch ticks over 1..n (at most about ten; never a repeated label)."""
        n = max(int(n), 2)
        ticks = np.arange(1, n + 1, max(1, math.ceil(n / 10)), dtype=float)
        for figure in self.figures.values():
            axis = figure.axes[0]
            if axis.scale.min == 1.0 and axis.scale.max == float(n):
                continue
            with axis.scale.hold_sync():
                axis.scale.min, axis.scale.max = 1.0, float(n)
            with axis.hold_sync():
                axis.tick_values = ticks
                axis.tick_format = "d"

    def draw(self, history: History, epochs: int = 0) -> None:
        """Show ``history`` (NaN points left out); the axes span at least ``epochs``."""
        records = list(history.records)
        last = max([int(r["epoch"]) for r in records], default=1)
        self.set_epoch_axis(max(last, epochs))
        for title, (metric, _, series) in CURVES.items():
            for part in series:
                key = f"{part}_{metric}"
                points = [
                    (float(r["epoch"]), float(r[key]))
                    for r in records
                    if key in r and r[key] is not None and math.isfinite(float(r[key]))
                ]
                line = self.curves[title][part]
                with line.hold_sync():
                    line.x = np.array([p[0] for p in points], dtype=float)
                    line.y = np.array([p[1] for p in points], dtype=float)
