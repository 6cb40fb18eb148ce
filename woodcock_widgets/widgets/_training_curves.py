"""Live training curves: loss, accuracy, F1 (and validation mAP) per epoch, legend above;
the validation precision–recall curve of a finished embeddings fit."""

from __future__ import annotations

import math

import ipywidgets as widgets
import numpy as np

from ..ml.trainer import History
from ._plots import COLORS, line_figure
from ._tables import legend_html

__all__ = ["CURVES", "MAP_CURVE", "PR_TITLE", "TrainingCurves"]

#: Figure name → (metric key in the history, y-axis label, series shown).
CURVES = {
    "loss": ("loss", "cross-entropy", ("train", "valid")),
    "accuracy": ("accuracy", "accuracy", ("train", "valid")),
    "F1": ("f1", "macro F1", ("train", "valid")),
}

#: The validation mAP figure: (history column, y-axis label); shown once a run has it.
MAP_CURVE = ("valid_map", "macro AP")

#: Title of the validation precision–recall figure (shown once a curve is drawn).
PR_TITLE = "precision–recall"


class TrainingCurves(widgets.VBox):
    """Loss, accuracy and F1 per epoch, with one legend line above the charts.

    bqplot draws a legend inside the plot, where a curve can run under it; the legend here
    is an HTML line above the figures, so it never covers one. The epoch axes show whole
    epochs only, before training too.

    The validation mAP (``valid_map``: the mean average precision over classes, by which a
    multi-label run picks its best epoch) has a fourth figure, shown from the first epoch
    that has it; until then the three others share the row.

    Attributes
    ----------
    curves : dict
        ``{"loss" | "accuracy" | "F1": {"train" | "valid": bqplot.Lines}}``.
    figures : dict
        ``{"loss" | "accuracy" | "F1": bqplot.Figure}``.
    map_curve : bqplot.Lines
        The validation mAP per epoch.
    map_figure : bqplot.Figure
        Its figure (in :attr:`row` once a history has ``valid_map``).
    pr_curve : bqplot.Lines
        Precision against recall of the validation set (:meth:`draw_pr`).
    pr_figure : bqplot.Figure
        Its figure (in :attr:`row` once a curve is drawn).
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
        self.map_figure, lines = line_figure("mAP", MAP_CURVE[1], ("valid",), y_range=(0.0, 1.0))
        self.map_curve = lines["valid"]
        self.map_curve.display_legend = False
        self.map_figure.layout.width = "25%"
        self.pr_figure, lines = line_figure(
            PR_TITLE, "precision", ("valid",), x_label="recall", y_range=(0.0, 1.05)
        )
        self.pr_curve = lines["valid"]
        self.pr_curve.display_legend = False
        x_axis = self.pr_figure.axes[0]
        x_axis.scale.min, x_axis.scale.max, x_axis.tick_format = 0.0, 1.0, ".1f"
        self.legend_html = widgets.HTML(
            legend_html("curves", {s: COLORS[s] for s in ("train", "valid")})
        )
        self.set_epoch_axis(epochs)
        self.row = widgets.HBox(list(self.figures.values()))
        self.children = [self.legend_html, self.row]

    @property
    def shows_map(self) -> bool:
        """Whether the mAP figure is shown."""
        return self.map_figure in self.row.children

    @property
    def shows_pr(self) -> bool:
        """Whether the precision–recall figure is shown."""
        return self.pr_figure in self.row.children

    def _show(self, figure) -> None:
        if figure in self.row.children:
            return
        shown = [*self.row.children, figure]
        for f in shown:
            f.layout.width = f"{100 // len(shown)}%"
        self.row.children = shown

    def _show_map(self) -> None:
        self._show(self.map_figure)

    def draw_pr(self, precision, recall, label: str = "") -> None:
        """Show the validation precision–recall curve (``label``: its class, in the title)."""
        with self.pr_curve.hold_sync():
            self.pr_curve.x = np.asarray(recall, dtype=float)
            self.pr_curve.y = np.asarray(precision, dtype=float)
        self.pr_figure.title = f"{PR_TITLE} ({label})" if label else PR_TITLE
        self._show(self.pr_figure)

    def set_epoch_axis(self, n: int) -> None:
        """Whole-epoch ticks over 1..n (at most about ten; never a repeated label)."""
        n = max(int(n), 2)
        ticks = np.arange(1, n + 1, max(1, math.ceil(n / 10)), dtype=float)
        for figure in [*self.figures.values(), self.map_figure]:
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
                _set_points(self.curves[title][part], records, f"{part}_{metric}")
        if any(MAP_CURVE[0] in r for r in records):
            self._show_map()
        _set_points(self.map_curve, records, MAP_CURVE[0])


def _set_points(line, records: list[dict], key: str) -> None:
    """One point per record that has a finite ``key`` (NaN points left out)."""
    points = [
        (float(r["epoch"]), float(r[key]))
        for r in records
        if key in r and r[key] is not None and math.isfinite(float(r[key]))
    ]
    with line.hold_sync():
        line.x = np.array([p[0] for p in points], dtype=float)
        line.y = np.array([p[1] for p in points], dtype=float)
