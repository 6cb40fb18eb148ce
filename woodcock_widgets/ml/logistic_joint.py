"""All one-vs-rest logistic regressions of a multi-label head in one L-BFGS loop.

Class ``j``'s objective is scikit-learn's for ``LogisticRegression(C=C, class_weight=...,
solver="lbfgs")`` on the 0/1 column ``y[:, j]``, in scikit-learn's scaling::

    f_j(w, b) = sum_i s_ij * logloss(y_ij, x_i @ w + b) / S_j + ||w||^2 / (2 * C * S_j)

with sample weights ``s_ij`` from the class weights (positives and negatives of class ``j``)
and ``S_j = sum_i s_ij``; the intercept ``b`` is not penalized. The classes share no
parameter, so minimizing ``sum_j f_j`` jointly reaches every class's own optimum, and the
gradient of the sum is the classes' gradients side by side. One loop over all classes costs
two matrix products per step instead of ``k`` separate solver runs (the gy6or6 head, 11
classes on 645 x 1024 features: about 0.3-0.7 s against 5.5 s for scikit-learn's 11 fits).
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["balanced_weights", "fit_joint_logistic"]


def balanced_weights(Y: np.ndarray, class_weight, classes: list[str]) -> np.ndarray:
    """Per-sample, per-class weights ``(n, k)`` as scikit-learn gives a binary model.

    ``"balanced"``: ``n / (2 * count)`` for the positives and the negatives of each class;
    a dict: the class's weight on its positives, 1 on its negatives; ``None``: all 1.
    """
    Y = np.asarray(Y, dtype=np.float64)
    n = len(Y)
    if class_weight == "balanced":
        pos = Y.sum(axis=0)
        return np.where(Y == 1, n / (2.0 * pos), n / (2.0 * (n - pos)))
    if isinstance(class_weight, dict):
        w = np.array([float(class_weight.get(c, 1.0)) for c in classes])
        return np.where(Y == 1, w[None, :], 1.0)
    return np.ones_like(Y)


def _objective(Xa, Y, s, lam, theta):
    """Each class's objective ``(k,)`` and gradient ``(k, d + 1)`` at ``theta``."""
    z = Xa @ theta.T  # (n, k)
    loss = np.einsum("nk,nk->k", s, np.logaddexp(0.0, z) - Y * z)
    w = theta[:, :-1]
    f = loss + 0.5 * lam * np.einsum("kd,kd->k", w, w)
    p = 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free logistic
    g = (s * (p - Y)).T @ Xa
    g[:, :-1] += lam[:, None] * w
    return f, g


def fit_joint_logistic(
    Xs: np.ndarray,
    Y: np.ndarray,
    weights: np.ndarray,
    C: float,
    max_iter: int = 1000,
    tol: float = 1e-6,
    memory: int = 10,
) -> tuple[np.ndarray, np.ndarray]:
    """Fit ``k`` independent L2-regularized logistic regressions with one L-BFGS loop.

    Each class keeps its own L-BFGS memory, step length and stopping test (the problems are
    independent); the loop computes the ``k`` objectives and gradients together, as two
    ``(n, d) x (d, k)`` matrix products. A class stops when no component of its gradient
    exceeds ``tol``.

    Parameters
    ----------
    Xs : numpy.ndarray
        ``(n, d)`` features (standardized by the caller).
    Y : numpy.ndarray
        ``(n, k)`` 0/1 targets.
    weights : numpy.ndarray
        ``(n, k)`` sample weights per class (:func:`balanced_weights`).
    C : float
        Inverse regularization strength (scikit-learn's ``C``).
    max_iter : int
        L-BFGS iterations at most.
    tol : float
        Gradient tolerance (scikit-learn's ``gtol`` test). Tighter than scikit-learn's default
        1e-4, which stops the gy6or6 head's classes where held-out probabilities are still up
        to 0.11 from the optimum (1e-6: 0.001, for about 2.5x the steps).
    memory : int
        Correction pairs each class remembers (scikit-learn's, through scipy: 10).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``coef`` ``(k, d)`` and ``intercept`` ``(k,)``, float64.
    """
    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    # one BLAS thread: each product is about a millisecond, and on a busy CPU a second
    # thread waits for a core (measured 0.43 s against 3 s for the gy6or6 head under load)
    with threadpool_limits(limits=1, user_api="blas"):
        return _fit(Xs, Y, weights, C, max_iter, tol, memory)


