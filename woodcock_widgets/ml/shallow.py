"""A shallow classifier on embeddings: standardized features, then logistic regression.

Single-label (one class per window): multinomial logistic regression (scikit-learn,
``LogisticRegression`` with the lbfgs solver), probabilities from a softmax. Multi-label (any
number of classes per window): one binary logistic regression per class (the same objective as
scikit-learn's, all classes fitted in one L-BFGS run by :mod:`.logistic_joint`), probabilities
from a sigmoid. Rare classes are up-weighted with ``class_weight="balanced"`` (per class in the
multi-label case: positives against negatives).

The fitted model is a plain linear map ``logits = ((x - mean) / std) @ W.T + b``, stored by
:meth:`ShallowClassifier.state_dict` as torch tensors, lists, str, float, int and bool only, so
it can ride inside a checkpoint loaded with ``torch.load(..., weights_only=True)``;
:meth:`ShallowClassifier.as_torch_module` gives the same probabilities as an ``nn.Linear``.
"""

from __future__ import annotations

import numpy as np

from woodcock_widgets.errors import TrainingError

from .logistic_joint import balanced_weights, fit_joint_logistic

__all__ = ["ShallowClassifier", "check_targets", "linear_module"]

_STATE_KIND = "woodcock_widgets.shallow_logistic"
_STATE_VERSION = 1


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free logistic


def check_targets(classes: list[str], multi_label: bool, Y, n: int) -> np.ndarray:
    """Checked training targets of ``n`` samples.

    Returns
    -------
    numpy.ndarray
        Single-label: class indices ``(n,)`` (from indices, names or one-hot rows);
        multi-label: the 0/1 matrix ``(n, k)``.

    Raises
    ------
    TrainingError
        A shape, value or class name that does not fit ``classes``.
    """
    k = len(classes)
    Y = np.asarray(Y)
    if multi_label:
        if Y.shape != (n, k):
            raise TrainingError(f"multi-label targets must have shape ({n}, {k}), got {Y.shape}")
        if not np.isin(Y, (0, 1)).all():
            raise TrainingError("multi-label targets must be 0 or 1")
        return Y.astype(np.int64)
    if Y.ndim == 2 and Y.shape == (n, k):  # one-hot
        if not (np.isin(Y, (0, 1)).all() and (Y.sum(axis=1) == 1).all()):
            raise TrainingError("single-label targets given as a matrix must be one-hot")
        return Y.argmax(axis=1)
    if Y.shape != (n,):
        raise TrainingError(f"single-label targets must have shape ({n},), got {Y.shape}")
    if Y.dtype.kind in "iu":
        if Y.min() < 0 or Y.max() >= k:
            raise TrainingError(f"class indices must lie in [0, {k}), got {Y.min()}..{Y.max()}")
        return Y.astype(np.int64)
    lookup = {c: i for i, c in enumerate(classes)}
    unknown = sorted({str(y) for y in Y} - set(lookup))
    if unknown:
        raise TrainingError(f"targets contain unknown classes {unknown}")
    return np.array([lookup[str(y)] for y in Y], np.int64)


def linear_module(coef, intercept, mean, std, multi_label: bool, probabilities: bool = True):
    """A logistic model on standardized features as torch layers (standardization folded in).

    ``((x - mean) / std) @ coef.T + intercept`` is ``x @ (coef / std).T + (intercept - ...)``:
    one ``nn.Linear``, followed by a softmax (or sigmoid when ``multi_label``) when
    ``probabilities``. float32, in eval mode.
    """
    import torch
    from torch import nn

    weight = coef / std  # (x - m) / s @ W.T + b == x @ (W / s).T + (b - ...)
    bias = intercept - weight @ mean
    linear = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(weight))
        linear.bias.copy_(torch.from_numpy(bias))
    if not probabilities:
        return linear.eval()
    act = nn.Sigmoid() if multi_label else nn.Softmax(dim=-1)
    return nn.Sequential(linear, act).eval()


