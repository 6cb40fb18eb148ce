"""The joint multi-label logistic fit against scikit-learn's one-vs-rest fits (same objective)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from woodcock_widgets.ml.logistic_joint import balanced_weights, fit_joint_logistic
from woodcock_widgets.ml.shallow import ShallowClassifier


def _data(n, dim, k, seed):
    rng = np.random.default_rng(seed)
    Y = (rng.random((n, k)) < np.linspace(0.08, 0.5, k)).astype(np.int64)
    Y[:2], Y[2:4] = 1, 0  # every class has positives and negatives
    X = Y @ rng.normal(size=(k, dim)) + 1.5 * rng.normal(size=(n, dim)) + 3.0
    return X, Y


def _sklearn_probabilities(X, Y, classes, class_weight, C, tol):
    mean, std = X.mean(axis=0), X.std(axis=0)
    Xs = (X - mean) / std
    cols = []
    for i, c in enumerate(classes):
        cw = class_weight
        if isinstance(class_weight, dict):
            cw = {0: 1.0, 1: class_weight.get(c, 1.0)}
        m = LogisticRegression(C=C, class_weight=cw, tol=tol, max_iter=20000).fit(Xs, Y[:, i])
        cols.append(m.predict_proba(Xs)[:, 1])
    return np.stack(cols, axis=1)


@pytest.mark.parametrize(
    "class_weight, C", [("balanced", 1.0), (None, 0.1), ({"c1": 4.0, "c3": 0.5}, 10.0)]
)
def test_the_joint_fit_matches_sklearn_one_vs_rest(class_weight, C):
    X, Y = _data(240, 30, 4, seed=0)
    classes = ["c0", "c1", "c2", "c3"]
    head = ShallowClassifier(classes, multi_label=True, class_weight=class_weight, C=C)
    ours = head.fit(X, Y).predict_proba(X)
    ref = _sklearn_probabilities(X, Y, classes, class_weight, C, tol=1e-10)
    np.testing.assert_allclose(ours, ref, atol=1e-3)


def test_more_features_than_rows_converges_to_the_same_optimum():
    # the gy6or6 case in small: n < dim, separable, so only the L2 term bounds the weights
    X, Y = _data(60, 150, 3, seed=1)
    Xs = (X - X.mean(axis=0)) / X.std(axis=0)
    w = balanced_weights(Y, "balanced", ["a", "b", "c"])
    coef, bias = fit_joint_logistic(Xs, Y, w, C=1.0, max_iter=5000, tol=1e-9)
    ours = 1.0 / (1.0 + np.exp(-(Xs @ coef.T + bias)))
    ref = _sklearn_probabilities(X, Y, ["a", "b", "c"], "balanced", 1.0, tol=1e-10)
    np.testing.assert_allclose(ours, ref, atol=1e-3)


def test_balanced_weights_are_sklearns():
    Y = np.array([[1, 0], [0, 0], [0, 1], [0, 1]])
    w = balanced_weights(Y, "balanced", ["a", "b"])
    np.testing.assert_allclose(w[:, 0], [2.0, 2 / 3, 2 / 3, 2 / 3])
    np.testing.assert_allclose(w[:, 1], [1.0, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(balanced_weights(Y, {"b": 3.0}, ["a", "b"])[:, 1], [1, 1, 3, 3])


def test_too_few_iterations_warn():
    X, Y = _data(60, 150, 2, seed=2)
    Xs = (X - X.mean(axis=0)) / X.std(axis=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit_joint_logistic(Xs, Y, np.ones(Y.shape), C=1.0, max_iter=2)
    assert any(issubclass(c.category, ConvergenceWarning) for c in caught)
