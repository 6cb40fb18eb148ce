"""Sub-view of the results review: the clips (or windows) of one confusion-matrix cell.

A caption and a :class:`~.inspector.SpectrogramInspector` over the review table (true,
predicted and score of each row, :meth:`ClipScores.review_table`); it keeps the selected
cell and its rows, recomputed whenever the class or the threshold change.
"""

from __future__ import annotations

import html
from collections.abc import Callable

import ipywidgets as widgets

from ..audio.preprocessing import Preprocessing
from ..ml.review import ClipScores
from ..ml.window_scores import WindowScores
from .inspector import SpectrogramInspector

__all__ = ["MistakeList"]

_REVIEW_COLUMNS = ["true", "predicted", "score"]


class MistakeList(widgets.VBox):
    """The rows of the selected confusion cell, to see and hear one by one or on a grid.

    Parameters
    ----------
    scores : ClipScores or WindowScores
        The scores reviewed.
    filename_column : str
        The audio path column.
    preprocessing : Preprocessing
        The model's (sample rate, clip length, dB limits).
    windows : bool
        Rows are windows read from their ``start_time`` (``clip_seconds`` long).
    names_of : callable
        ``names_of(positive)``: the confusion matrix's row/column names for that class.
    positive, threshold
        The class and threshold it starts at.
    """

    def __init__(
        self,
        scores: ClipScores | WindowScores,
        filename_column: str,
        preprocessing: Preprocessing,
        windows: bool,
        names_of: Callable[[int], list[str]],
        positive: int,
        threshold: float,
    ) -> None:
        super().__init__()
        self.scores, self.names_of, self.windows = scores, names_of, windows
        self.multi_label = isinstance(scores, WindowScores)
        self.positive, self.threshold = positive, threshold
        self.cell: tuple[int, int] | None = None
        self.cell_rows: list = list(scores.df.index)
        self.cell_html = widgets.HTML()
        self.inspector = SpectrogramInspector(
            scores.review_table(positive, threshold),
            filename_column,
            label_columns=_REVIEW_COLUMNS,
            preprocessing=preprocessing,
            offset_column="start_time" if windows else None,
            max_seconds=preprocessing.clip_seconds if windows else None,
        )
        self.children = [self.cell_html, self.inspector]
        self._caption()

    def show(self, positive: int, threshold: float) -> None:
        """Recompute the table and the cell's rows for this class and threshold."""
        self.positive, self.threshold = positive, threshold
        if self.cell is not None:
            self.cell_rows = self.scores.cell_rows(*self.cell, positive, threshold)
        self.inspector.set_table(self.scores.review_table(positive, threshold), self.cell_rows)
        self._caption()

    def select(self, cell: tuple[int, int]) -> list:
        """Show the rows of ``(true, predicted)``; return them."""
        self.cell = cell
        self.cell_rows = self.scores.cell_rows(*cell, self.positive, self.threshold)
        self.inspector.set_rows(self.cell_rows)
        self._caption()
        return list(self.cell_rows)

    def clear(self) -> None:
        """Show every row again."""
        self.cell, self.cell_rows = None, list(self.scores.df.index)
        self.inspector.set_rows(None)
        self._caption()

    def _caption(self) -> None:
        what = "window" if self.windows else "clip"
        if self.cell is None:
            self.cell_html.value = (
                f"all {len(self.scores.df)} {what}s · click a confusion-matrix cell to list "
                f"its {what}s"
            )
            return
        t, p = self.cell
        names = self.names_of(self.positive)
        kind = ""
        if len(names) == 2 and t != p:
            positive = 1 if self.multi_label else self.positive
            kind = " (false negatives)" if t == positive else " (false positives)"
        self.cell_html.value = (
            f"true <b>{html.escape(names[t])}</b> · predicted "
            f"<b>{html.escape(names[p])}</b>: {len(self.cell_rows)} {what}(s){kind}"
        )
