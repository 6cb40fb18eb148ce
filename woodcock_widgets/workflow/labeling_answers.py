"""Answers as label-table rows: a start table's examples, one answer, a page's precision.

Helpers of :class:`~woodcock_widgets.workflow.labeling_loop.LabelingLoop` (see its
:meth:`~woodcock_widgets.workflow.labeling_loop.LabelingLoop.record` for the answer forms).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import LabelError
from ..tables.windows import WINDOW_COLUMNS
from .label_store import LabelStore, window_key

if TYPE_CHECKING:
    from .labeling_loop import LabelingLoop

__all__ = ["ANSWERS", "answer_row", "page_precision", "start_answers"]

#: Answers for one class; a list of class names (the ones heard) answers for every class.
ANSWERS = ("present", "absent", "skip")


def start_answers(table: pd.DataFrame, classes: list, store: LabelStore, round_: int) -> list:
    """The start table's examples as answers, leaving out those already current."""
    missing = [c for c in WINDOW_COLUMNS if c not in table.columns]
    cols = [c for c in classes if c in table.columns]
    if missing or not cols:
        raise LabelError(f"start table needs {WINDOW_COLUMNS} and a 0/1 column of one of {classes}")
    current = {c: store.labels(c) for c in cols}
    answers = []
    for r in table.to_dict("records"):
        key = window_key(r["file"], r["start_time"], r["end_time"])
        values = {c: int(r[c]) for c in cols}
        if all(current[c].get(key) == v for c, v in values.items()):
            continue  # already the current answer (a notebook run again)
        answers.append(
            {"file": r["file"], "start_time": r["start_time"], "end_time": r["end_time"]}
            | {"classes": cols, "present": [c for c in cols if values[c]]}
            | {"round": round_, "strategy": "start"}
        )
    return answers


def answer_row(loop: LabelingLoop, window, answer, class_name, given: dict) -> dict:
    """One answer as a label-store row, its provenance from the page when it was on it."""
    if isinstance(window, int | np.integer):
        window = loop.windows.iloc[int(window)]
    file, start, end = window if isinstance(window, tuple) else (window[c] for c in WINDOW_COLUMNS)
    key = window_key(file, start, end)
    page_row: dict = {}
    if loop.page is not None:
        for r in loop.page.to_dict("records"):
            if window_key(r["file"], r["start_time"], r["end_time"]) == key:
                page_row = r
    if isinstance(answer, str):
        if answer not in ANSWERS:
            raise LabelError(f"answer must be one of {ANSWERS} or a list of class names")
        c = loop._class(class_name or page_row.get("class"))
        covers, present = [c], [c] if answer == "present" else []
    elif isinstance(answer, dict):
        covers = [loop._class(c) for c in answer]
        present = [c for c in covers if int(answer[c])]
    else:
        covers, present = list(loop.classes), [loop._class(c) for c in answer]
    row = loop.scorer.row.get(key)  # its score now, if the folder is scored yet
    j = loop.classes.index(covers[0])
    now = float(loop.scorer.scores[row, j]) if row is not None and loop.scorer.embedded else None
    return {
        "file": key[0],
        "start_time": key[1] / 1e6,
        "end_time": key[2] / 1e6,
        "classes": covers,
        "present": present,
        "status": "skip" if answer == "skip" else "labeled",
        "round": given["round"] if given.get("round") is not None else loop.round,
        "strategy": given.get("strategy") or page_row.get("strategy") or "manual",
        "score": given.get("score", page_row.get("score", now)),
        "labeler": given.get("labeler"),
    }


def page_precision(loop: LabelingLoop, c: str) -> tuple[float, str]:
    """Positives among the answered windows of the last page, if proposed this round for c."""
    page = loop.page
    if page is None or page.empty or page["class"].iloc[0] != c:
        return math.nan, ""
    if page["round"].iloc[0] != loop.round:
        return math.nan, ""
    labels = loop.store.labels(c)
    keys = [window_key(*w) for w in page[WINDOW_COLUMNS].itertuples(index=False)]
    got = [labels[k] for k in keys if k in labels]
    return (float(np.mean(got)) if got else math.nan), str(page["strategy"].iloc[0])
