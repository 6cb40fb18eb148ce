"""Small HTML snippets for ``ipywidgets.HTML``: tables, message lists, status lines."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping

import pandas as pd

__all__ = ["frame_html", "legend_html", "mapping_html", "messages_html", "status_html"]

_TABLE_STYLE = (
    "<style>.wcw-table{border-collapse:collapse;font-size:0.9em}"
    ".wcw-table td,.wcw-table th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left}"
    "</style>"
)


def frame_html(df: pd.DataFrame, index: bool = False, float_format: str = "{:.3f}") -> str:
    """A compact, escaped HTML table of ``df`` (missing values shown as a dash)."""
    formatters = {c: float_format.format for c in df.columns if pd.api.types.is_float_dtype(df[c])}
    body = df.to_html(
        index=index,
        escape=True,
        border=0,
        classes="wcw-table",
        formatters=formatters,
        na_rep="–",
    )
    return _TABLE_STYLE + body


def legend_html(title: str, items: Mapping[str, str]) -> str:
    """A title and a one-line legend (name → CSS colour), drawn above a chart.

    bqplot draws its legend inside the plot, over the title or the marks; an HTML line above
    the figure cannot overlap either.
    """
    keys = "".join(
        f"<span style='white-space:nowrap;margin-right:1em'>"
        f"<span style='display:inline-block;width:0.9em;height:0.9em;background:{color};"
        f"vertical-align:middle;margin-right:0.3em'></span>{html.escape(str(name))}</span>"
        for name, color in items.items()
    )
    return f"<div class='wcw-legend'><b>{html.escape(title)}</b> {keys}</div>"


def mapping_html(items: Mapping[object, object], key: str = "", value: str = "") -> str:
    """Two-column table of a mapping (e.g. a row's labels or a label dictionary)."""
    head = f"<tr><th>{html.escape(key)}</th><th>{html.escape(value)}</th></tr>" if key else ""
    rows = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
        for k, v in items.items()
    )
    return f"{_TABLE_STYLE}<table class='wcw-table'>{head}{rows}</table>"


def messages_html(messages: Iterable[str], kind: str = "warning") -> str:
    """A bulleted list of messages (empty string when there are none)."""
    items = [f"<li>{html.escape(m)}</li>" for m in messages]
    if not items:
        return ""
    color = {"warning": "#b35900", "error": "#c00000", "ok": "#2a7a2a"}.get(kind, "inherit")
    return f"<ul style='color:{color};margin:2px 0'>{''.join(items)}</ul>"


def status_html(text: str, kind: str = "info") -> str:
    """One status line; ``kind`` is info, ok, warning or error."""
    color = {"ok": "#2a7a2a", "warning": "#b35900", "error": "#c00000"}.get(kind, "inherit")
    return f"<span style='color:{color}'>{html.escape(text)}</span>"