def _fit(Xs, Y, weights, C, max_iter, tol, memory):
    """:func:`fit_joint_logistic`'s loop."""
    n, d = Xs.shape
    Y = np.asarray(Y, dtype=np.float64)
    k = Y.shape[1]
    sw = np.asarray(weights, dtype=np.float64)
    total = sw.sum(axis=0)
    s = sw / total  # per class, summing to 1 (scikit-learn's scaling)
    lam = 1.0 / (C * total)
    Xa = np.empty((n, d + 1))
    Xa[:, :d], Xa[:, d] = Xs, 1.0
    theta = np.zeros((k, d + 1))
    f, g = _objective(Xa, Y, s, lam, theta)
    active = np.abs(g).max(axis=1) > tol
    pairs: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (s, y, rho), per class
    for _ in range(int(max_iter)):
        if not active.any():
            break
        # two-loop recursion, every class at once
        q, alphas = g.copy(), []
        for sv, yv, rho in reversed(pairs):
            a = rho * np.einsum("kp,kp->k", sv, q)
            q -= a[:, None] * yv
            alphas.append(a)
        if pairs:
            sv, yv, _ = pairs[-1]
            yy = np.einsum("kp,kp->k", yv, yv)
            gamma = np.where(yy > 0, np.einsum("kp,kp->k", sv, yv) / np.maximum(yy, 1e-300), 1.0)
        else:  # first step: length 1 along the normalized gradient (as scipy's L-BFGS-B)
            gamma = 1.0 / np.maximum(np.linalg.norm(g, axis=1), 1e-12)
        r = gamma[:, None] * q
        for (sv, yv, rho), a in zip(pairs, reversed(alphas)):
            r += sv * (a - rho * np.einsum("kp,kp->k", yv, r))[:, None]
        step_dir = -r
        slope = np.einsum("kp,kp->k", g, step_dir)
        bad = slope >= 0  # not a descent direction: fall back to the gradient
        step_dir[bad], slope[bad] = -g[bad], -np.einsum("kp,kp->k", g[bad], g[bad])
        step_dir[~active], slope[~active] = 0.0, 0.0
        # backtracking (Armijo) line search, per class
        t = np.where(active, 1.0, 0.0)
        for _ in range(50):
            f_new, g_new = _objective(Xa, Y, s, lam, theta + t[:, None] * step_dir)
            failed = active & (f_new > f + 1e-4 * t * slope)
            if not failed.any():
                break
            t[failed] *= 0.5
        else:
            active &= ~failed  # no decrease found: this class cannot improve further
            t[failed] = 0.0
            f_new, g_new = _objective(Xa, Y, s, lam, theta + t[:, None] * step_dir)
        sv = t[:, None] * step_dir
        yv = g_new - g
        sy = np.einsum("kp,kp->k", sv, yv)
        rho = np.where(sy > 1e-12, 1.0 / np.maximum(sy, 1e-300), 0.0)  # 0: skip the pair
        pairs.append((sv, yv, rho))
        if len(pairs) > memory:
            pairs.pop(0)
        theta, f, g = theta + sv, f_new, g_new
        active &= np.abs(g).max(axis=1) > tol
    if active.any():
        from sklearn.exceptions import ConvergenceWarning

        worst = float(np.abs(g[active]).max())
        warnings.warn(
            f"multi-label logistic head: L-BFGS stopped after {max_iter} iterations with "
            f"gradient {worst:.2g} > tol {tol:g}; raise max_iter",
            ConvergenceWarning,
            stacklevel=4,
        )
    return theta[:, :-1].copy(), theta[:, -1].copy()
