"""Start a labeling loop from a trained model bundle: its embedder, its window, its scores.

Both kinds of bundle this kit trains work (:meth:`LabelingLoop.from_bundle
<woodcock_widgets.workflow.labeling_loop.LabelingLoop.from_bundle>`):

- an **embedding bundle** (a shallow head on e.g. BirdNET embeddings): the loop embeds with the
  bundle's embedder, and a class starts with the head's probabilities;
- a **CNN bundle**: the loop embeds with the CNN's penultimate layer
  (:class:`~woodcock_widgets.ml.embedders.BundleEmbedder`), and a class starts with the CNN's
  own scores, which are its last linear layer applied to exactly those features (then a
  sigmoid for a multi-label model, else a softmax over its classes), so the folder is run
  through the network once, for both.

The window length is the bundle's ``clip_seconds``. A class of the loop that the bundle does
not know starts unscored, as without a bundle. Once a class has positive labels the loop fits
its own head on them and the bundle's scores step aside (the bundle's training windows are not
in the label table: pass them as ``start`` to keep them).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import EmbeddingError
from ..ml.bundle import ModelBundle
from ..ml.embedders import Embedder

__all__ = ["BundleStart", "bundle_start"]


@dataclass(frozen=True)
class BundleStart:
    """What a loop takes from a bundle.

    Attributes
    ----------
    embedder : Embedder
        The embedder of the loop.
    window_seconds : float
        The bundle's window (``clip_seconds``).
    classes : list of str
        The bundle's classes, in output order.
    score : callable
        ``score(X)``: ``(n, len(classes))`` probabilities of embeddings ``X`` from ``embedder``.
    kind : str
        ``embeddings`` or ``cnn``.
    """

    embedder: Embedder
    window_seconds: float
    classes: list[str]
    score: Callable[[np.ndarray], np.ndarray]
    kind: str

    def prior(self, classes) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
        """``prior(X)``: ``{class: scores}`` for those of ``classes`` the bundle knows."""
        known = [(c, self.classes.index(c)) for c in map(str, classes) if c in self.classes]

        def scores(X: np.ndarray) -> dict[str, np.ndarray]:
            p = self.score(X) if known else None
            return {c: np.asarray(p[:, j], np.float32) for c, j in known}

        return scores


def _last_linear(model):
    """The CNN's classifier layer (ResNet ``fc``; else the last layer of ``classifier``)."""
    from torch import nn

    layer = getattr(model, "fc", None)
    if not isinstance(layer, nn.Linear):
        classifier = getattr(model, "classifier", None)
        layer = classifier[-1] if isinstance(classifier, nn.Sequential) else None
    if not isinstance(layer, nn.Linear):
        raise EmbeddingError(
            f"cannot find the classifier layer of {type(model).__name__} (no 'fc' or "
            "'classifier' linear layer): cannot start a labeling loop from it"
        )
    weight = layer.weight.detach().cpu().double().numpy()
    bias = layer.bias.detach().cpu().double().numpy() if layer.bias is not None else 0.0
    return weight, bias


def _cnn_scorer(bundle: ModelBundle) -> Callable[[np.ndarray], np.ndarray]:
    weight, bias = _last_linear(bundle.model)
    # as prediction reads it (ml.predict): the trainer records it in the bundle's extra
    multi = bool(bundle.extra.get("multi_label", False))

    def score(X: np.ndarray) -> np.ndarray:
        logits = np.asarray(X, np.float64) @ weight.T + bias
        if multi:
            return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)

    return score


def bundle_start(bundle: ModelBundle | str | os.PathLike, device: str = "cpu") -> BundleStart:
    """The embedder, window, classes and scorer of a bundle (module docstring).

    Parameters
    ----------
    bundle : ModelBundle or path
        An embedding bundle or a CNN bundle (e.g. a run folder's best bundle).
    device : str
        Where a CNN embeds.

    Returns
    -------
    BundleStart

    Raises
    ------
    BundleError
        The path is not a readable bundle.
    EmbeddingError
        An embedding bundle whose embedder cannot be rebuilt (e.g. the ``birdnet`` extra is
        missing), or a CNN without a linear classifier layer.
    """
    from ..ml.embedders import BundleEmbedder

    if not isinstance(bundle, ModelBundle):
        bundle = ModelBundle.load(bundle)
    classes = [str(c) for c in bundle.class_names]
    seconds = float(bundle.preprocessing.clip_seconds)
    head = getattr(bundle, "head", None)
    if head is not None:  # an embedding bundle
        return BundleStart(bundle.embedder, seconds, classes, head.predict_proba, "embeddings")
    embedder = BundleEmbedder(bundle, device=device)
    return BundleStart(embedder, seconds, classes, _cnn_scorer(bundle), "cnn")
