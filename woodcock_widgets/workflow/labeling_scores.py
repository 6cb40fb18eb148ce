"""The scoring half of the labeling loop: the folder's embeddings in memory, a head per class.

:class:`WindowScores` embeds the windows once (through the on-disk embedding cache) and keeps
the ``(windows, dim)`` matrix; :meth:`WindowScores.fit` then refits and re-scores from it with
no model inference. Per class, from the current labels of a
:class:`~woodcock_widgets.workflow.label_store.LabelStore`:

- with positives: a :class:`~woodcock_widgets.ml.shallow.ShallowClassifier` (binary, rare
  class up-weighted). While the class has fewer negative labels than ``min_negatives`` or
  than positive ones, the missing ones are *background* windows: random unanswered windows
  among the half of them least similar to the class's positives. So a start of five positives
  needs no negatives, and ``top`` pages (mostly positives) keep the head from seeing
  positives alone;
- without positives: the scores of the bundle the loop started from, when it knows the class
  (:attr:`WindowScores.prior`, see :mod:`~woodcock_widgets.workflow.labeling_bundle`); else
  similarity to the query clip for its class (see
  :func:`~woodcock_widgets.workflow.proposals.similarity_scores`); else 0.5 everywhere.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..ml.embedders import Embedder
from ..ml.embedding_cache import EmbeddingCache
from ..tables.windows import WINDOW_COLUMNS
from .label_store import LabelStore, window_key
from .proposals import fit_head, similarity_scores, unit_rows

__all__ = ["Query", "WindowScores"]


@dataclass(frozen=True)
class Query:
    """A query clip to start from: the span ``[start_time, end_time]`` (s) of an audio file.

    ``end_time=None`` means the end of the file; ``class_name=None`` the loop's first class.
    """

    file: str | os.PathLike
    start_time: float = 0.0
    end_time: float | None = None
    class_name: str | None = None


class WindowScores:
    """Embeddings of a grid of windows, held in memory, and each class's current scores.

    Parameters
    ----------
    windows : pandas.DataFrame
        ``file, start_time, end_time``.
    embedder : Embedder
        The model.
    cache : EmbeddingCache
        Where embeddings are read from or added to.
    classes : list of str
        Score columns.
    min_negatives : int
        Negatives a fit needs (at least as many as positives); background windows make up
        the difference.
    seed : int
        Seed of the background windows' order.
    progress : bool
        Progress bar for the first embedding pass.

    Attributes
    ----------
    scores : numpy.ndarray
        ``(windows, classes)`` float32.
    heads : dict
        The fitted head of each class that has one.
    source : dict
        How each class is scored: ``model``, ``model+N background``, ``bundle``, ``query`` or
        ``none``.
    query : Query or None
    prior : callable or None
        ``prior(X)``: ``{class: scores}`` from a bundle, for classes without positives.
    """

    def __init__(
        self,
        windows: pd.DataFrame,
        embedder: Embedder,
        cache: EmbeddingCache,
        classes: list[str],
        min_negatives: int = 20,
        seed: int = 0,
        progress: bool = True,
    ) -> None:
        self.windows, self.embedder, self.cache = windows, embedder, cache
        self.classes, self.min_negatives = list(classes), int(min_negatives)
        self.progress = bool(progress)
        self.row = {window_key(*w): i for i, w in enumerate(windows.itertuples(index=False))}
        order = np.random.default_rng([int(seed), 1]).permutation(len(windows))
        self._rank = np.empty(len(windows), np.int64)
        self._rank[order] = np.arange(len(windows))
        self.scores = np.full((len(windows), len(self.classes)), 0.5, np.float32)
        self.heads: dict = {}
        self.source = dict.fromkeys(self.classes, "none")
        self.query: Query | None = None
        self.prior = None
        self._prior_scores: dict | None = None
        self._query_vec: np.ndarray | None = None
        self._X: np.ndarray | None = None
        self._X_unit: np.ndarray | None = None
        self._extra: dict[tuple, np.ndarray] = {}

    @property
    def embedded(self) -> bool:
        """Whether the first embedding pass is done."""
        return self._X is not None

    @property
    def X(self) -> np.ndarray:
        """The ``(windows, dim)`` embeddings: computed (or read from the cache) once."""
        if self._X is None:
            X = self.cache.embed_windows(self.embedder, self.windows, progress=self.progress)
            self._X_unit, self._X = unit_rows(X), X
        return self._X

    def vectors(self, keys) -> np.ndarray:
        """Embeddings of windows by key: grid rows from memory, others from the cache, once."""
        keys, X = list(keys), self.X
        missing = [k for k in keys if k not in self.row and k not in self._extra]
        if missing:
            table = pd.DataFrame([(k[0], k[1] / 1e6, k[2] / 1e6) for k in missing])
            table.columns = WINDOW_COLUMNS
            emb = self.cache.embed_windows(self.embedder, table, progress=False)
            self._extra.update(zip(missing, emb))
        out = np.zeros((len(keys), X.shape[1]), np.float32)
        for i, k in enumerate(keys):
            out[i] = X[self.row[k]] if k in self.row else self._extra[k]
        return out

    def training_set(self, store: LabelStore, class_name: str) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings and 0/1 labels of the windows currently labeled for a class."""
        labels = store.labels(class_name)
        return self.vectors(labels), np.fromiter(labels.values(), np.int64, len(labels))

    def background(self, answered: set, n: int, positives: np.ndarray) -> np.ndarray:
        """Rows of ``n`` background windows (module docstring), in a fixed random order."""
        if n <= 0:
            return np.zeros(0, np.int64)
        taken = {self.row[k] for k in answered if k in self.row}
        free = np.array(sorted(set(range(len(self.windows))) - taken), np.int64)
        if len(free) > 1:
            sim = similarity_scores(self._X_unit[free], positives)
            free = free[sim <= np.median(sim)]
        return free[np.argsort(self._rank[free], kind="stable")][:n]

    def fit(self, store: LabelStore) -> dict[str, float]:
        """Refit every class from the store's current labels and re-score; seconds per class."""
        X, seconds = self.X, {}
        for j, c in enumerate(self.classes):
            t0 = time.perf_counter()
            Xl, y = self.training_set(store, c)
            self.heads.pop(c, None)
            need = max(self.min_negatives, int(y.sum()))
            n_bg = need - int((y == 0).sum()) if y.any() else 0
            bg = self.background(store.answered(c), n_bg, Xl[y == 1])
            yf = np.concatenate([y, np.zeros(len(bg), np.int64)])
            if y.any() and not yf.all():
                self.heads[c] = fit_head(np.concatenate([Xl, X[bg]]), yf, c)
                self.scores[:, j] = self.heads[c].predict_proba(X)[:, 0]
                self.source[c] = f"model+{len(bg)} background" if len(bg) else "model"
            elif c in self._bundle_scores():
                self.scores[:, j] = self._bundle_scores()[c]
                self.source[c] = "bundle"
            elif self.query is not None and (self.query.class_name or self.classes[0]) == c:
                self.scores[:, j] = similarity_scores(self._X_unit, self._query_vector())
                self.source[c] = "query"
            else:
                self.scores[:, j] = 0.5
                self.source[c] = "none"
            seconds[c] = time.perf_counter() - t0
        return seconds

    def _bundle_scores(self) -> dict:
        if self._prior_scores is None:
            self._prior_scores = self.prior(self.X) if self.prior is not None else {}
        return self._prior_scores

    def _query_vector(self) -> np.ndarray:
        if self._query_vec is None:
            q = self.query
            end = q.end_time
            if end is None:
                from ..audio.clip import audio_info

                end = audio_info(q.file).duration
            table = pd.DataFrame([(os.fspath(q.file), float(q.start_time), float(end))])
            table.columns = WINDOW_COLUMNS
            self._query_vec = self.cache.embed_windows(self.embedder, table, progress=False)
        return self._query_vec
