"""Labeling rounds without a person: a labeled window table answers each page.

For a notebook run headless (CI, papermill) and for benchmarks: :class:`TableAnswers` stands in
for the person answering, from a window table whose 0/1 class columns are the truth (e.g. the
windows cut from annotation tables); :func:`run_rounds` then proposes, answers and refits round
after round, and reports per round the labels, the validation AP on the held labels, the AP on
windows the loop never sees (:func:`held_out_ap`) and the precision of the page.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import LabelError
from ..tables.windows import WINDOW_COLUMNS, read_window_table
from .label_store import window_key

if TYPE_CHECKING:
    from .labeling_loop import LabelingLoop

__all__ = ["TableAnswers", "start_examples", "held_out_ap", "run_rounds"]


def _table(table) -> pd.DataFrame:
    if isinstance(table, str | os.PathLike):
        return read_window_table(table)
    missing = [c for c in WINDOW_COLUMNS if c not in table.columns]
    if missing:
        raise LabelError(f"the window table lacks column(s) {missing}")
    return table


class TableAnswers:
    """The answers of a labeled window table, standing in for the person labeling.

    Parameters
    ----------
    table : pandas.DataFrame or path
        ``file, start_time, end_time`` and a 0/1 column per class (a window table).

    Attributes
    ----------
    truth : dict
        Window key → row of the table (``{class: 0/1}``).
    """

    def __init__(self, table) -> None:
        table = _table(table)
        self.classes = [c for c in table.columns if c not in WINDOW_COLUMNS]
        keys = [window_key(*w) for w in table[WINDOW_COLUMNS].itertuples(index=False)]
        self.truth = dict(zip(keys, table[self.classes].to_dict("records")))

    def answer(self, window, class_name: str) -> str:
        """``present``, ``absent``, or ``skip`` for a window the table does not hold."""
        if class_name not in self.classes:
            raise LabelError(f"class {class_name!r} is not a column of the answers {self.classes}")
        row = self.truth.get(window_key(window["file"], window["start_time"], window["end_time"]))
        if row is None:
            return "skip"
        return "present" if int(row[class_name]) else "absent"

    def answer_page(self, loop: LabelingLoop, page: pd.DataFrame) -> dict[str, int]:
        """Answer every window of a proposed page in the loop (one durable write per answer
        kind); return how many got each answer."""
        counts = {}
        rows = page.to_dict("records")
        answers = [self.answer(r, r["class"]) for r in rows]
        for kind in ("present", "absent", "skip"):
            mine = [r for r, a in zip(rows, answers) if a == kind]
            if mine:
                loop.record_many(mine, kind)
            counts[kind] = len(mine)
        return counts


def start_examples(table, class_name: str, n: int = 5, seed: int = 0) -> pd.DataFrame:
    """``n`` random positive windows of a class, as a start table for a loop.

    Raises
    ------
    LabelError
        The class is not a column, or has fewer than ``n`` positive windows.
    """
    table = _table(table)
    if class_name not in table.columns:
        raise LabelError(f"class {class_name!r} is not a column of the window table")
    pos = np.flatnonzero(table[class_name].to_numpy() > 0)
    if len(pos) < n:
        raise LabelError(f"class {class_name!r} has {len(pos)} positive windows; {n} are needed")
    rows = np.sort(np.random.default_rng(seed).choice(pos, int(n), replace=False))
    return table.iloc[rows][[*WINDOW_COLUMNS, class_name]].reset_index(drop=True)


def held_out_ap(loop: LabelingLoop, table, class_name: str | None = None) -> float:
    """Average precision of the loop's current scorer on other windows (e.g. recordings kept
    aside); NaN when the class is scored by no model yet or the windows hold one kind only.

    The windows are embedded once (through the loop's embedding cache) and kept by the loop.
    """
    from sklearn.metrics import average_precision_score

    table = _table(table)
    c = loop._class(class_name)
    y = table[c].to_numpy() > 0
    if y.all() or not y.any():
        return math.nan
    keys = [window_key(*w) for w in table[WINDOW_COLUMNS].itertuples(index=False)]
    X = loop.scorer.vectors(keys)
    if c in loop.scorer.heads:
        scores = loop.scorer.heads[c].predict_proba(X)[:, 0]
    elif loop.scorer.prior is not None and c in loop.scorer.prior(X):
        scores = loop.scorer.prior(X)[c]
    else:
        return math.nan
    return float(average_precision_score(y, scores))


def run_rounds(
    loop: LabelingLoop,
    answers: TableAnswers,
    rounds: int,
    page_size: int = 20,
    strategy: str = "top",
    class_name: str | None = None,
    held_out=None,
    log: Callable[[str], None] | None = print,
) -> pd.DataFrame:
    """Propose a page, answer it from the table, refit; ``rounds`` times.

    Parameters
    ----------
    loop : LabelingLoop
        The loop (its label table grows by ``rounds`` pages).
    answers : TableAnswers
        Who answers.
    rounds : int
        Rounds to run.
    page_size : int
        Windows per page.
    strategy : str
        The proposal strategy.
    class_name : str, optional
        The class (default: the loop's first).
    held_out : pandas.DataFrame or path, optional
        A window table the loop never sees: its AP is reported each round.
    log : callable, optional
        Called with one line per round.

    Returns
    -------
    pandas.DataFrame
        One row per round: ``round, labels, positives, validation_ap, held_out_ap,
        page_precision, seconds``.
    """
    c = loop._class(class_name)
    out = []
    for _ in range(int(rounds)):
        page = loop.propose(page_size, strategy, c)
        answers.answer_page(loop, page)
        m = loop.refit()
        row = {
            "round": m["round"],
            "labels": m[f"{c}/n_labels"],
            "positives": m[f"{c}/n_positive"],
            "validation_ap": m[f"{c}/validation_ap"],
            "held_out_ap": held_out_ap(loop, held_out, c) if held_out is not None else math.nan,
            "page_precision": m[f"{c}/page_precision"],
            "seconds": m["seconds"],
        }
        out.append(row)
        if log is not None:
            log(
                f"round {row['round']}: {row['labels']} labels ({row['positives']} positive), "
                f"validation AP {row['validation_ap']:.3f}, held-out AP "
                f"{row['held_out_ap']:.3f}, page precision {row['page_precision']:.2f} "
                f"({strategy}, {len(page)} windows), refit {row['seconds']:.1f} s"
            )
    return pd.DataFrame(out)
