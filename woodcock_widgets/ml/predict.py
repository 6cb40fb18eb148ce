"""Prediction on clips and long recordings: the one scoring pass and the windowing around it.

Detections (:mod:`.detections`), Raven tables (:mod:`woodcock_widgets.tables.raven`) and the
block reader (:mod:`woodcock_widgets.audio.stream`) live in their own modules and are
re-exported here, where prediction's callers have always found them.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import soundfile as sf
import torch

from ..audio.clip import Audio
from ..audio.preprocessing import model_image, stack_images
from ..audio.stream import AudioStream
from ..errors import AudioLoadError
from ..tables.grid import clip_windows
from ..tables.raven import (
    RAVEN_COLUMNS,
    raven_to_clip_labels,
    read_raven_table,
    to_raven_table,
    write_raven_table,
)
from .bundle import ModelBundle
from .detections import (
    check_threshold,
    default_detect_class,
    detect,
    detection_thresholds,
    detections,
    merge_detections,
)

__all__ = [
    "predict",
    "predict_recording",
    "stream_recording",
    "AudioStream",
    "PreparedModel",
    "prepare_model",
    "score_batch",
    "score_batches",
    "clip_windows",
    "detections",
    "detect",
    "merge_detections",
    "default_detect_class",
    "detection_thresholds",
    "check_threshold",
    "to_raven_table",
    "write_raven_table",
    "read_raven_table",
    "raven_to_clip_labels",
    "RAVEN_COLUMNS",
]


@dataclass(frozen=True)
class PreparedModel:
    """A bundle's network ready to score: on its device, in eval mode, in its memory layout.

    Made once (:func:`prepare_model`) and shared by every file a process scores; scoring
    never moves or converts it again, so threads may score with it side by side.
    """

    model: torch.nn.Module
    device: torch.device
    dtype: torch.dtype | None
    channels_last: bool
    channels: int
    multi_label: bool = False


def _resolve_device(device: str | torch.device) -> torch.device:
    """``auto`` → cuda where there is one, else cpu; anything else as torch reads it."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _is_multi_label(bundle: ModelBundle) -> bool:
    """Whether the bundle's outputs are independent sigmoids (a multi-label model)."""
    flag = getattr(bundle, "multi_label", None)
    if flag is None:
        flag = bundle.extra.get("multi_label", False)
    return bool(flag)


def prepare_model(
    bundle: ModelBundle, device: str | torch.device = "cpu", precision: str = "auto"
) -> PreparedModel:
    """Put a bundle's model where and how the trainer runs it (see :func:`score_batches`).

    Parameters
    ----------
    bundle : ModelBundle
        The model.
    device : str or torch.device
        Where to run it; ``auto`` is cuda where available, else cpu.
    precision : {"auto", "fp32", "bf16", "fp16"}
        Autocast precision; ``auto`` is what the trainer picks for ``device``.

    Returns
    -------
    PreparedModel
    """
    from .runtime import pick_precision

    device = _resolve_device(device)
    model = bundle.model.to(device).eval()
    dtype = pick_precision(device, precision)
    channels_last = device.type in ("cpu", "cuda")
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return PreparedModel(
        model,
        device,
        dtype,
        channels_last,
        bundle.preprocessing.channels,
        _is_multi_label(bundle),
    )


def score_batch(prepared: PreparedModel, x: torch.Tensor, raw: bool = False) -> np.ndarray:
    """Scores ``(N, n_classes)`` of one input batch: softmax, or sigmoid for multi-label.

    ``raw=True`` gives the model's outputs as they are (e.g. the features of a model whose
    classifier was removed, see :class:`~woodcock_widgets.ml.embedders.BundleEmbedder`).
    """
    with torch.no_grad():
        with torch.autocast(
            prepared.device.type,
            dtype=prepared.dtype or torch.float32,
            enabled=prepared.dtype is not None,
        ):
            logits = prepared.model(x.to(prepared.device))
        logits = logits.float()
        if raw:
            return logits.cpu().numpy()
        probs = torch.sigmoid(logits) if prepared.multi_label else torch.softmax(logits, 1)
        return probs.cpu().numpy()


def score_batches(
    bundle: ModelBundle,
    make_batch: Callable[[bool], Iterable[torch.Tensor]],
    device: str | torch.device = "cpu",
    precision: str = "auto",
) -> np.ndarray:
    """Softmax scores of input batches, with the model run the way the trainer runs it.

    Parameters
    ----------
    bundle : ModelBundle
        The model.
    make_batch : callable
        ``make_batch(channels_last)`` returns the input batches ``(N, C, H, W)``, laid out
        channels-last when asked (then no per-batch conversion is needed).
    device : str or torch.device
        Where to run the model.
    precision : {"auto", "fp32", "bf16", "fp16"}
        Autocast precision; ``auto`` is what the trainer picks for ``device``.

    Returns
    -------
    numpy.ndarray
        ``(n_clips, n_classes)`` scores.
    """
    prepared = prepare_model(bundle, device, precision)
    out = [score_batch(prepared, x) for x in make_batch(prepared.channels_last)]
    return np.concatenate(out) if out else np.zeros((0, len(bundle.label_dict)), np.float32)


