"""Model bundles: one file with weights, labels, preprocessing, metrics and versions.

A bundle is a ``torch.save`` dict of tensors plus JSON text, so it loads with
``torch.load(..., weights_only=True)``: no code inside a bundle can run when it is opened.
"""

from __future__ import annotations

import json
import os
import pickle
import platform
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..audio.preprocessing import Preprocessing
from ..errors import BundleError
from ..io_utils import atomic_torch_save
from ..tables.labels import LabelMap

__all__ = ["ModelBundle", "BUNDLE_FORMAT", "BUNDLE_VERSION", "read_bundle_payload", "versions"]

BUNDLE_FORMAT = "woodcock_widgets.model_bundle"
BUNDLE_VERSION = 1


def versions() -> dict[str, str]:
    """Versions of the packages that shape a model's behaviour.

    torchvision's is read from its installed metadata (``"not installed"`` without it), not by
    importing it: the import costs a process about 150 MiB, and the ResNets no longer need it.
    """
    import importlib.metadata

    import numpy

    from .. import __version__

    try:
        torchvision_version = importlib.metadata.version("torchvision")
    except importlib.metadata.PackageNotFoundError:
        torchvision_version = "not installed"
    return {
        "woodcock_widgets": __version__,
        "torch": torch.__version__,
        "torchvision": torchvision_version,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
    }


def read_bundle_payload(path: str | os.PathLike) -> dict[str, Any]:
    """Load and check a bundle file's raw content (``meta`` already parsed from JSON).

    Raises
    ------
    BundleError
        Missing, truncated or foreign file; a file that carries code (refused); a bundle
        from a newer format.
    """
    path = Path(path)
    if not path.is_file():
        raise BundleError(f"model bundle not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise BundleError(
            f"refusing to load {path}: it contains Python objects or code that a model bundle "
            f"never has ({str(exc).splitlines()[0] if str(exc) else 'unsafe pickle'}). Only open "
            "bundles you trust."
        ) from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise BundleError(
            f"cannot read model bundle {path}: the file is corrupt or not a bundle "
            f"({type(exc).__name__})"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{path} is not a woodcock_widgets model bundle")
    version = payload.get("format_version")
    if not isinstance(version, int) or version > BUNDLE_VERSION:
        raise BundleError(
            f"{path} was written by a newer woodcock_widgets (bundle format {version}); this "
            f"version reads format {BUNDLE_VERSION} and older. Upgrade woodcock_widgets."
        )
    try:
        payload["meta"] = json.loads(payload["meta_json"])
        payload["state_dict"]  # noqa: B018 - presence check
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path} is an incomplete model bundle (missing {exc})") from exc
    return payload


@dataclass
class ModelBundle:
    """A trained model with everything needed to use it on new audio.

    Parameters
    ----------
    model : torch.nn.Module
        The network (weights kept in float32).
    arch : str
        Architecture name, to rebuild the network.
    label_dict : dict of int to str
        Output index → class name.
    preprocessing : Preprocessing
        How clips become inputs.
    metrics : dict
        Metrics of the saved epoch (e.g. validation F1).
    extra : dict
        Anything else JSON-ready (training settings, run info). A trained bundle records
        here ``multi_label`` (one sigmoid per class instead of a softmax: prediction scores
        with it), ``positive_class`` (the class detections are about by default, or
        ``None``) and ``thresholds`` (multi-label: class → the F1-optimal validation
        threshold of its epoch; empty for single-target), which :mod:`.predict`,
        :mod:`.detections` and :mod:`.evaluation` read.
    """

    model: nn.Module
    arch: str
    label_dict: dict[int, str]
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    metrics: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=versions)

    @property
    def class_names(self) -> list[str]:
        """Class names in output order."""
        return list(LabelMap.from_label_dict(self.label_dict).classes)

    def meta(self) -> dict[str, Any]:
        """JSON-ready description (everything but the weights)."""
        return {
            "arch": self.arch,
            "num_classes": len(self.label_dict),
            "label_dict": {str(k): v for k, v in self.label_dict.items()},
            "class_names": self.class_names,
            "preprocessing": self.preprocessing.to_dict(),
            "metrics": self.metrics,
            "extra": self.extra,
            "versions": self.versions,
        }

    def payload(self, training_state: dict | None = None) -> dict[str, Any]:
        """The dict written to disk; ``training_state`` is kept for resuming."""
        state = {
            k: v.detach().to("cpu", torch.float32).contiguous()
            if v.is_floating_point()
            else v.detach().to("cpu").contiguous()
            for k, v in self.model.state_dict().items()
        }
        out = {
            "format": BUNDLE_FORMAT,
            "format_version": BUNDLE_VERSION,
            "meta_json": json.dumps(self.meta(), default=float),
            "state_dict": state,
        }
        if training_state is not None:
            out["training_state"] = training_state
        return out

    def save(self, path: str | os.PathLike, training_state: dict | None = None) -> Path:
        """Write the bundle atomically (temp file + rename) and return its path."""
        return atomic_torch_save(self.payload(training_state), path)

    @classmethod
    def from_payload(cls, payload: dict[str, Any], source: str = "bundle") -> ModelBundle:
        """Rebuild a bundle from :func:`read_bundle_payload` output."""
        from .models import build_model

        if payload.get("kind") == "embeddings":  # an embedder plus a shallow head
            from .embedding_bundle import EmbeddingBundle

            return EmbeddingBundle.from_payload(payload, source)
        meta = payload["meta"]
        try:
            label_dict = {int(k): v for k, v in meta["label_dict"].items()}
            preprocessing = Preprocessing.from_dict(meta["preprocessing"])
            model = build_model(
                meta["arch"],
                int(meta["num_classes"]),
                pretrained=False,
                in_channels=preprocessing.channels,
            )
            model.load_state_dict(payload["state_dict"])
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            raise BundleError(f"{source} does not match its own description: {exc}") from exc
        model.eval()
        return cls(
            model,
            meta["arch"],
            label_dict,
            preprocessing,
            meta.get("metrics", {}),
            meta.get("extra", {}),
            meta.get("versions", {}),
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> ModelBundle:
        """Load a bundle safely (``weights_only=True``), without any network access.

        An embedding bundle (payload ``kind`` ``"embeddings"``) comes back as an
        :class:`~woodcock_widgets.ml.embedding_bundle.EmbeddingBundle`.

        Raises
        ------
        BundleError
            See :func:`read_bundle_payload`.
        """
        return cls.from_payload(read_bundle_payload(path), str(path))
