"""Zero-shot baseline: BirdNET's own score for a target species, without any training.

BirdNET V2.4 already knows 6,522 species (the tutorial's is ``"Scolopax minor_American
Woodcock"``). Its score for that species on the validation windows, turned into average
precision and F1, tells whether a classifier trained on a few dozen clips beats the general
model. :func:`zero_shot_scores` gives the scores; :func:`zero_shot_metrics` the figures.

Species scores are cached like embeddings (:class:`~woodcock_widgets.ml.embedding_cache.
EmbeddingCache`), under the embedder name ``<BirdNET name>-species-scores`` with all 6,522
scores per window (so another species costs nothing either). A window longer than BirdNET's
3 s follows the clip-length rule of :mod:`woodcock_widgets.ml.embedders`: its score is the mean
over the overlapping 3 s windows that cover it.

:class:`SharedPass` lets one model run fill both cache entries, embeddings and species scores:
the training workflow asks for the scores of the validation windows and then for the
embeddings of all windows, and BirdNET runs once per window.
"""

from __future__ import annotations

import hashlib
import threading

import numpy as np
import pandas as pd

from woodcock_widgets.errors import EmbeddingError
from woodcock_widgets.ml.embedders import Embedder, embed_clips

__all__ = [
    "DEFAULT_ZERO_SHOT_THRESHOLD",
    "SharedPass",
    "SpeciesScores",
    "has_species_scores",
    "zero_shot_metrics",
    "zero_shot_scores",
]

#: Score at which a zero-shot detection counts for F1: BirdNET-Analyzer's default minimum
#: confidence (``--min_conf 0.1``).
DEFAULT_ZERO_SHOT_THRESHOLD = 0.1

_SCORES_SUFFIX = "-species-scores"


def has_species_scores(embedder) -> bool:
    """Whether ``embedder`` also gives species scores (BirdNET: ``embed_and_scores``)."""
    return callable(getattr(embedder, "embed_and_scores", None)) and callable(
        getattr(embedder, "species_index", None)
    )


def _need_species_model(embedder) -> None:
    if not has_species_scores(embedder):
        raise EmbeddingError(
            f"a zero-shot baseline needs a model with its own species scores (BirdNET); "
            f"{getattr(embedder, 'name', type(embedder).__name__)} has none"
        )


class SharedPass:
    """One BirdNET run per window for both its embedding and its species scores.

    :attr:`embeddings` and :attr:`scores` are two :class:`Embedder` views of the same model
    (the first with the model's own name, so its cache entries are the ordinary embedding
    entries). A window run through one view keeps its other output in memory, keyed by the
    window's content, until the other view asks for it.

    Parameters
    ----------
    model : BirdNETEmbedder
        The model (anything with ``embed_and_scores`` and ``species_index``).

    Attributes
    ----------
    model_windows : int
        Windows the model actually ran (0 when everything came from the cache).
    """

    def __init__(self, model) -> None:
        _need_species_model(model)
        self.model = model
        self.model_windows = 0
        self._memo: dict[bytes, list] = {}
        self._lock = threading.Lock()
        self.embeddings = _View(self, 0, model.name, int(model.dim))
        self.scores = _View(self, 1, model.name + _SCORES_SUFFIX, len(model.labels))

    def _run(self, windows: np.ndarray, part: int) -> np.ndarray:
        keys = [hashlib.blake2b(w.tobytes(), digest_size=16).digest() for w in windows]
        first = {}  # distinct content → its first row (identical windows run once)
        for i, k in enumerate(keys):
            first.setdefault(k, i)
        with self._lock:
            todo = [k for k in first if self._memo.get(k, (None, None))[part] is None]
            if todo:
                emb, sc = self.model.embed_and_scores(windows[[first[k] for k in todo]])
                self.model_windows += len(todo)
                for j, k in enumerate(todo):
                    self._memo[k] = [emb[j], sc[j]]
            values = {}
            for k in first:
                entry = self._memo[k]
                values[k] = entry[part]
                entry[part] = None  # handed out; the other output waits for its view
                if entry[1 - part] is None:
                    del self._memo[k]
        return np.stack([values[k] for k in keys]).astype(np.float32, copy=False)