def _scores(
    bundle: ModelBundle,
    images: list[np.ndarray],
    batch_size: int,
    device: torch.device,
    precision: str = "auto",
) -> np.ndarray:
    """Softmax scores of one-channel model images ``(H, W)`` (see :func:`score_batches`)."""
    channels = bundle.preprocessing.channels

    def batches(channels_last: bool):
        for i in range(0, len(images), batch_size):
            yield stack_images(images[i : i + batch_size], channels, channels_last)

    return score_batches(bundle, batches, device, precision)


def predict_recording(
    bundle: ModelBundle,
    path: str | os.PathLike,
    overlap: float = 0.0,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    precision: str = "auto",
) -> pd.DataFrame:
    """Scores for every window of one recording.

    Parameters
    ----------
    bundle : ModelBundle
        The model and its preprocessing.
    path : str or path-like
        Audio file (any length).
    overlap : float
        Seconds shared by consecutive windows.
    batch_size : int
        Windows per forward pass.
    device : str or torch.device
        Where to run the model.
    precision : {"auto", "fp32", "bf16", "fp16"}
        Autocast precision, as in :class:`~woodcock_widgets.training.TrainingConfig`:
        ``auto`` is what training used on this hardware (bf16 where the CPU has it).

    Returns
    -------
    pandas.DataFrame
        ``file, start_time, end_time`` and one score column per class name.
    """
    if hasattr(bundle, "score_recording"):  # EmbeddingBundle: embedder + shallow head
        return bundle.score_recording(path, overlap, batch_size)
    pre = bundle.preprocessing
    audio = Audio.from_file(path, sample_rate=pre.sample_rate)
    windows = clip_windows(audio.duration, pre.clip_seconds, overlap)
    images = [model_image(pre.image(audio.trim(s, e)), pre.image_shape) for s, e in windows]
    scores = _scores(bundle, images, batch_size, torch.device(device), precision)
    df = pd.DataFrame(
        {
            "file": str(path),
            "start_time": [w[0] for w in windows],
            "end_time": [w[1] for w in windows],
        }
    )
    for i, name in enumerate(bundle.class_names):
        df[name] = scores[:, i]
    return df


