"""What single-target and multi-label training differ in: loss, metrics, thresholds, target.

A **single-target** model has one softmax over the classes (each clip is exactly one class),
trained with cross-entropy on integer codes. A **multi-label** model has one sigmoid per
class (a window may hold several classes, or none), trained with
``BCEWithLogitsLoss`` on the 0/1 matrix, optionally with a weight on each class's positives
(``pos_weight``) so rare classes count.

Multi-label metrics at the 0.5 threshold (:func:`multilabel_metrics`):

* ``accuracy``: the share of (window, class) decisions that are right, i.e. the mean over
  classes of each class's accuracy (not the share of windows with every class right, which
  with ten classes is near 0 for any useful model);
* ``precision``, ``recall``, ``f1``: the macro mean over the classes with at least one
  positive in the set (as :func:`~woodcock_widgets.ml.evaluation.macro_map` does); a class
  without positives has no recall to average. Per class, ``precision_<c>``, ``recall_<c>``,
  ``f1_<c>`` are those of ``score >= 0.5`` (0 where undefined, as for single-target).

After each validation of a multi-label run the F1-optimal threshold of each *target* class
(:func:`target_classes`) is taken from the validation scores (:func:`chosen_thresholds`); the
epoch's bundle records it, so ``predict`` and detections use it. A single-target run records
no thresholds: its detections stay at 0.5 (the tutorial's numbers do not move).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..errors import TrainingError
from .detections import _looks_negative
from .evaluation import DEFAULT_THRESHOLD
from .metrics import threshold_metrics

__all__ = [
    "MAX_POS_WEIGHT",
    "TargetSpec",
    "pos_weights",
    "default_loss",
    "multilabel_metrics",
    "positive_class",
    "target_classes",
    "chosen_thresholds",
    "logits_of",
    "set_prior_bias",
]

#: ``pos_weight="balanced"`` never weighs a class's positives more than this.
MAX_POS_WEIGHT = 100.0


def pos_weights(
    y: np.ndarray, class_names: Sequence[str], how: str | Sequence[float] | Mapping | None
) -> list[float] | None:
    """Per-class weights of the positives for ``BCEWithLogitsLoss``.

    Parameters
    ----------
    y : numpy.ndarray
        The training 0/1 matrix ``(n, k)``.
    class_names : sequence of str
        The classes, in column order.
    how : None, "balanced", sequence or mapping
        ``None``: no weights. ``"balanced"``: negatives / positives of each class in ``y``
        (1 for a class without positives; at most :data:`MAX_POS_WEIGHT`). A sequence: one
        weight per class. A mapping: class → weight (others 1).

    Raises
    ------
    TrainingError
        An unknown option, a wrong length, an unknown class, a weight that is not positive.
    """
    if how is None:
        return None
    k = len(class_names)
    if isinstance(how, str):
        if how != "balanced":
            raise TrainingError(f"pos_weight must be None, 'balanced' or numbers, got {how!r}")
        pos = np.asarray(y, float).sum(axis=0)
        neg = len(y) - pos
        out = np.where(pos > 0, neg / np.maximum(pos, 1), 1.0)
        return [float(min(max(v, 1e-6), MAX_POS_WEIGHT)) for v in out]
    if isinstance(how, Mapping):
        unknown = sorted(set(map(str, how)) - set(class_names))
        if unknown:
            raise TrainingError(f"pos_weight names classes that are not trained: {unknown}")
        values = [float(how.get(c, 1.0)) for c in class_names]
    else:
        values = [float(v) for v in how]
        if len(values) != k:
            raise TrainingError(f"pos_weight has {len(values)} values for {k} classes")
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise TrainingError(f"pos_weight values must be positive numbers, got {values}")
    return values


def default_loss(multi_label: bool, pos_weight: Sequence[float] | None, device) -> nn.Module:
    """Cross-entropy (single-target) or ``BCEWithLogitsLoss`` (multi-label) on ``device``."""
    if not multi_label:
        if pos_weight is not None:
            raise TrainingError("pos_weight is for multi-label training only")
        return nn.CrossEntropyLoss()
    weight = None if pos_weight is None else torch.tensor(pos_weight, dtype=torch.float32)
    return nn.BCEWithLogitsLoss(pos_weight=weight).to(device)


def logits_of(scores: np.ndarray, multi_label: bool) -> torch.Tensor:
    """The model outputs that give ``scores`` (log-softmax, or the sigmoid's logits).

    For cross-entropy the log-scores give exactly the loss of the logits (a shift of the
    logits changes neither). For the sigmoid the scores are clamped to
    ``[1e-7, 1 - 1e-7]`` first, so a saturated output counts as a logit of about ±16.
    """
    p = torch.from_numpy(np.asarray(scores, np.float32))
    if not multi_label:
        return torch.log(p.clamp_min(torch.finfo(torch.float32).tiny))
    p = p.double().clamp(1e-7, 1 - 1e-7)
    return (torch.log(p) - torch.log1p(-p)).float()


def set_prior_bias(model: nn.Module, rates: Sequence[float]) -> None:
    """Start each sigmoid at its class's positive rate: output bias ``log(p / (1 - p))``.

    The usual start for a multi-label head (as in RetinaNet's "prior" bias). With a zero
    bias every output starts at 0.5, far above the rates of most classes, and the first
    steps then move every class's weights together towards whatever separates busy windows
    from quiet ones, a ranking shared by all classes that has nothing to do with any of
    them. Starting at the rates leaves only what tells the classes apart to learn. Rates are
    clipped to [0.001, 0.999].

    Raises
    ------
    TrainingError
        The model's last linear layer does not have one output per rate.
    """
    linear = [m for m in model.modules() if isinstance(m, nn.Linear)]
    p = np.clip(np.asarray(rates, dtype=np.float64), 1e-3, 1 - 1e-3)
    if not linear or linear[-1].out_features != len(p) or linear[-1].bias is None:
        raise TrainingError(f"the model has no final linear layer with {len(p)} outputs")
    with torch.no_grad():
        linear[-1].bias.copy_(torch.from_numpy(np.log(p / (1 - p))).to(linear[-1].bias))


def multilabel_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]
) -> dict[str, float]:
    """Accuracy, macro precision/recall/F1 and per-class values of 0/1 decisions.

    See the module docstring for the definitions.

    Parameters
    ----------
    y_true, y_pred : numpy.ndarray
        ``(n, k)`` 0/1 matrices (truth, and ``score >= 0.5``).
    class_names : sequence of str
        Column names, for the keys ``precision_<name>`` etc.
    """
    y = np.asarray(y_true).astype(bool)
    hit = np.asarray(y_pred).astype(bool)
    nan = float("nan")
    if len(y) == 0:
        return {"accuracy": nan, "precision": nan, "recall": nan, "f1": nan}
    per = [
        threshold_metrics(y[:, j].astype(int), hit[:, j].astype(float), 1, 0.5)
        for j in range(len(class_names))
    ]
    has = y.any(axis=0)

    def macro(key: str) -> float:
        values = [m[key] for m, h in zip(per, has) if h]
        return float(np.mean(values)) if values else nan

    out = {
        "accuracy": float((y == hit).mean()),
        "precision": macro("precision"),
        "recall": macro("recall"),
        "f1": macro("f1"),
    }
    for name, m in zip(class_names, per):
        out[f"precision_{name}"] = float(m["precision"])
        out[f"recall_{name}"] = float(m["recall"])
        out[f"f1_{name}"] = float(m["f1"])
    return out


def positive_class(class_names: Sequence[str]) -> str | None:
    """The class a model is trained to find, where the class names say so.

    Two classes of which exactly one reads as the negative one (``…absent``, ``not_…``,
    ``other``, ``noise``, …; see :func:`~woodcock_widgets.ml.detections.default_detect_class`):
    the other one (the tutorial's ``present``). Otherwise ``None``: every class is a target.
    """
    names = [str(c) for c in class_names]
    if len(names) == 2:
        negative = [_looks_negative(c) for c in names]
        if sum(negative) == 1:
            return names[negative.index(False)]
    return None


def target_classes(class_names: Sequence[str], positive: str | None) -> list[str]:
    """The classes that get a detection threshold: the positive class, else all of them."""
    return [positive] if positive is not None else [str(c) for c in class_names]


def chosen_thresholds(metrics: pd.DataFrame, classes: Sequence[str]) -> dict[str, float]:
    """The F1-optimal validation threshold of each of ``classes`` (0.5 where undefined).

    Parameters
    ----------
    metrics : pandas.DataFrame
        :func:`~woodcock_widgets.ml.evaluation.per_class_metrics` of the validation scores.
    classes : sequence of str
        The classes to keep (:func:`target_classes`).
    """
    out = {}
    for c in classes:
        t = float(metrics.loc[c, "best_threshold"]) if c in metrics.index else float("nan")
        out[str(c)] = t if math.isfinite(t) and 0.0 <= t <= 1.0 else DEFAULT_THRESHOLD
    return out


@dataclass(frozen=True)
class TargetSpec:
    """What a trainer's targets are: softmax or sigmoids, loss weights, the target classes.

    Attributes
    ----------
    multi_label : bool
        One sigmoid per class (0/1 rows) instead of one softmax (codes).
    pos_weight : list of float or None
        Multi-label loss weight of each class's positives.
    positive_class : str or None
        The class detections are about by default.
    threshold_classes : list of str
        The classes that get a detection threshold (:func:`target_classes`).
    """

    multi_label: bool
    pos_weight: list[float] | None
    positive_class: str | None
    threshold_classes: list[str]

    @classmethod
    def choose(
        cls, class_names, train_ds, valid_ds, multi_label, pos_weight, positive
    ) -> TargetSpec:
        """Check the datasets and settings against each other (see :class:`Trainer`).

        Raises
        ------
        TrainingError
            Datasets of the other kind, ``pos_weight`` of the wrong length, an unknown
            positive class.
        """
        names = [str(c) for c in class_names]
        multi = bool(getattr(train_ds, "multi_label", False))
        multi = multi if multi_label is None else bool(multi_label)
        for ds in (train_ds, valid_ds):
            if ds is not None and bool(getattr(ds, "multi_label", False)) != multi:
                raise TrainingError(
                    "multi_label training needs datasets with 0/1 class columns "
                    "(target_columns), single-target training datasets with class codes"
                )
        if pos_weight is not None:
            pos_weight = [float(v) for v in pos_weight]
            if len(pos_weight) != len(names):
                raise TrainingError(
                    f"pos_weight has {len(pos_weight)} values for {len(names)} classes"
                )
        if positive is not None and str(positive) not in names:
            raise TrainingError(f"positive class {positive!r} is not one of the classes {names}")
        chosen = str(positive) if positive is not None else positive_class(names)
        return cls(multi, pos_weight, chosen, target_classes(names, chosen))
