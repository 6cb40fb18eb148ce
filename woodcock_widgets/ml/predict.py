"""Prediction on clips and long recordings, detections, and Raven Pro selection tables."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..audio.clip import Audio
from ..audio.preprocessing import model_image, stack_images
from ..errors import AudioLoadError, LabelError
from ..io_utils import atomic_write_text
from .bundle import ModelBundle

__all__ = [
    "predict",
    "predict_recording",
    "score_batches",
    "clip_windows",
    "detections",
    "to_raven_table",
    "write_raven_table",
    "read_raven_table",
    "raven_to_clip_labels",
]

RAVEN_COLUMNS = [
    "Selection",
    "View",
    "Channel",
    "Begin Time (s)",
    "End Time (s)",
    "Low Freq (Hz)",
    "High Freq (Hz)",
]


def clip_windows(
    duration: float, clip_seconds: float, overlap: float = 0.0
) -> list[tuple[float, float]]:
    """Start/end times of windows of ``clip_seconds`` covering ``duration``.

    The last window starts where the previous one leaves uncovered audio; it is padded
    with silence when the recording ends first. A recording shorter than one window gives
    one (padded) window.
    """
    if not 0 <= overlap < clip_seconds:
        raise ValueError(f"overlap must be in [0, {clip_seconds}) seconds, got {overlap}")
    hop = clip_seconds - overlap
    starts = [0.0]
    while starts[-1] + clip_seconds < duration - 1e-9:
        starts.append(starts[-1] + hop)
    return [(round(s, 6), round(s + clip_seconds, 6)) for s in starts]


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
    from .training import pick_precision

    device = torch.device(device)
    model = bundle.model.to(device).eval()
    dtype = pick_precision(device, precision)
    channels_last = device.type in ("cpu", "cuda")
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    out = []
    with torch.no_grad():
        for x in make_batch(channels_last):
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                logits = model(x.to(device))
            out.append(torch.softmax(logits.float(), 1).cpu().numpy())
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


def detections(scores: pd.DataFrame, class_name: str, threshold: float = 0.5) -> pd.DataFrame:
    """Windows whose ``class_name`` score is at least ``threshold`` (with a ``score`` column)."""
    if class_name not in scores.columns:
        raise LabelError(f"no score column {class_name!r}; columns are {list(scores.columns)}")
    hits = scores[scores[class_name] >= threshold]
    out = hits[["file", "start_time", "end_time"]].copy()
    out["annotation"] = class_name
    out["score"] = hits[class_name].to_numpy()
    return out.reset_index(drop=True)


def to_raven_table(
    dets: pd.DataFrame,
    low_freq: float = 0.0,
    high_freq: float | None = None,
    annotation_column: str = "Annotation",
) -> pd.DataFrame:
    """Detections (``start_time, end_time[, annotation, score]``) as a Raven selection table."""
    n = len(dets)
    high = high_freq if high_freq is not None else 11025.0
    table = pd.DataFrame(
        {
            "Selection": np.arange(1, n + 1),
            "View": ["Spectrogram 1"] * n,
            "Channel": [1] * n,
            "Begin Time (s)": dets["start_time"].to_numpy(float) if n else [],
            "End Time (s)": dets["end_time"].to_numpy(float) if n else [],
            "Low Freq (Hz)": [float(low_freq)] * n,
            "High Freq (Hz)": [float(high)] * n,
            annotation_column: (
                dets["annotation"].astype(str).to_numpy()
                if "annotation" in dets.columns
                else [""] * n
            ),
        }
    )
    if "score" in dets.columns:
        table["Score"] = dets["score"].to_numpy(float)
    return table


def write_raven_table(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a Raven Pro selection table (tab-separated, ``.txt``) atomically."""
    return atomic_write_text(path, table.to_csv(sep="\t", index=False, lineterminator="\n"))


def read_raven_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a Raven Pro selection table.

    Raises
    ------
    LabelError
        Missing file or missing Raven columns (named).
    """
    path = Path(path)
    if not path.is_file():
        raise LabelError(f"Raven table not found: {path}")
    try:
        table = pd.read_csv(path, sep="\t", encoding="utf-8-sig")
    except pd.errors.EmptyDataError as exc:
        raise LabelError(f"Raven table is empty: {path}") from exc
    # Raven writes a trailing tab, which pandas reads as an empty "Unnamed" column
    table = table.loc[:, [c for c in table.columns if not str(c).startswith("Unnamed:")]]
    missing = [c for c in ("Begin Time (s)", "End Time (s)") if c not in table.columns]
    if missing:
        raise LabelError(f"{path} is not a Raven selection table: missing column(s) {missing}")
    return table


def raven_to_clip_labels(
    table: pd.DataFrame,
    duration: float,
    clip_seconds: float,
    annotation_column: str = "Annotation",
    overlap: float = 0.0,
    min_overlap: float = 0.25,
) -> pd.DataFrame:
    """Turn Raven selections into clip labels: one row per window, one 0/1 column per class.

    A window is labeled with a class when a selection of that class covers at least
    ``min_overlap`` seconds of it (or the whole selection, if shorter).
    """
    if annotation_column not in table.columns:
        raise LabelError(
            f"Raven table has no column {annotation_column!r}; it has {list(table.columns)}"
        )
    classes = sorted({str(v) for v in table[annotation_column].dropna()})
    rows = []
    for s, e in clip_windows(duration, clip_seconds, overlap):
        row = {"start_time": s, "end_time": e}
        for c in classes:
            sel = table[table[annotation_column].astype(str) == c]
            inter = np.minimum(sel["End Time (s)"], e) - np.maximum(sel["Begin Time (s)"], s)
            need = np.minimum(min_overlap, sel["End Time (s)"] - sel["Begin Time (s)"])
            row[c] = int(bool(((inter >= need) & (inter > 0)).any()))
        rows.append(row)
    return pd.DataFrame(rows, columns=["start_time", "end_time", *classes])
