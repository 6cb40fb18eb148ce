"""Embedding bundles: a pretrained embedder's identity plus a shallow head, in one safe file.

An :class:`EmbeddingBundle` is a :class:`~woodcock_widgets.ml.bundle.ModelBundle` whose model
is a linear head (:class:`~woodcock_widgets.ml.shallow.ShallowClassifier`) on the embeddings of
a pretrained model (:mod:`woodcock_widgets.ml.embedders`): BirdNET V2.4, or a CNN trained with
this kit. The file records which embedder it needs (name, window, sample rate, dimension; for
BirdNET the SHA-256 of the model file; a CNN embedder travels inside the file), the head's
weights, the label dictionary, per-class detection thresholds, ``multi_label``, the positive
class and the validation metrics. It is a ``torch.save`` dict of tensors and JSON text, written
atomically, and :meth:`EmbeddingBundle.load` (and :meth:`ModelBundle.load
<woodcock_widgets.ml.bundle.ModelBundle.load>`, which hands embedding bundles over to it)
reads it with ``torch.load(weights_only=True)``, offline: no code in the file can run, and
nothing is downloaded. The embedder is built only when audio is scored.

Scoring. BirdNET takes raw audio, not the spectrogram image the CNN path feeds its model, so
prediction goes through :meth:`EmbeddingBundle.score_recording` (``predict``,
``predict_recording`` and ``stream_recording`` of :mod:`woodcock_widgets.ml.predict` call it
for a bundle that has it) and :meth:`EmbeddingBundle.score_clips` (used by the review). Both
read the audio through the embedding cache (:mod:`woodcock_widgets.ml.embedding_cache`), so
scoring a recording again (with this or another head on the same embedder) runs no model.

Window rule. A recording is cut into windows of ``preprocessing.clip_seconds``: the window
length of the training table (2 s for the tutorial's clips), not the embedder's (3 s for
BirdNET), so the head sees windows like the ones it was trained on, and the score table has
the same windows as a CNN's. Each window then follows the clip-length rule of
:mod:`woodcock_widgets.ml.embedders`, as in training: resampled to the embedder's rate, centred
and zero-padded when shorter than the embedder's window, cut into evenly spread overlapping
windows whose embeddings are averaged when longer. The last window of a recording, which
:func:`~woodcock_widgets.ml.predict.clip_windows` lets run past the end, is embedded as the
shorter clip it is (centred and padded), while its ``end_time`` is reported as for a CNN.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import torch

from ..audio.preprocessing import Preprocessing
from ..errors import BundleError
from .bundle import BUNDLE_FORMAT, BUNDLE_VERSION, ModelBundle, read_bundle_payload
from .embedder_base import Embedder
from .embedder_record import (
    build_embedder,
    embedder_info,
    embedding_preprocessing,
    embedding_versions,
)
from .embedding_scoring import EmbeddingScoring
from .shallow import ShallowClassifier

__all__ = [
    "EMBEDDING_KIND",
    "EmbeddingBundle",
    "build_embedder",
    "embedder_info",
    "embedding_preprocessing",
    "embedding_versions",
]

#: ``kind`` of an embedding bundle's payload (a CNN bundle has none).
EMBEDDING_KIND = "embeddings"


@dataclass
class EmbeddingBundle(EmbeddingScoring, ModelBundle):
    """A shallow classifier on a pretrained model's embeddings, usable like a CNN bundle.

    It has a :class:`ModelBundle`'s surface (``class_names``, ``label_dict``,
    ``preprocessing``, ``metrics``, ``extra``, ``model``, ``save``/``load``), so prediction,
    detections, thresholds, Raven export and the results review take it as they take a CNN
    bundle. See the module docstring for how it scores audio and the window rule.

    Parameters
    ----------
    model : torch.nn.Module
        The head as an ``nn.Linear`` from embeddings ``(n, dim)`` to logits (softmax, or
        sigmoid when ``multi_label``, gives :attr:`head`'s probabilities).
    arch : str
        ``<embedder name>+logistic``.
    label_dict : dict of int to str
        Output index → class name (the head's class order).
    preprocessing : Preprocessing
        ``clip_seconds``: the prediction window (the training windows' length);
        ``sample_rate``: the embedder's (used for display and Raven tables only).
    metrics, extra, versions : dict
        As in :class:`ModelBundle`.
    head : ShallowClassifier
        The fitted classifier.
    embedder_info : dict
        See :func:`embedder_info`.
    thresholds : dict of str to float
        Detection threshold per class (used by ``predict``'s detections).
    multi_label : bool
        Independent classes (sigmoid) instead of one class per window (softmax).
    positive_class : str, optional
        The class detections are about by default.
    cache : EmbeddingCache, path, None or False
        Where embeddings of scored audio are kept: a cache, a cache folder, ``None`` for the
        default cache folder, ``False`` for none (a temporary one per call).
    cnn : dict, optional
        For a CNN embedder: its bundle's ``meta_json`` and ``state_dict``.
    """

    head: ShallowClassifier | None = None
    embedder_info: dict[str, Any] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    multi_label: bool = False
    positive_class: str | None = None
    cache: Any = field(default=None, repr=False, compare=False)
    cnn: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    _embedder: Embedder | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.head is None:
            raise BundleError("an embedding bundle needs its fitted head")
        names = self.class_names
        if list(self.head.classes) != names:
            raise BundleError(
                f"the head's classes {self.head.classes} differ from the label dict's {names}"
            )
        self.multi_label = bool(self.head.multi_label)
        self.thresholds = {str(k): float(v) for k, v in dict(self.thresholds or {}).items()}
        unknown = sorted(set(self.thresholds) - set(names))
        if self.positive_class is not None and str(self.positive_class) not in names:
            unknown.append(str(self.positive_class))
        if unknown:
            raise BundleError(f"thresholds or positive class name unknown classes {unknown}")

    # ---------------------------------------------------------------- building
    @classmethod
    def create(
        cls,
        head: ShallowClassifier,
        embedder: Embedder,
        clip_seconds: float,
        *,
        metrics: dict | None = None,
        extra: dict | None = None,
        thresholds: dict[str, float] | None = None,
        positive_class: str | None = None,
        cache: Any = None,
    ) -> EmbeddingBundle:
        """A bundle for a head fitted on ``embedder``'s embeddings of ``clip_seconds`` windows.

        Parameters
        ----------
        head : ShallowClassifier
            Fitted on the embedder's embeddings.
        embedder : Embedder
            The embedder (kept for scoring; recorded by :func:`embedder_info`).
        clip_seconds : float
            Length of the training windows, used as the prediction window.
        metrics, extra : dict, optional
            Validation metrics; anything else JSON-ready.
        thresholds : dict of str to float, optional
            Detection threshold per class.
        positive_class : str, optional
            The class detections are about by default.
        cache : EmbeddingCache, path, None or False
            See the class parameters.

        Returns
        -------
        EmbeddingBundle
        """
        from .embedders import BundleEmbedder

        pre = embedding_preprocessing(embedder, clip_seconds)
        cnn = None
        if isinstance(embedder, BundleEmbedder):
            raw = embedder.bundle.payload()
            cnn = {"meta_json": raw["meta_json"], "state_dict": raw["state_dict"]}
        return cls(
            head.as_torch_module(probabilities=False),
            f"{embedder.name}+logistic",
            dict(enumerate(head.classes)),
            pre,
            dict(metrics or {}),
            dict(extra or {}),
            embedding_versions(),
            head=head,
            embedder_info=embedder_info(embedder),
            thresholds=dict(thresholds or {}),
            multi_label=head.multi_label,
            positive_class=positive_class,
            cache=cache,
            cnn=cnn,
            _embedder=embedder,
        )

    # ---------------------------------------------------------------- storage
    def meta(self) -> dict[str, Any]:
        """JSON-ready description (everything but the head's weights)."""
        head = self.head
        return {
            "kind": EMBEDDING_KIND,
            "arch": self.arch,
            "num_classes": len(self.label_dict),
            "label_dict": {str(k): v for k, v in self.label_dict.items()},
            "class_names": self.class_names,
            "preprocessing": self.preprocessing.to_dict(),
            "embedder": self.embedder_info,
            "head": {
                "type": "logistic",
                "multi_label": head.multi_label,
                "class_weight": head.class_weight,
                "C": head.C,
                "max_iter": head.max_iter,
            },
            "thresholds": self.thresholds,
            "multi_label": self.multi_label,
            "positive_class": self.positive_class,
            "metrics": self.metrics,
            "extra": self.extra,
            "versions": self.versions,
        }

    def payload(self, training_state: dict | None = None) -> dict[str, Any]:
        """The dict written to disk (tensors, lists, str, numbers; ``training_state`` unused)."""
        state = {
            k: v.detach().to("cpu", torch.float32).contiguous()
            for k, v in self.model.state_dict().items()
        }
        out = {
            "format": BUNDLE_FORMAT,
            "format_version": BUNDLE_VERSION,
            "kind": EMBEDDING_KIND,
            "meta_json": json.dumps(self.meta(), default=float),
            "state_dict": state,
            "head": self.head.state_dict(),
        }
        if self.cnn is not None:
            out["cnn"] = self.cnn
        return out

    @classmethod
    def from_payload(cls, payload: dict[str, Any], source: str = "bundle") -> EmbeddingBundle:
        """Rebuild from :func:`~woodcock_widgets.ml.bundle.read_bundle_payload` output."""
        if payload.get("kind") != EMBEDDING_KIND:
            raise BundleError(f"{source} is a CNN bundle, not an embedding bundle")
        meta = payload["meta"]
        try:
            head = ShallowClassifier.from_state(payload["head"])
            label_dict = {int(k): v for k, v in meta["label_dict"].items()}
            preprocessing = Preprocessing.from_dict(meta["preprocessing"])
            bundle = cls(
                head.as_torch_module(probabilities=False),
                meta["arch"],
                label_dict,
                preprocessing,
                meta.get("metrics", {}),
                meta.get("extra", {}),
                meta.get("versions", {}),
                head=head,
                embedder_info=dict(meta["embedder"]),
                thresholds=meta.get("thresholds") or {},
                multi_label=bool(meta.get("multi_label", False)),
                positive_class=meta.get("positive_class"),
                cnn=payload.get("cnn"),
            )
        except BundleError as exc:
            raise BundleError(f"{source} does not match its own description: {exc}") from exc
        except Exception as exc:  # a damaged head state or description
            raise BundleError(
                f"{source} is an incomplete or damaged embedding bundle: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        return bundle

    @classmethod
    def load(cls, path: str | os.PathLike, embedder: Embedder | None = None) -> EmbeddingBundle:
        """Load safely (``weights_only=True``) and offline; the embedder is built when needed.

        Parameters
        ----------
        path : str or path-like
            The bundle file.
        embedder : Embedder, optional
            The embedder to score with (checked against the recorded one); needed for an
            embedder the kit cannot rebuild by itself.

        Raises
        ------
        BundleError
            See :func:`~woodcock_widgets.ml.bundle.read_bundle_payload`; a CNN bundle.
        """
        bundle = cls.from_payload(read_bundle_payload(path), str(path))
        if embedder is not None:
            bundle.use_embedder(embedder)
        return bundle
