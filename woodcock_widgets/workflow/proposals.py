"""Pieces of the labeling loop that are plain functions of arrays: strategies and scores.

Strategies (:func:`propose_rows`), each choosing among the windows not yet answered:

- ``top``: the highest scores first (find positives fast);
- ``uncertain``: the scores nearest the threshold first (the most informative answers);
- ``stratified``: a random sample spread evenly over ``bins`` equal-width score bins on
  [0, 1] (a bin with too few windows gives its share to the others), so that the answers
  estimate precision at every score honestly and, with each bin's size, how many positives the
  folder holds;
- ``random``: a uniform random sample (the baseline).

Scores before a class has both positive and negative labels (:func:`similarity_scores`): the
cosine similarity of each window's embedding to the mean of the unit-length embeddings of its
positives (or of a query clip), mapped to [0, 1] as ``(1 + cos) / 2``.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import LabelError
from ..ml.shallow import ShallowClassifier

__all__ = ["STRATEGIES", "propose_rows", "similarity_scores", "fit_head", "cv_average_precision"]

STRATEGIES = ("top", "uncertain", "stratified", "random")


def unit_rows(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    norm = np.linalg.norm(X, axis=1, keepdims=True)
    return (X / np.where(norm > 0, norm, 1.0)).astype(np.float32)


def similarity_scores(X_unit: np.ndarray, examples: np.ndarray) -> np.ndarray:
    """``(1 + cos) / 2`` between each unit row of ``X_unit`` and the examples' mean direction."""
    proto = unit_rows(np.asarray(examples, np.float32)).mean(axis=0)
    norm = float(np.linalg.norm(proto))
    if norm == 0:
        return np.full(len(X_unit), 0.5, np.float32)
    return ((1.0 + X_unit @ (proto / norm)) / 2.0).astype(np.float32)


def propose_rows(
    scores: np.ndarray,
    candidates: np.ndarray,
    n: int,
    strategy: str,
    threshold: float = 0.5,
    bins: int = 5,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Choose up to ``n`` of the ``candidates`` rows by a strategy (module docstring).

    Parameters
    ----------
    scores : numpy.ndarray
        ``(n_windows,)`` scores in [0, 1].
    candidates : numpy.ndarray
        Row indices that may be proposed (the windows not yet answered).
    n : int
        Page size.
    strategy : {"top", "uncertain", "stratified", "random"}
        The strategy.
    threshold : float
        The detection threshold ``uncertain`` aims at.
    bins : int
        Score bins of ``stratified``.
    rng : numpy.random.Generator, optional
        Randomness of ``stratified`` and ``random`` (and of tie-breaking).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        The chosen rows, in page order, and each one's score bin (``-1`` except for
        ``stratified``).
    """
    if strategy not in STRATEGIES:
        raise LabelError(f"unknown strategy {strategy!r}; use one of {list(STRATEGIES)}")
    rng = rng if rng is not None else np.random.default_rng()
    cand = np.asarray(candidates, np.int64)
    n = max(0, min(int(n), len(cand)))
    none = -np.ones(n, np.int64)
    if n == 0:
        return cand[:0], none
    s = np.asarray(scores, np.float64)[cand]
    shuffle = rng.permutation(len(cand))  # random tie-breaking
    if strategy == "random":
        return cand[shuffle[:n]], none
    if strategy in ("top", "uncertain"):
        key = -s[shuffle] if strategy == "top" else np.abs(s[shuffle] - float(threshold))
        order = shuffle[np.argsort(key, kind="stable")]
        return cand[order[:n]], none
    k = max(1, int(bins))
    which = np.clip(np.floor(s * k).astype(np.int64), 0, k - 1)
    members = [list(rng.permutation(np.flatnonzero(which == b))) for b in range(k)]
    chosen, chosen_bin = [], []
    while len(chosen) < n:  # round-robin over bins, highest bin first
        for b in range(k - 1, -1, -1):
            if members[b] and len(chosen) < n:
                chosen.append(members[b].pop())
                chosen_bin.append(b)
    return cand[np.array(chosen, np.int64)], np.array(chosen_bin, np.int64)


def fit_head(X: np.ndarray, y: np.ndarray, class_name: str, C: float = 1.0) -> ShallowClassifier:
    """A one-class (binary) :class:`ShallowClassifier` on 0/1 labels, rare class up-weighted."""
    clf = ShallowClassifier([class_name], multi_label=True, class_weight="balanced", C=C)
    return clf.fit(X, np.asarray(y, np.int64)[:, None])


def cv_average_precision(
    X: np.ndarray, y: np.ndarray, class_name: str, folds: int = 5, C: float = 1.0, seed: int = 0
) -> float:
    """Average precision of out-of-fold scores: stratified ``k``-fold cross-validation.

    ``k = min(folds, positives, negatives)``; NaN when ``k < 2`` (too few labels to hold any
    out). The labels are the loop's own, so they over-represent the windows the strategies
    chose (for ``top``, high-scoring ones): an estimate on the held labels, not on the folder.
    """
    from sklearn.metrics import average_precision_score
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y, np.int64)
    k = min(int(folds), int(y.sum()), int(len(y) - y.sum()))
    if k < 2:
        return math.nan
    out = np.zeros(len(y))
    split = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    for train, test in split.split(X, y):
        out[test] = fit_head(X[train], y[train], class_name, C).predict_proba(X[test])[:, 0]
    return float(average_precision_score(y, out))