class _View(Embedder):
    """One output of a :class:`SharedPass` as an :class:`Embedder`."""

    def __init__(self, shared: SharedPass, part: int, name: str, dim: int) -> None:
        self._shared = shared
        self._part = part
        self.name = name
        self.dim = dim
        self.window_seconds = float(shared.model.window_seconds)
        self.sample_rate = int(shared.model.sample_rate)

    def embed(self, windows: np.ndarray) -> np.ndarray:
        x = self._check_windows(windows)
        if len(x) == 0:
            return np.zeros((0, self.dim), np.float32)
        return self._shared._run(x, self._part)


class SpeciesScores(Embedder):
    """BirdNET's species scores as an :class:`Embedder` (``dim`` = number of species).

    Its ``name`` is the model's plus ``-species-scores``, so the scores get cache entries of
    their own beside the embeddings.
    """

    def __init__(self, model) -> None:
        _need_species_model(model)
        self.model = model
        self.name = model.name + _SCORES_SUFFIX
        self.dim = len(model.labels)
        self.window_seconds = float(model.window_seconds)
        self.sample_rate = int(model.sample_rate)

    def embed(self, windows: np.ndarray) -> np.ndarray:
        return self.model.scores(self._check_windows(windows))


def zero_shot_scores(
    embedder,
    windows,
    species: str,
    cache=None,
    batch_size: int = 32,
    progress: bool = False,
) -> np.ndarray:
    """BirdNET's score for one species on each window.

    Parameters
    ----------
    embedder : BirdNETEmbedder or SharedPass
        The model (a :class:`SharedPass` shares its run with the embeddings).
    windows : pandas.DataFrame, numpy.ndarray or list
        A window table (``file, start_time, end_time``; read through the cache), an array
        ``(n, 144000)`` of 3 s windows at 48 kHz, or a list of ``(samples, sample_rate)``
        clips of any length (the clip-length rule applies).
    species : str
        A BirdNET label, scientific or common name (``"Scolopax minor_American Woodcock"``,
        ``"Scolopax minor"``, ``"American Woodcock"``).
    cache : EmbeddingCache, optional
        For window tables: the cache (default: a cache at the default root).
    batch_size : int
        Windows per model call.
    progress : bool
        Show a progress bar while scores are computed (window tables).

    Returns
    -------
    numpy.ndarray
        ``(n,)`` float32 scores in [0, 1].

    Raises
    ------
    EmbeddingError
        The model has no species scores, or does not know ``species`` (with close names).
    """
    shared = embedder if isinstance(embedder, SharedPass) else None
    model = shared.model if shared else embedder
    _need_species_model(model)
    column = model.species_index(species)
    view = shared.scores if shared else SpeciesScores(model)
    if isinstance(windows, pd.DataFrame):
        if cache is None:
            from woodcock_widgets.ml.embedding_cache import EmbeddingCache

            cache = EmbeddingCache()
        scores = cache.embed_windows(view, windows, batch_size=batch_size, progress=progress)
    elif isinstance(windows, np.ndarray):
        scores = view.embed(windows)
    else:
        scores = embed_clips(view, windows, batch_size=batch_size)
    return np.ascontiguousarray(scores[:, column], dtype=np.float32)


def zero_shot_metrics(
    positive, scores, threshold: float = DEFAULT_ZERO_SHOT_THRESHOLD
) -> dict[str, float]:
    """Average precision, and precision/recall/F1 at ``threshold``, of zero-shot scores.

    Parameters
    ----------
    positive : array-like of bool
        Whether each window holds the target (the run's positive class).
    scores : array-like of float
        :func:`zero_shot_scores` of the same windows.
    threshold : float
        Detection threshold for precision, recall and F1.

    Returns
    -------
    dict
        ``ap`` (NaN without positive windows), ``precision``, ``recall``, ``f1``,
        ``threshold``, ``n_positive``, ``n``.
    """
    from sklearn.metrics import average_precision_score

    from woodcock_widgets.ml.metrics import threshold_metrics

    y = np.asarray(positive, bool)
    s = np.asarray(scores, float)
    ap = float(average_precision_score(y, s)) if y.any() else float("nan")
    m = threshold_metrics(y.astype(int), s, 1, float(threshold))
    return {
        "ap": ap,
        "precision": float(m["precision"]),
        "recall": float(m["recall"]),
        "f1": float(m["f1"]),
        "threshold": float(threshold),
        "n_positive": int(y.sum()),
        "n": int(len(y)),
    }
