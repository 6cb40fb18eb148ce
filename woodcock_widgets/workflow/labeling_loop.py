"""The labeling loop: score every window, propose a page, record answers, refit, repeat.

No widgets here: papermill notebooks and scripts drive :class:`LabelingLoop` directly, and
:class:`~woodcock_widgets.widgets.LabelingGrid` shows one in Jupyter.

Costs: the folder's windows are embedded once (through the on-disk
:class:`~woodcock_widgets.ml.embedding_cache.EmbeddingCache`, so a second session embeds
nothing either) and the ``(windows, dim)`` matrix is kept in memory; a round is then a refit of
a :class:`~woodcock_widgets.ml.shallow.ShallowClassifier` per class on the labeled rows and one
matrix product to re-score the folder (:mod:`woodcock_widgets.workflow.labeling_scores`, which
also says how a start of positives alone, or a query clip, is scored). Answers are kept in a
:class:`~woodcock_widgets.workflow.label_store.LabelStore` (append-only, durable, locked).

Rounds: answers given while :attr:`LabelingLoop.round` is ``r`` belong to round ``r``;
:meth:`LabelingLoop.refit` ends it. It fits a head per class on every current label, re-scores
the folder, writes ``run_dir/rounds/round_rrr/`` (``head.pt``: ``{class: state_dict}`` of the
heads, loadable with ``ShallowClassifier.from_state``; ``metrics.json``; ``labels.csv``: the
current labels) and a row of ``run_dir/rounds.csv``, then starts round ``r + 1``. A loop opened
again on the same label table and run folder continues where the last one stopped
(:mod:`~woodcock_widgets.workflow.labeling_rounds`).

A loop can start from a trained model bundle (:meth:`LabelingLoop.from_bundle`): it embeds
with the bundle's embedder (a CNN's through its penultimate layer) and proposes by the bundle's
scores until a class has labels of its own (:mod:`~woodcock_widgets.workflow.labeling_bundle`).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import LabelError
from ..ml.embedders import Embedder
from ..ml.embedding_cache import EmbeddingCache
from .label_store import LabelStore
from .labeling_answers import ANSWERS, answer_row
from .labeling_rounds import resume_rounds, round_metrics, save_round
from .labeling_scores import Query, WindowScores
from .labeling_source import window_grid
from .labeling_start import apply_start, from_bundle
from .proposals import STRATEGIES, propose_rows

__all__ = ["LabelingLoop", "Query", "STRATEGIES", "ANSWERS"]


class LabelingLoop:
    """Find, listen, label, refit: the core of interactive labeling (module docstring).

    Parameters
    ----------
    source : path, list of paths or pandas.DataFrame
        A folder of recordings (searched recursively), audio files, a recordings table
        (``path`` or ``file``, ``duration``) or a window table (``file, start_time,
        end_time``; its windows are used as they are, e.g. one per clip).
    window_seconds : float
        Window length (ignored for a window table).
    embedder : Embedder
        The embedding model (e.g. :class:`~woodcock_widgets.ml.embedders.BirdNETEmbedder`).
    label_store : path or LabelStore
        The growing label table (opened for writing: a second loop on it is refused).
    run_dir : path
        Where each round's heads and metrics go.
    classes : list of str
        The classes being labeled.
    step : float, optional
        Seconds between window starts (default ``window_seconds``).
    start : pandas.DataFrame, Query or path, optional
        Labeled examples (a window table, or its ``.csv``, with 0/1 columns for some of
        ``classes``: recorded as round-0 answers, strategy ``start``, unless already current),
        or a query clip (a :class:`Query`, or an audio file path: the whole file).
    cache : EmbeddingCache, optional
        The embedding cache (default: the default cache folder).
    threshold : float
        Detection threshold (``uncertain`` aims at it; metrics count scores above it).
    labeler : str, optional
        Recorded with each answer (default: the login name).
    seed : int
        Seed of the random strategies and of the background windows.
    min_negatives : int
        Negatives a fit needs (at least as many as positives); background windows make up
        the difference (see :mod:`~woodcock_widgets.workflow.labeling_scores`).
    progress : bool
        Show a progress bar during the first embedding pass.

    Attributes
    ----------
    windows : pandas.DataFrame
        ``file, start_time, end_time`` of every window of the folder.
    scores : numpy.ndarray
        ``(windows, classes)`` current scores.
    round : int
        The current round.
    page : pandas.DataFrame or None
        The last proposed page.
    history : list of dict
        The metrics of each round so far.
    """

    def __init__(
        self,
        source,
        window_seconds: float | None,
        embedder: Embedder,
        label_store,
        run_dir,
        classes,
        *,
        step: float | None = None,
        start=None,
        cache: EmbeddingCache | None = None,
        threshold: float = 0.5,
        labeler: str | None = None,
        seed: int = 0,
        min_negatives: int = 20,
        progress: bool = True,
    ) -> None:
        self.classes = [str(c) for c in classes]
        if not self.classes or len(set(self.classes)) != len(self.classes):
            raise LabelError(f"classes must be distinct names, at least one: {self.classes}")
        self.threshold = float(threshold)
        self.cache = cache if cache is not None else EmbeddingCache()
        self.windows = window_grid(source, window_seconds, step)
        self.scorer = WindowScores(
            self.windows, embedder, self.cache, self.classes, min_negatives, seed, progress
        )
        self.run_dir = Path(run_dir)
        self.rounds_dir = self.run_dir / "rounds"
        own = not isinstance(label_store, LabelStore)
        self.store = LabelStore(label_store, labeler=labeler) if own else label_store
        self._rng = np.random.default_rng(seed)
        self.page: pd.DataFrame | None = None
        self.history, self.round = resume_rounds(self.run_dir, self.store)
        try:
            apply_start(self, start)
        except BaseException:
            self.close()
            raise

    # a start from a trained bundle; documented in :mod:`.labeling_start`
    from_bundle = classmethod(from_bundle)

    @property
    def scores(self) -> np.ndarray:
        """``(windows, classes)`` current scores (the first access embeds the folder)."""
        self.X  # noqa: B018
        return self.scorer.scores

    @property
    def X(self) -> np.ndarray:
        """The folder's ``(windows, dim)`` embeddings, computed (or read) once, then in memory."""
        if not self.scorer.embedded:
            self.scorer.X  # noqa: B018
            self.scorer.fit(self.store)
        return self.scorer.X

    @property
    def score_source(self) -> dict[str, str]:
        """How each class is scored now (see :mod:`~.labeling_scores`)."""
        return self.scorer.source

    def _class(self, class_name) -> str:
        if class_name is None:
            return self.classes[0]
        if str(class_name) not in self.classes:
            raise LabelError(f"unknown class {class_name!r}; the loop's classes: {self.classes}")
        return str(class_name)

    def propose(
        self, n: int = 20, strategy: str = "top", class_name=None, bins: int = 5, seed=None
    ) -> pd.DataFrame:
        """Propose a page of windows not yet answered (labeled or skipped) for a class.

        Parameters
        ----------
        n : int
            Page size.
        strategy : {"top", "uncertain", "stratified", "random"}
            See :mod:`woodcock_widgets.workflow.proposals`.
        class_name : str, optional
            The class (default: the first).
        bins : int
            Score bins of ``stratified``.
        seed : int, optional
            Seed for this page (default: the loop's generator).

        Returns
        -------
        pandas.DataFrame
            ``window`` (row of :attr:`windows`), ``file, start_time, end_time, score, class,
            strategy, round, bin``; also kept as :attr:`page`.
        """
        c = self._class(class_name)
        scores = self.scores[:, self.classes.index(c)]
        answered = self.store.answered(c)
        cand = np.array(sorted(i for k, i in self.scorer.row.items() if k not in answered))
        rng = np.random.default_rng(seed) if seed is not None else self._rng
        rows, bin_ = propose_rows(scores, cand, n, strategy, self.threshold, bins, rng)
        page = self.windows.iloc[rows].reset_index(drop=True)
        page.insert(0, "window", rows)
        page["score"] = scores[rows].astype(float)
        page["class"], page["strategy"], page["round"], page["bin"] = c, strategy, self.round, bin_
        self.page = page
        return page

    def record(self, window, answer, class_name: str | None = None, **provenance) -> dict:
        """Record one answer, durably (on disk when this returns), with its provenance.

        Parameters
        ----------
        window : int, mapping or tuple
            A row of :attr:`windows`, a page row (or any mapping with ``file, start_time,
            end_time``) or a ``(file, start_time, end_time)`` tuple.
        answer : str, list or dict
            ``"present"``, ``"absent"`` or ``"skip"`` for one class (``class_name``, else the
            class of the page the window was proposed on, else the first class); a list of the
            class names heard (every class of the loop answered: the others absent); or a
            ``{class: 0/1}`` dict.
        class_name : str, optional
            The class a one-word answer is for.
        **provenance
            ``round``, ``strategy``, ``score``, ``labeler``: by default the page's values
            (or the current round, ``manual`` and the current score).

        Returns
        -------
        dict
            The row written to the label table. An earlier answer is never overwritten: the
            new one becomes the window's current label, and both stay in its history.
        """
        return self.store.append([answer_row(self, window, answer, class_name, provenance)])[0]

    def record_many(self, windows, answer, class_name: str | None = None, **provenance):
        """Record the same answer for several windows in one durable write (e.g. "all absent")."""
        rows = [answer_row(self, w, answer, class_name, provenance) for w in windows]
        return self.store.append(rows)

    def refit(self) -> dict:
        """End the round: refit, re-score, save the heads and metrics; return the metrics.

        Returns
        -------
        dict
            ``round``, ``seconds`` (the whole refit), ``embedding_model_calls`` (cumulative),
            and per class ``<class>/...``: ``n_labels, n_positive, n_negative, n_skipped,
            validation_ap`` (cross-validated on the labels, NaN with under 2 of either),
            ``page_precision`` (positives among the answered windows of the last page, when it
            was proposed in this round; else NaN), ``page_strategy``, ``above_threshold``
            (windows scoring at least the threshold), ``scorer`` and ``fit_seconds``.
        """
        t0 = time.perf_counter()
        self.X  # noqa: B018
        m = round_metrics(self, self.scorer.fit(self.store))
        save_round(self, m, t0)
        self.round += 1
        return m

    def metrics_table(self) -> pd.DataFrame:
        """The metrics of every round so far, one row per round."""
        return pd.DataFrame(self.history)

    def close(self) -> None:
        """Release the label table (the answers stay on disk)."""
        self.store.close()

    def __enter__(self) -> LabelingLoop:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"LabelingLoop({len(self.windows)} windows, classes={self.classes}, "
            f"round={self.round}, answers={len(self.store)})"
        )
