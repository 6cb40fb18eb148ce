"""Choosing a shallow head's regularization by cross-validation on the training set alone.

:func:`choose_C` fits a :class:`~woodcock_widgets.ml.shallow.ShallowClassifier` for each
inverse regularization strength ``C`` of a grid on k-1 folds of the training embeddings and
scores the held-out fold, so the validation set is never looked at. The score is the mean
out-of-fold log loss (a proper scoring rule: it rewards ranking *and* calibrated
probabilities, which the 0.5 detection threshold relies on; AP alone ties on small sets where
every ``C`` ranks the few clips the same). Exact ties go to the larger ``C``.
"""

from __future__ import annotations

import numpy as np

from .shallow import ShallowClassifier, check_targets

__all__ = ["CV_GRID", "choose_C"]

#: The grid of ``C`` values tried (1.0 is scikit-learn's default).
CV_GRID = (0.001, 0.01, 0.1, 1.0, 10.0)


def _folds(strata: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds (on ``strata``), as many as the smallest stratum allows (else plain)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    _, counts = np.unique(strata, return_counts=True)
    k = min(int(folds), int(counts.min()))
    if k >= 2:
        splitter = StratifiedKFold(k, shuffle=True, random_state=seed)
        return list(splitter.split(np.zeros(len(strata)), strata))
    k = min(int(folds), len(strata))
    return list(KFold(k, shuffle=True, random_state=seed).split(strata)) if k >= 2 else []


def choose_C(
    X,
    Y,
    classes,
    multi_label: bool = False,
    class_weight="balanced",
    grid=CV_GRID,
    folds: int = 5,
    seed: int = 0,
    max_iter: int = 1000,
) -> tuple[float, dict[float, float]]:
    """The ``C`` of ``grid`` with the lowest cross-validated log loss on ``(X, Y)``.

    Parameters
    ----------
    X : array-like
        ``(n, dim)`` training embeddings.
    Y : array-like
        Targets as :meth:`ShallowClassifier.fit` takes them.
    classes, multi_label, class_weight, max_iter :
        The head's settings (see :class:`~woodcock_widgets.ml.shallow.ShallowClassifier`).
    grid : sequence of float
        ``C`` values to try.
    folds : int
        At most this many folds (fewer when a class has fewer examples; stratified on the
        class, or on the set of classes of a multi-label row).
    seed : int
        Fold shuffling seed.

    Returns
    -------
    (float, dict of float to float)
        The chosen ``C`` and the mean out-of-fold log loss of each ``C`` tried. Without
        enough rows for two folds: ``(1.0, {})``.
    """
    X = np.asarray(X, dtype=np.float64)
    classes = [str(c) for c in classes]
    y = check_targets(classes, multi_label, Y, len(X))
    truth = y.astype(float) if multi_label else np.eye(len(classes))[y]
    strata = np.array(["".join(map(str, r)) for r in y]) if multi_label else y
    splits = _folds(strata, folds, seed)
    if not splits:
        return 1.0, {}
    eps = 1e-7
    losses: dict[float, float] = {}
    for C in grid:
        oof = np.full(truth.shape, np.nan)
        for train, test in splits:
            head = ShallowClassifier(classes, multi_label, class_weight, float(C), max_iter)
            try:
                oof[test] = head.fit(X[train], y[train]).predict_proba(X[test])
            except Exception:  # a fold without some class: it scores nothing
                continue
        done = ~np.isnan(oof).any(axis=1)
        if not done.any():
            continue
        p, t = np.clip(oof[done], eps, 1 - eps), truth[done]
        if multi_label:
            loss = -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))
        else:
            loss = -np.mean(np.sum(t * np.log(p), axis=1))
        losses[float(C)] = float(loss)
    if not losses:
        return 1.0, {}
    best = min(losses.values())
    return max(c for c, v in losses.items() if v == best), losses
