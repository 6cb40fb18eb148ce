"""Prediction on clips and long recordings: windows of each file, scored in batches.

This module is where prediction's callers have always found its names; the work is split
into modules with one job each and re-exported here:

- :mod:`.scoring`: the one scoring pass (:class:`PreparedModel`, :func:`prepare_model`,
  :func:`score_batch`, :func:`score_batches`);
- :mod:`.streaming`: a recording of any length scored block by block
  (:func:`stream_recording`, bounded memory, decoding overlapped with scoring);
- :mod:`.detections`: thresholds and detections from scores;
- :mod:`woodcock_widgets.tables.raven` (Raven tables) and
  :mod:`woodcock_widgets.audio.stream` (the block reader).

Here: :func:`predict_recording` (one file, decoded whole) and :func:`predict` (many files).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import pandas as pd
import torch

from ..audio.clip import Audio
from ..audio.preprocessing import model_image
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
from .scoring import (
    PreparedModel,
    compile_model,
    prepare_model,
    score_batch,
    score_batches,
    score_images,
)
from .streaming import stream_recording

__all__ = [
    "predict",
    "predict_recording",
    "stream_recording",
    "AudioStream",
    "PreparedModel",
    "compile_model",
    "prepare_model",
    "score_batch",
    "score_batches",
    "score_images",
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


def predict_recording(
    bundle: ModelBundle,
    path: str | os.PathLike,
    overlap: float = 0.0,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    precision: str = "auto",
    prepared: PreparedModel | None = None,
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
    prepared : PreparedModel, optional
        The model already prepared or compiled (:func:`prepare_model`,
        :func:`compile_model`); ``device`` and ``precision`` are then not used.

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
    scores = score_images(bundle, images, batch_size, device, precision, prepared)
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
    compile: bool = False,  # the name torch users know
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
    precision : {"auto", "fp32", "bf16", "fp16", "int8"}
        Autocast precision (see :func:`predict_recording`); ``int8`` (CPU): the network
        quantized with activation ranges measured on windows of the first files
        (:func:`~woodcock_widgets.ml.int8.int8_calibration`; not compiled).
    compile : bool
        Compile the model once for all the files (:func:`compile_model`: tens of seconds,
        then about a quarter less CPU per window; worth it for hours of audio). Scores match
        the eager pass to the precision's tolerance; where compiling fails, one warning and
        the eager pass.

    Returns
    -------
    pandas.DataFrame
        ``file, start_time, end_time`` and one score column per class.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    files = list(files)
    prepared = None
    if precision == "int8":
        from .int8 import int8_calibration, require_cnn_bundle

        require_cnn_bundle(bundle)
        if files:
            floats = prepare_model(bundle, "cpu", "fp32")
            cal = int8_calibration(floats, bundle.preprocessing, files)
            prepared = prepare_model(bundle, device, "int8", cal.observers)
    elif compile and files and not hasattr(bundle, "score_recording"):
        prepared = compile_model(
            prepare_model(bundle, device, precision),
            bundle.preprocessing.image_shape,
            batch_size,
        )
    frames, skipped = [], []
    for k, f in enumerate(files, start=1):
        try:
            frames.append(
                predict_recording(bundle, f, overlap, batch_size, device, precision, prepared)
            )
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