class ShallowClassifier:
    """Logistic regression on standardized embeddings.

    Parameters
    ----------
    classes : list of str
        Class names, in output-column order.
    multi_label : bool
        ``False``: exactly one class per sample (softmax); ``True``: independent classes
        (sigmoid per class).
    class_weight : "balanced", dict or None
        ``"balanced"`` weighs samples inversely to their class frequency; a dict maps class
        names to weights; ``None`` weighs all samples equally.
    C : float
        Inverse L2 regularization strength (scikit-learn's ``C``).
    max_iter : int
        Solver iterations.
    """

    def __init__(
        self,
        classes,
        multi_label: bool = False,
        class_weight="balanced",
        C: float = 1.0,
        max_iter: int = 1000,
    ) -> None:
        self.classes = [str(c) for c in classes]
        if len(self.classes) < (1 if multi_label else 2) or len(set(self.classes)) != len(
            self.classes
        ):
            raise TrainingError(
                f"need distinct class names ({'one' if multi_label else 'two'} or more), "
                f"got {self.classes}"
            )
        if class_weight not in (None, "balanced") and not isinstance(class_weight, dict):
            raise TrainingError(
                f"class_weight must be 'balanced', a dict or None: {class_weight!r}"
            )
        if isinstance(class_weight, dict):
            unknown = sorted(set(map(str, class_weight)) - set(self.classes))
            if unknown:
                raise TrainingError(f"class_weight names unknown classes {unknown}")
            class_weight = {str(k): float(v) for k, v in class_weight.items()}
        self.multi_label = bool(multi_label)
        self.class_weight = class_weight
        self.C = float(C)
        self.max_iter = int(max_iter)
        self.mean_: np.ndarray | None = None
        self.std_: np.ndarray | None = None
        self.coef_: np.ndarray | None = None  # (n_classes, dim), on standardized features
        self.intercept_: np.ndarray | None = None  # (n_classes,)

    # ---------------------------------------------------------------- fitting
    def _weights(self):
        """scikit-learn class_weight for the multinomial model."""
        if not isinstance(self.class_weight, dict):
            return self.class_weight
        return {j: self.class_weight.get(c, 1.0) for j, c in enumerate(self.classes)}

    def fit(self, X, Y) -> ShallowClassifier:
        """Fit on embeddings.

        Parameters
        ----------
        X : array-like
            ``(n, dim)`` embeddings.
        Y : array-like
            Single-label: ``(n,)`` class indices or names, or a one-hot ``(n, k)`` matrix.
            Multi-label: a 0/1 ``(n, k)`` matrix.

        Returns
        -------
        ShallowClassifier
            ``self``.

        Raises
        ------
        TrainingError
            If the shapes disagree, values are not finite, or a class has no examples (or, in
            the multi-label case, no negatives).
        """
        from sklearn.linear_model import LogisticRegression

        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or len(X) == 0:
            raise TrainingError(f"embeddings must be a non-empty (n, dim) array, got {X.shape}")
        if not np.isfinite(X).all():
            raise TrainingError("embeddings contain NaN or infinite values")
        y = check_targets(self.classes, self.multi_label, Y, len(X))
        k = len(self.classes)
        counts = y.sum(axis=0) if self.multi_label else np.bincount(y, minlength=k)
        empty = [c for c, n in zip(self.classes, counts) if n == 0]
        if empty:
            raise TrainingError(f"no training examples of class(es) {empty}")
        if self.multi_label:
            full = [c for c, n in zip(self.classes, counts) if n == len(X)]
            if full:
                raise TrainingError(f"class(es) {full} are present in every example")
        mean = X.mean(axis=0)
        std = X.std(axis=0)
        std[std < 1e-8] = 1.0
        Xs = (X - mean) / std
        opts = dict(C=self.C, max_iter=self.max_iter)
        if self.multi_label:  # the k one-vs-rest problems in one solver run
            weights = balanced_weights(y, self.class_weight, self.classes)
            coef, bias = fit_joint_logistic(Xs, y, weights, self.C, self.max_iter)
        else:
            m = LogisticRegression(class_weight=self._weights(), **opts).fit(Xs, y)
            coef, bias = m.coef_, m.intercept_
            if k == 2:  # binary sklearn model: p1 = sigmoid(z) = softmax([-z/2, z/2])[1]
                coef = np.vstack([-coef[0] / 2, coef[0] / 2])
                bias = np.array([-bias[0] / 2, bias[0] / 2])
        self.mean_, self.std_ = mean, std
        self.coef_, self.intercept_ = np.asarray(coef, np.float64), np.asarray(bias, np.float64)
        return self

    # ------------------------------------------------------------- prediction
    def _check_fitted(self) -> None:
        if self.coef_ is None:
            raise TrainingError("the shallow classifier is not fitted yet; call fit() first")

    def decision_function(self, X) -> np.ndarray:
        """Logits ``(n, k)`` of embeddings ``X`` ``(n, dim)``."""
        self._check_fitted()
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.coef_.shape[1]:
            raise TrainingError(
                f"embeddings must have shape (n, {self.coef_.shape[1]}), got {X.shape}"
            )
        return ((X - self.mean_) / self.std_) @ self.coef_.T + self.intercept_

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``(n, k)``: rows sum to 1 (single-label) or not (multi-label)."""
        z = self.decision_function(X)
        return _sigmoid(z) if self.multi_label else _softmax(z)

    def predict(self, X, threshold: float = 0.5) -> np.ndarray:
        """Class indices ``(n,)`` (single-label) or a 0/1 matrix ``(n, k)`` (multi-label)."""
        p = self.predict_proba(X)
        if self.multi_label:
            return (p >= threshold).astype(np.int64)
        return p.argmax(axis=1)

    # ---------------------------------------------------------------- state
    def state_dict(self) -> dict:
        """The fitted model as tensors, lists, str, float, int and bool only.

        Returns
        -------
        dict
            Loadable with ``torch.load(..., weights_only=True)`` when saved with ``torch.save``;
            rebuild with :meth:`from_state`.
        """
        import torch

        self._check_fitted()
        return {
            "kind": _STATE_KIND,
            "version": _STATE_VERSION,
            "classes": list(self.classes),
            "multi_label": self.multi_label,
            "class_weight": self.class_weight,
            "C": self.C,
            "max_iter": self.max_iter,
            "mean": torch.from_numpy(self.mean_.copy()),
            "std": torch.from_numpy(self.std_.copy()),
            "coef": torch.from_numpy(self.coef_.copy()),
            "intercept": torch.from_numpy(self.intercept_.copy()),
        }

    @classmethod
    def from_state(cls, state: dict) -> ShallowClassifier:
        """Rebuild a fitted classifier from :meth:`state_dict` output.

        Parameters
        ----------
        state : dict
            As returned by :meth:`state_dict` (arrays may be tensors, numpy arrays or lists).

        Returns
        -------
        ShallowClassifier

        Raises
        ------
        TrainingError
            If the state is not a shallow-classifier state or its arrays disagree.
        """
        if not isinstance(state, dict) or state.get("kind") != _STATE_KIND:
            raise TrainingError("not a shallow classifier state (missing or wrong 'kind')")
        if int(state.get("version", 0)) > _STATE_VERSION:
            raise TrainingError(
                f"shallow classifier state version {state['version']} is newer than this kit "
                f"reads ({_STATE_VERSION}); upgrade woodcock_widgets"
            )
        obj = cls(
            state["classes"],
            multi_label=state["multi_label"],
            class_weight=state["class_weight"],
            C=state["C"],
            max_iter=state["max_iter"],
        )

        def arr(name):
            v = state[name]
            v = v.detach().cpu().numpy() if hasattr(v, "detach") else v
            return np.asarray(v, dtype=np.float64)

        obj.mean_, obj.std_ = arr("mean"), arr("std")
        obj.coef_, obj.intercept_ = arr("coef"), arr("intercept")
        k, d = len(obj.classes), obj.mean_.shape[0]
        if obj.coef_.shape != (k, d) or obj.intercept_.shape != (k,) or obj.std_.shape != (d,):
            raise TrainingError(
                f"shallow classifier state arrays disagree: coef {obj.coef_.shape}, "
                f"intercept {obj.intercept_.shape}, mean {obj.mean_.shape} for {k} classes"
            )
        return obj

    def as_torch_module(self, probabilities: bool = True):
        """The classifier as torch layers: ``nn.Linear`` with the standardization folded in.

        Parameters
        ----------
        probabilities : bool
            ``True``: ``nn.Sequential(Linear, Softmax or Sigmoid)`` giving
            :meth:`predict_proba`'s values; ``False``: the ``Linear`` alone (logits).

        Returns
        -------
        torch.nn.Module
            float32 module mapping ``(n, dim)`` embeddings to ``(n, k)`` outputs, in eval mode.
        """
        self._check_fitted()
        return linear_module(
            self.coef_, self.intercept_, self.mean_, self.std_, self.multi_label, probabilities
        )

    def __repr__(self) -> str:
        state = "fitted" if self.coef_ is not None else "not fitted"
        kind = "multi-label" if self.multi_label else "single-label"
        return f"ShallowClassifier({self.classes}, {kind}, {state})"
