"""bqplot figure builders shared by the widgets (marks are built once, then updated)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import bqplot as bq
import ipywidgets as widgets
import numpy as np
from bqplot.traits import array_from_json, array_to_json
from traittypes import Array

__all__ = [
    "BLANK_PNG",
    "HEATMAP_STYLE",
    "spectrogram_figure",
    "set_spectrogram",
    "show_png",
    "bar_figure",
    "line_figure",
    "heatmap_figure",
    "set_confusion",
    "stacked_bar_figure",
    "score_figure",
]

COLORS = {"train": "#1f77b4", "valid": "#ff7f0e", "all": "#7f7f7f"}

# Width of one character of an axis tick label (px, bqplot's default sans-serif, ~12px), to
# size margins so class names are never clipped, and the text colours of heat-map counts.
TICK_CHAR_PX = 7.5
DARK_TEXT, LIGHT_TEXT = "#111111", "#ffffff"

#: Put this in an ``ipywidgets.HTML`` beside a :func:`heatmap_figure`: its counts let clicks
#: through to the cells under them (else a click on a count's text selects nothing).
HEATMAP_STYLE = "<style>.wcw-confusion text.label{pointer-events:none}</style>"


def _blank_png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (1, 1), 255).save(buf, format="PNG")
    return buf.getvalue()


#: A 1x1 white PNG, shown where a clip could not be read.
BLANK_PNG = _blank_png()


def _figure(marks, axes, title: str = "", height: str = "260px", **kw) -> bq.Figure:
    return bq.Figure(
        marks=marks,
        axes=axes,
        title=title,
        fig_margin=kw.pop(
            "fig_margin", {"top": 30 if title else 10, "bottom": 45, "left": 65, "right": 15}
        ),
        layout=widgets.Layout(height=height, width=kw.pop("width", "100%")),
        **kw,
    )


def spectrogram_figure(height: str = "260px") -> tuple[bq.Figure, bq.Image]:
    """A figure with one ``bqplot.Image`` on a seconds × Hz plane.

    Returns
    -------
    (bqplot.Figure, bqplot.Image)
        The image mark's ``image`` is an ``ipywidgets.Image`` (PNG); see
        :func:`set_spectrogram`.
    """
    xs = bq.LinearScale(min=0.0, max=1.0)
    ys = bq.LinearScale(min=0.0, max=1.0)
    mark = bq.Image(
        image=widgets.Image(value=BLANK_PNG, format="png"),
        scales={"x": xs, "y": ys},
        x=[0.0, 1.0],
        y=[0.0, 1.0],
    )
    axes = [
        bq.Axis(scale=xs, label="time (s)"),
        bq.Axis(scale=ys, side="left", label="frequency (Hz)", tick_format="~s"),
    ]
    return _figure([mark], axes, height=height, padding_x=0.0, padding_y=0.0), mark


def show_png(mark: bq.Image, png: bytes) -> None:
    """Show new PNG bytes on a ``bqplot.Image`` mark.

    bqplot's image view redraws when the mark's ``image`` trait gets another widget, not when
    that widget's ``value`` changes (the browser would keep the old picture), so a new
    ``ipywidgets.Image`` replaces the old one, which is closed.
    """
    old = mark.image
    mark.image = widgets.Image(value=png, format="png")
    if old is not None:
        old.close()


def set_spectrogram(mark: bq.Image, png: bytes, x: Sequence[float], y: Sequence[float]) -> None:
    """Show ``png`` spanning ``x`` seconds and ``y`` Hz (scales follow, one message each)."""
    x0, x1 = float(x[0]), float(x[1])
    y0, y1 = float(y[0]), float(y[1])
    if x1 <= x0:
        x1 = x0 + 1e-3
    if y1 <= y0:
        y1 = y0 + 1.0
    xs, ys = mark.scales["x"], mark.scales["y"]
    with xs.hold_sync():
        xs.min, xs.max = x0, x1
    with ys.hold_sync():
        ys.min, ys.max = y0, y1
    with mark.hold_sync():
        show_png(mark, png)
        mark.x = [x0, x1]
        mark.y = [y0, y1]


def bar_figure(
    x_label: str,
    y_label: str,
    labels: Sequence[str] | None = None,
    title: str = "",
    height: str = "240px",
    y_max: float | None = None,
) -> tuple[bq.Figure, bq.Bars]:
    """Bars over categories (grouped when ``labels`` names several series).

    Set ``bars.x`` to the categories and ``bars.y`` to one row per series. Several series
    need ``y_max``: bqplot's grouped bars do not fit the y axis to the data.
    """
    xs = bq.OrdinalScale()
    ys = bq.LinearScale(min=0.0, max=y_max) if y_max is not None else bq.LinearScale(min=0.0)
    series = list(labels or [])
    bars = bq.Bars(
        x=np.array([], dtype=str),
        y=np.zeros((len(series), 0)) if series else np.array([]),
        scales={"x": xs, "y": ys},
        # bqplot 0.13 draws grouped bars on a collapsed [0, 0] y domain unless the scale has
        # both min and max, so one series uses the default (stacked) type
        type="grouped" if len(series) > 1 else "stacked",
        labels=series,
        display_legend=len(series) > 1,
        colors=[COLORS.get(s, c) for s, c in zip(series, bq.CATEGORY10)] or ["#1f77b4"],
        label_display=True,
        label_display_format=".2f" if y_max is not None else ".0f",
    )
    axes = [
        bq.Axis(scale=xs, label=x_label),
        bq.Axis(scale=ys, side="left", label=y_label, tick_format=".2~f"),
    ]
    return _figure([bars], axes, title=title, height=height, legend_location="top-right"), bars


def line_figure(
    title: str,
    y_label: str,
    series: Sequence[str],
    x_label: str = "epoch",
    height: str = "220px",
    y_range: tuple[float, float] | None = None,
    legend_location: str = "top-right",
    legend: bool = True,
) -> tuple[bq.Figure, dict[str, bq.Lines]]:
    """One ``Lines`` mark per series on shared scales (points marked; bqplot's legend unless
    ``legend=False``, for a :func:`~._tables.legend_html` line above the figure instead)."""
    xs = bq.LinearScale()
    ys = bq.LinearScale(min=y_range[0], max=y_range[1]) if y_range else bq.LinearScale()
    lines = {
        name: bq.Lines(
            x=np.array([], dtype=float),
            y=np.array([], dtype=float),
            scales={"x": xs, "y": ys},
            labels=[name],
            colors=[COLORS.get(name, c)],
            marker="circle",
            marker_size=24,
            display_legend=legend,
        )
        for name, c in zip(series, bq.CATEGORY10)
    }
    axes = [
        bq.Axis(scale=xs, label=x_label, tick_format="d"),
        bq.Axis(scale=ys, side="left", label=y_label, tick_format=".2~f"),
    ]
    fig = _figure(
        list(lines.values()), axes, title=title, height=height, legend_location=legend_location
    )
    return fig, lines


def _cells_from_json(value, obj=None):
    # bqplot reads a clicked cell list ``[[row, column]]`` into an object array that it then
    # cannot serialize back, which raises inside ipywidgets before any observer runs: a click
    # in the browser never reached Python. Read it as integers instead.
    if isinstance(value, list):
        return np.asarray(value, dtype=int).reshape(-1, 2)
    return array_from_json(value, obj)


class _CellHeatMap(bq.GridHeatMap):
    """A ``GridHeatMap`` whose clicked (``selected``) cells reach Python observers."""

    selected = Array(None, allow_none=True).tag(
        sync=True, to_json=array_to_json, from_json=_cells_from_json
    )


def heatmap_figure(
    class_names: Sequence[str], height: str | None = None
) -> tuple[bq.Figure, bq.GridHeatMap, bq.Label]:
    """A confusion-matrix heat map (rows: true class, columns: predicted) that selects cells.

    A click sets the mark's ``selected`` to ``[[row, column]]``; a click on a count sets the
    label mark's ``selected`` to ``[row * n + column]``. The counts are a separate
    ``Label`` mark, so each can have its own colour (white on dark cells, dark on light; the
    heat map's own labels are all one colour). Margins and the figure's width follow the
    longest class name, so full names are shown, never clipped. Fill it with
    :func:`set_confusion`.

    Returns
    -------
    (bqplot.Figure, bqplot.GridHeatMap, bqplot.Label)
    """
    names = [str(c) for c in class_names]
    n = len(names)
    name_px = int(max((len(c) for c in names), default=4) * TICK_CHAR_PX) + 8
    rotate = n > 2  # several long names side by side: slant them
    left = name_px + 34  # tick labels, then the axis label "true"
    bottom = (int(name_px * 0.55) if rotate else 0) + 50
    column_px = max(90, 60 if rotate else name_px + 16)
    rs = bq.OrdinalScale(reverse=True)
    cs = bq.OrdinalScale()
    color = bq.ColorScale(scheme="Blues", min=0)
    mark = _CellHeatMap(
        color=np.zeros((n, n)),
        row=names,
        column=names,
        scales={"row": rs, "column": cs, "color": color},
        interactions={"click": "select"},
        selected_style={"stroke": "red", "stroke-width": "3"},
        display_format=None,  # the counts are the Label mark below
        stroke="white",
    )
    labels = bq.Label(
        x=np.array(names * n, dtype=str),
        y=np.array([r for r in names for _ in names], dtype=str),
        text=["0"] * (n * n),
        colors=[DARK_TEXT] * (n * n),
        scales={"x": cs, "y": rs},
        align="middle",
        default_size=16,
        font_weight="bold",
        y_offset=6,
        apply_clip=False,
        # the counts lie on top of the cells: a click on one must select its cell too
        interactions={"click": "select"},
        selected_style={},
        unselected_style={},
    )
    axes = [
        bq.Axis(
            scale=cs,
            label="predicted",
            tick_rotate=-25 if rotate else 0,
            label_offset=f"{bottom - 12}px",
        ),
        bq.Axis(scale=rs, side="left", label="true", label_offset=f"{left - 14}px"),
        bq.ColorAxis(scale=color, side="right", visible=False),
    ]
    fig = _figure(
        [mark, labels],
        axes,
        title="confusion (click a cell)",
        height=height or f"{max(240, 70 * n + bottom + 40)}px",
        width=f"{left + n * column_px + 20}px",
        fig_margin={"top": 30, "bottom": bottom, "left": left, "right": 20},
    )
    fig.layout.min_width = fig.layout.width  # a flex row must not squeeze the names
    fig.add_class("wcw-confusion")  # see HEATMAP_STYLE
    return fig, mark, labels


def set_confusion(mark: bq.GridHeatMap, labels: bq.Label, matrix: np.ndarray) -> None:
    """Show a confusion matrix: cell colours, and counts readable on every cell."""
    matrix = np.asarray(matrix, dtype=float)
    top = float(matrix.max()) if matrix.size else 0.0
    # "Blues" is dark from about half its range on: white text there, dark text elsewhere
    dark = matrix > 0.5 * top if top > 0 else np.zeros(matrix.shape, bool)
    with mark.hold_sync():
        mark.color = matrix
    with labels.hold_sync():
        labels.text = [str(int(v)) for v in matrix.ravel()]
        labels.colors = [LIGHT_TEXT if d else DARK_TEXT for d in dark.ravel()]


def stacked_bar_figure(
    x_label: str, y_label: str, series: Sequence[str], height: str = "260px"
) -> tuple[bq.Figure, bq.Bars]:
    """Stacked bars (one stack per category, one segment per series), each labeled.

    No title and no bqplot legend: put a :func:`~._tables.legend_html` line above the
    figure, so neither can sit on the other or on the bars.
    """
    xs = bq.OrdinalScale()
    ys = bq.LinearScale(min=0.0)
    bars = bq.Bars(
        x=np.array([], dtype=str),
        y=np.zeros((len(series), 0)),
        scales={"x": xs, "y": ys},
        type="stacked",
        labels=list(series),
        display_legend=False,
        colors=list(bq.CATEGORY10[: max(len(series), 1)]),
        label_display=True,
        label_display_format=".0f",
        label_font_style={"fill": "white", "font-weight": "bold"},
        padding=0.35,
    )
    axes = [
        bq.Axis(scale=xs, label=x_label),
        bq.Axis(scale=ys, side="left", label=y_label, tick_format="d"),
    ]
    fig = _figure([bars], axes, height=height, fig_margin=_MARGIN_NO_TITLE)
    return fig, bars


_MARGIN_NO_TITLE = {"top": 15, "bottom": 45, "left": 65, "right": 15}


def score_figure(height: str = "220px") -> tuple[bq.Figure, bq.Lines, bq.Scatter, bq.Lines]:
    """Score over time of a long recording, its detections, and the threshold line."""
    xs = bq.LinearScale()
    ys = bq.LinearScale(min=0.0, max=1.0)
    scores = bq.Lines(
        x=np.array([], dtype=float),
        y=np.array([], dtype=float),
        scales={"x": xs, "y": ys},
        colors=["#1f77b4"],
        labels=["score"],
    )
    dets = bq.Scatter(
        x=np.array([], dtype=float),
        y=np.array([], dtype=float),
        scales={"x": xs, "y": ys},
        colors=["#d62728"],
        default_size=40,
        labels=["detection"],
    )
    thresh = bq.Lines(
        x=np.array([0.0, 1.0]),
        y=np.array([0.5, 0.5]),
        scales={"x": xs, "y": ys},
        colors=["#7f7f7f"],
        line_style="dashed",
        labels=["threshold"],
    )
    axes = [
        bq.Axis(scale=xs, label="time (s)"),
        bq.Axis(scale=ys, side="left", label="score", tick_format=".1f"),
    ]
    return _figure([scores, thresh, dets], axes, height=height), scores, dets, thresh
