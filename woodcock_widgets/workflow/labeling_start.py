"""How a labeling loop starts: labeled examples, a query clip, or a trained model bundle.

:func:`apply_start` takes the loop's ``start``: a window table (or its ``.csv``) is recorded
as round-0 answers (strategy ``start``), anything else is a query clip that ranks the first
pages (:class:`~woodcock_widgets.workflow.labeling_scores.Query`). :func:`from_bundle` is
:meth:`LabelingLoop.from_bundle <woodcock_widgets.workflow.labeling_loop.LabelingLoop.
from_bundle>`: the bundle's embedder and scores (:mod:`.labeling_bundle`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ..tables.windows import read_window_table
from .labeling_answers import start_answers
from .labeling_scores import Query

if TYPE_CHECKING:
    from .labeling_loop import LabelingLoop

__all__ = ["apply_start", "from_bundle"]


def apply_start(loop: LabelingLoop, start) -> None:
    """Record ``start``'s labeled windows as answers, or make it the loop's query clip."""
    if isinstance(start, str | os.PathLike) and Path(start).suffix.lower() == ".csv":
        start = read_window_table(start)
    if isinstance(start, pd.DataFrame):
        loop.store.append(start_answers(start, loop.classes, loop.store, loop.round))
    elif start is not None:
        loop.scorer.query = start if isinstance(start, Query) else Query(start)


def from_bundle(
    cls, source, bundle, label_store, run_dir, classes=None, *, window_seconds=None,
    device: str = "cpu", **kwargs,
) -> LabelingLoop:  # fmt: skip
    """A loop that starts from a trained model bundle (embedding or CNN bundle).

    Parameters
    ----------
    cls : type
        ``LabelingLoop`` (or a subclass): this is its ``from_bundle`` classmethod.
    source, label_store, run_dir
        As for :class:`~woodcock_widgets.workflow.labeling_loop.LabelingLoop`.
    bundle : ModelBundle or path
        The bundle: its embedder embeds the windows, its scores rank the first pages.
    classes : list of str, optional
        The classes to label (default: the bundle's); one the bundle does not know
        starts unscored.
    window_seconds : float, optional
        Window length (default: the bundle's ``clip_seconds``).
    device : str
        Where a CNN bundle embeds.
    **kwargs
        The other parameters of
        :class:`~woodcock_widgets.workflow.labeling_loop.LabelingLoop` (``start``,
        ``cache``, ...).

    Returns
    -------
    LabelingLoop
        Its :attr:`score_source` says ``bundle`` for the classes the bundle scores.
    """
    from .labeling_bundle import bundle_start

    start = bundle_start(bundle, device)
    classes = list(classes) if classes else start.classes
    seconds = window_seconds if window_seconds is not None else start.window_seconds
    loop = cls(source, seconds, start.embedder, label_store, run_dir, classes, **kwargs)
    loop.scorer.prior = start.prior(loop.classes)
    return loop