def predict(
    bundle: ModelBundle,
    files: Sequence[str | os.PathLike],
    overlap: float = 0.0,
    batch_size: int = 32,
    on_error: str = "raise",
    device: str | torch.device = "cpu",
    progress: Callable[[int, int], None] | None = None,
    precision: str = "auto",
) -> pd.DataFrame:
    """Scores for clips and long recordings alike (each cut in windows of the clip length).

    Parameters
    ----------
    bundle : ModelBundle
        The model.
    files : sequence of path
        Audio files.
    overlap : float
        Window overlap in seconds for recordings longer than one clip.
    batch_size : int
        Windows per forward pass.
    on_error : {"raise", "skip"}
        For unreadable files: raise naming the file, or skip it (listed in
        ``result.attrs["skipped"]`` as ``(file, reason)`` pairs).
    device : str or torch.device
        Where to run the model.
    progress : callable, optional
        ``progress(done, total)`` after each file.
    precision : {"auto", "fp32", "bf16", "fp16"}
        Autocast precision (see :func:`predict_recording`).

    Returns
    -------
    pandas.DataFrame
        ``file, start_time, end_time`` and one score column per class.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    files = list(files)
    frames, skipped = [], []
    for k, f in enumerate(files, start=1):
        try:
            frames.append(predict_recording(bundle, f, overlap, batch_size, device, precision))
        except AudioLoadError as exc:
            if on_error == "raise":
                raise
            skipped.append((str(f), str(exc)))
        if progress:
            progress(k, len(files))
    cols = ["file", "start_time", "end_time", *bundle.class_names]
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)
    out.attrs["skipped"] = skipped
    return out


# ------------------------------------------------------------------------------- streaming


def _window_images(
    stream: AudioStream, windows: Sequence[tuple[float, float]], pre
) -> Iterator[np.ndarray]:
    """The model image of each window, in order, holding about one block of samples."""
    sr = stream.sample_rate
    blocks = stream.blocks()
    buf = np.zeros(0, np.float32)
    buf_start = 0  # absolute index of buf[0]
    end_of_file = False
    for k, (s, e) in enumerate(windows):
        # the same sample indices as Audio.trim on the whole file
        i, j = max(int(round(s * sr)), 0), max(int(round(e * sr)), 0)
        j = min(j, stream.n_samples)
        while buf_start + len(buf) < j and not end_of_file:
            try:
                buf = np.concatenate([buf, next(blocks)])
            except StopIteration:
                end_of_file = True
        clip = buf[max(i - buf_start, 0) : max(j - buf_start, 0)]
        yield model_image(pre.image(Audio(clip, sr)), pre.image_shape)
        if k + 1 < len(windows):  # keep only what the next window needs
            nxt = max(int(round(windows[k + 1][0] * sr)), 0)
            drop = min(max(nxt - buf_start, 0), len(buf))
            if drop:
                buf = buf[drop:].copy() if drop < len(buf) else np.zeros(0, np.float32)
                buf_start += drop


def _in_background(make: Callable[[], Iterator], depth: int = 2) -> Iterator:
    """Run the iterator ``make()`` in a thread, ``depth`` items ahead of the consumer.

    Its exceptions reach the consumer; a consumer that stops early stops the thread.
    """
    q: queue.Queue = queue.Queue(maxsize=max(1, int(depth)))
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in make():
                if not put(("item", item)):
                    return
            put(("done", None))
        except BaseException as exc:  # handed to the consumer, which raises it
            put(("error", exc))

    thread = threading.Thread(target=work, name="woodcock-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            kind, item = q.get()
            if kind == "item":
                yield item
            elif kind == "error":
                raise item
            else:
                return
    finally:
        stop.set()
        thread.join(timeout=10)


def stream_recording(
    bundle: ModelBundle,
    path: str | os.PathLike,
    overlap: float = 0.0,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    precision: str = "auto",
    block_seconds: float = 60.0,
    prefetch: int = 2,
    prepared: PreparedModel | None = None,
    file_label: str | None = None,
) -> pd.DataFrame:
    """Scores for every window of one recording, read in blocks (bounded memory).

    The same windows and scores as :func:`predict_recording` (to float tolerance), but the
    audio is decoded ``block_seconds`` at a time, and decoding, spectrograms and batching run
    in a background thread while the model scores the previous batch.

    Parameters
    ----------
    bundle : ModelBundle
        The model and its preprocessing.
    path : str or path-like
        Audio file (any length).
    overlap : float
        Seconds shared by consecutive windows.
    batch_size : int
        Windows per forward pass.
    device : str or torch.device
        Where to run the model (``auto``: cuda where available).
    precision : {"auto", "fp32", "bf16", "fp16"}
        Autocast precision (see :func:`predict_recording`).
    block_seconds : float
        Audio decoded per block.
    prefetch : int
        Batches prepared ahead of the model.
    prepared : PreparedModel, optional
        The model already prepared (:func:`prepare_model`); ``device`` and ``precision``
        are then not used.
    file_label : str, optional
        Value of the ``file`` column (default: ``str(path)``).

    Returns
    -------
    pandas.DataFrame
        ``file, start_time, end_time`` and one score column per class name;
        ``attrs["duration"]`` is the recording's length in seconds.
    """
    if hasattr(bundle, "score_recording"):  # EmbeddingBundle: embedder + shallow head
        df = bundle.score_recording(path, overlap, batch_size, file_label)
        df.attrs.setdefault("duration", float(sf.info(str(path)).duration))
        return df
    pre = bundle.preprocessing
    prepared = prepared or prepare_model(bundle, device, precision)
    stream = AudioStream(path, pre.sample_rate, block_seconds)
    windows = clip_windows(stream.duration, pre.clip_seconds, overlap)
    batch_size = max(1, int(batch_size))

    def batches() -> Iterator[torch.Tensor]:
        images: list[np.ndarray] = []
        for image in _window_images(stream, windows, pre):
            images.append(image)
            if len(images) == batch_size:
                yield stack_images(images, prepared.channels, prepared.channels_last)
                images = []
        if images:
            yield stack_images(images, prepared.channels, prepared.channels_last)

    parts = [score_batch(prepared, x) for x in _in_background(batches, prefetch)]
    n_classes = len(bundle.label_dict)
    scores = np.concatenate(parts) if parts else np.zeros((0, n_classes), np.float32)
    df = pd.DataFrame(
        {
            "file": str(path) if file_label is None else file_label,
            "start_time": [w[0] for w in windows],
            "end_time": [w[1] for w in windows],
        }
    )
    for i, name in enumerate(bundle.class_names):
        df[name] = scores[:, i]
    df.attrs["duration"] = stream.duration
    return df
