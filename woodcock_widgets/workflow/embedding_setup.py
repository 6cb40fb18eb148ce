"""The embedder and the positive class of an embedding fit, from what a caller names.

:func:`make_embedder` turns ``"birdnet"``, a bundle path, a loaded bundle or an embedder into
an :class:`~woodcock_widgets.ml.embedders.Embedder`; :func:`positive_class_of` checks (or
picks) the class detections and the zero-shot baseline are about. Both are used by
:func:`~woodcock_widgets.workflow.embedding_training.fit_embedding_classifier`.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ..errors import EmbeddingError, TrainingError
from ..ml.embedders import Embedder

__all__ = ["make_embedder", "positive_class_of"]


def make_embedder(embedder: str | os.PathLike | Embedder | Any = "birdnet") -> Embedder:
    """An :class:`~woodcock_widgets.ml.embedders.Embedder` from a name, a bundle or itself.

    Parameters
    ----------
    embedder : str, path, ModelBundle or Embedder
        ``"birdnet"`` (the optional extra), the path of a CNN bundle of this kit (its layer
        before the classifier), a loaded CNN bundle, or an embedder.

    Raises
    ------
    EmbeddingError
        The ``birdnet`` extra is missing (with the install command), or an unknown name.
    """
    from ..ml.bundle import ModelBundle
    from ..ml.embedders import BirdNETEmbedder, BundleEmbedder

    if isinstance(embedder, Embedder):
        return embedder
    if isinstance(embedder, ModelBundle):
        return BundleEmbedder(embedder)
    if isinstance(embedder, str) and embedder.strip().lower() == "birdnet":
        return BirdNETEmbedder()
    path = Path(embedder)
    if path.suffix == ".pt" or path.is_file():
        return BundleEmbedder(path)
    raise EmbeddingError(
        f"unknown embedder {embedder!r}: use 'birdnet' or the path of a trained bundle (.pt)"
    )


def positive_class_of(classes: list[str], positive_class: str | None) -> str:
    """``positive_class`` checked against ``classes``; default: as ``predict`` picks one."""
    from ..ml.predict import default_detect_class

    if positive_class is not None:
        if str(positive_class) not in classes:
            raise TrainingError(f"positive class {positive_class!r} is not one of {classes}")
        return str(positive_class)
    return default_detect_class(SimpleNamespace(class_names=classes, extra={}))
