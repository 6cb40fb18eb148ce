"""Scoring a recording of any length block by block, with decoding overlapped with scoring.

The audio is read a block at a time (:class:`~woodcock_widgets.audio.stream.AudioStream`),
cut into the same windows as :func:`~woodcock_widgets.ml.predict.predict_recording`, turned
into model images and batches on a helper thread, and scored by the one scoring pass
(:func:`~woodcock_widgets.ml.scoring.score_batch`) on the calling thread.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
import soundfile as sf
import torch

from ..audio.clip import Audio
from ..audio.preprocessing import model_image, stack_images
from ..audio.stream import AudioStream
from ..tables.grid import clip_windows
from .background import in_background
from .bundle import ModelBundle
from .scoring import PreparedModel, prepare_model, score_batch

__all__ = ["CPU_BATCH_MB", "cpu_batch_size", "stream_recording", "window_images"]

#: Model input per forward pass on the CPU (MB). A CPU scores about as fast in small batches
#: as in large ones, while the activations (most of a worker's memory beyond torch itself)
#: grow with the batch: 4 MB is 21 windows of 3x128x128 and 6 of 3x224x224.
CPU_BATCH_MB = 4.0


def window_images(
    stream: AudioStream, windows: Sequence[tuple[float, float]], pre
) -> Iterator[np.ndarray]:
    """The model image of each window, in order, holding about one block of samples.

    Parameters
    ----------
    stream : AudioStream
        The recording.
    windows : sequence of (float, float)
        ``(start, end)`` seconds of each window, in order (as
        :func:`~woodcock_widgets.tables.grid.clip_windows` gives).
    pre : Preprocessing
        Spectrogram and image settings.

    Yields
    ------
    numpy.ndarray
        One model image per window.
    """
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


def cpu_batch_size(
    batch_size: int, prepared: PreparedModel, image_shape: Sequence[int], batch_mb: float | None
) -> int:
    """``batch_size``, lowered on the CPU so one batch's input stays within ``batch_mb``."""
    batch_size = max(1, int(batch_size))
    if batch_mb is None or prepared.device.type != "cpu":
        return batch_size
    # counted as 3-channel float32 images whatever channels the model takes: the bound is
    # on activations, which grow with the pixels and the batch, not with the input channels
    per_window = 4 * 3 * int(np.prod(image_shape))
    return max(1, min(batch_size, int(batch_mb * 2**20 // per_window)))


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
    batch_mb: float | None = CPU_BATCH_MB,
) -> pd.DataFrame:
    """Scores for every window of one recording, read in blocks (bounded memory).

    The same windows and scores as :func:`~woodcock_widgets.ml.predict.predict_recording`
    (to float tolerance), but the audio is decoded ``block_seconds`` at a time, and decoding,
    spectrograms and batching run in a background thread while the model scores the previous
    batch.

    Parameters
    ----------
    bundle : ModelBundle
        The model and its preprocessing.
    path : str or path-like
        Audio file (any length).
    overlap : float
        Seconds shared by consecutive windows.
    batch_size : int
        Windows per forward pass (at most; see ``batch_mb``).
    device : str or torch.device
        Where to run the model (``auto``: cuda where available).
    precision : {"auto", "fp32", "bf16", "fp16"}
        Autocast precision (see :func:`~woodcock_widgets.ml.predict.predict_recording`).
    block_seconds : float
        Audio decoded per block.
    prefetch : int
        Batches prepared ahead of the model.
    prepared : PreparedModel, optional
        The model already prepared (:func:`~woodcock_widgets.ml.scoring.prepare_model`);
        ``device`` and ``precision`` are then not used.
    file_label : str, optional
        Value of the ``file`` column (default: ``str(path)``).
    batch_mb : float or None
        On the CPU, fewer windows per forward pass than ``batch_size`` when their float32
        input would exceed this many MB (bounds the activations; ``None``: no bound).

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
    batch_size = cpu_batch_size(batch_size, prepared, pre.image_shape, batch_mb)

    def batches() -> Iterator[torch.Tensor]:
        images: list[np.ndarray] = []
        for image in window_images(stream, windows, pre):
            images.append(image)
            if len(images) == batch_size:
                yield stack_images(images, prepared.channels, prepared.channels_last)
                images = []
        if images:
            yield stack_images(images, prepared.channels, prepared.channels_last)

    n_classes = len(bundle.label_dict)
    scores = np.zeros((len(windows), n_classes), np.float32)  # the only per-window array
    done = 0
    for x in in_background(batches, prefetch):
        part = score_batch(prepared, x)
        scores[done : done + len(part)] = part
        done += len(part)
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
