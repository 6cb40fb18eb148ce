"""Prediction on clips and long recordings, detections, and Raven Pro selection tables."""

from __future__ import annotations

import difflib
import math
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import torch
from scipy.signal import resample_poly

from ..audio.clip import Audio, _check_path, _check_wav_complete, _reason
from ..audio.preprocessing import model_image, stack_images
from ..errors import AudioLoadError, LabelError, PredictionError
from ..io_utils import atomic_write_text
from .bundle import ModelBundle

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

#: extra input samples read on each side of a block when resampling, beyond the filter's reach
_RESAMPLE_SLACK = 16


class AudioStream:
    """A file's mono float32 samples at ``sample_rate``, read block by block.

    Memory stays bounded by ``block_seconds`` whatever the file's length. The samples equal
    :meth:`Audio.from_file`'s (same 16-bit conversion, channel mean and polyphase resampling):
    each block is resampled with enough neighbouring input on both sides for the filter, and
    blocks start on the resampler's phase grid, so the joins are seamless.

    Parameters
    ----------
    path : str or path-like
        The audio file.
    sample_rate : int
        Rate of the samples given out.
    block_seconds : float
        Input read per block (seconds).

    Raises
    ------
    AudioLoadError
        Missing, empty, truncated or unreadable file (when opened, or from :meth:`blocks`
        when the damage is further in); NaN or infinite samples.
    """

    def __init__(
        self, path: str | os.PathLike, sample_rate: int, block_seconds: float = 60.0
    ) -> None:
        self.path = _check_path(path)
        self.sample_rate = int(sample_rate)
        try:
            info = sf.info(str(self.path))
        except Exception as exc:  # soundfile raises several types for unreadable files
            raise AudioLoadError(f"cannot read audio file {self.path}: {_reason(exc)}") from exc
        _check_wav_complete(self.path)
        self.file_rate = int(info.samplerate)
        self.frames = int(info.frames)
        if self.frames <= 0:
            raise AudioLoadError(f"audio file has no samples: {self.path}")
        g = math.gcd(self.sample_rate, self.file_rate)
        self.up, self.down = self.sample_rate // g, self.file_rate // g
        # what resample_poly gives for the whole file: ceil(frames * up / down) samples
        self.n_samples = -(-self.frames * self.up // self.down)
        # blocks and margins are whole multiples of `down` (the resampler's phase period)
        reach = 10 * max(self.up, self.down) / self.up + _RESAMPLE_SLACK  # input samples
        self.margin = 0 if self.up == self.down else self.down * math.ceil(reach / self.down)
        block = max(int(block_seconds * self.file_rate), self.down, 1)
        self.block = self.down * math.ceil(block / self.down)

    @property
    def duration(self) -> float:
        """Length in seconds at ``sample_rate`` (as :attr:`Audio.duration` after loading)."""
        return self.n_samples / self.sample_rate

    def _read(self, f: sf.SoundFile, start: int, n: int) -> np.ndarray:
        f.seek(start)
        if f.subtype == "PCM_16":  # as Audio.from_file: exact, and twice as fast
            data = f.read(frames=n, dtype="int16", always_2d=True)
            data = data.astype(np.float32) * np.float32(1 / 32768)
        else:
            data = f.read(frames=n, dtype="float32", always_2d=True)
        if data.shape[0] != n:
            raise AudioLoadError(
                f"audio file is truncated: its header declares {self.frames} frames but "
                f"reading stopped at {start + data.shape[0]}: {self.path}"
            )
        samples = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
        if not np.isfinite(samples).all():
            bad = int((~np.isfinite(samples)).sum())
            raise AudioLoadError(
                f"audio file contains {bad} NaN or infinite samples near "
                f"{start / self.file_rate:.1f} s: {self.path}"
            )
        return np.ascontiguousarray(samples, dtype=np.float32)

    def blocks(self) -> Iterator[np.ndarray]:
        """Consecutive blocks of samples at ``sample_rate``; together all ``n_samples``."""
        try:
            with sf.SoundFile(str(self.path)) as f:
                for a in range(0, self.frames, self.block):
                    b = min(a + self.block, self.frames)
                    if self.up == self.down:
                        yield self._read(f, a, b - a)
                        continue
                    lo, hi = max(a - self.margin, 0), min(b + self.margin, self.frames)
                    seg = resample_poly(self._read(f, lo, hi - lo), self.up, self.down)
                    first = (a - lo) * self.up // self.down  # lo, a: multiples of down
                    last = -(-(b - lo) * self.up // self.down)
                    yield np.asarray(seg[first:last], dtype=np.float32)
        except AudioLoadError:
            raise
        except Exception as exc:
            raise AudioLoadError(f"cannot read audio file {self.path}: {_reason(exc)}") from exc


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


def detections(scores: pd.DataFrame, class_name: str, threshold: float = 0.5) -> pd.DataFrame:
    """Windows whose ``class_name`` score is at least ``threshold`` (with a ``score`` column)."""
    if class_name not in scores.columns:
        raise LabelError(f"no score column {class_name!r}; columns are {list(scores.columns)}")
    hits = scores[scores[class_name] >= threshold]
    out = hits[["file", "start_time", "end_time"]].copy()
    out["annotation"] = class_name
    out["score"] = hits[class_name].to_numpy()
    return out.reset_index(drop=True)


# ------------------------------------------------------------------- detection settings

#: class names that mean "not the sound" (compared in lower case)
_NEGATIVE_NAMES = {
    "absent",
    "absence",
    "other",
    "others",
    "noise",
    "background",
    "negative",
    "none",
    "nothing",
    "empty",
    "na",
    "n/a",
}
_NEGATIVE_PREFIXES = ("not_", "not-", "not ", "no_", "no-", "no ", "non_", "non-", "non ")
_NEGATIVE_SUFFIXES = ("absent", "absence", "_other", "-other", "_noise", "-noise")


def _looks_negative(name: str) -> bool:
    n = str(name).strip().lower()
    return (
        n in _NEGATIVE_NAMES or n.startswith(_NEGATIVE_PREFIXES) or n.endswith(_NEGATIVE_SUFFIXES)
    )


def _recorded(bundle: ModelBundle, key: str):
    value = getattr(bundle, key, None)
    return bundle.extra.get(key) if value is None else value


def default_detect_class(bundle: ModelBundle) -> str:
    """The class detections are about when none is named.

    In order: the positive class the bundle records (``positive_class``, set at training);
    for a two-class model where exactly one class reads as the negative one (``…absent``,
    ``not_…``/``no_…``/``non-…``, ``other``, ``noise``, ``background``, ``negative``,
    ``none``), the other one (``woodcock-present`` beside ``woodcock-absent``, ``i`` beside
    ``not_i``); otherwise the last class.
    """
    classes = bundle.class_names
    recorded = _recorded(bundle, "positive_class")
    if recorded is not None and str(recorded) in classes:
        return str(recorded)
    if len(classes) == 2:
        negative = [_looks_negative(c) for c in classes]
        if sum(negative) == 1:
            return classes[negative.index(False)]
    return classes[-1]


def check_threshold(threshold: float, name: str = "threshold") -> float:
    """``threshold`` as a float in [0, 1], or a :class:`PredictionError` naming ``name``."""
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise PredictionError(f"{name} must be a number in [0, 1], got {threshold!r}") from None
    if not 0.0 <= value <= 1.0:  # also refuses NaN
        raise PredictionError(f"{name} must be in [0, 1] (a score), got {threshold}")
    return value


def _check_classes(requested: Sequence[str], classes: Sequence[str]) -> list[str]:
    out = []
    for name in requested:
        if name in classes:
            out.append(name)
            continue
        close = difflib.get_close_matches(str(name), list(classes), n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else "."
        raise PredictionError(
            f"detect class {name!r} is not a class of the model{hint} "
            f"The model's classes: {', '.join(map(repr, classes))}"
        )
    return list(dict.fromkeys(out))


def detection_thresholds(
    bundle: ModelBundle,
    classes: str | Sequence[str] | None = None,
    threshold: float | None = None,
) -> dict[str, float]:
    """The classes to detect and the score threshold of each, checked against the model.

    Parameters
    ----------
    bundle : ModelBundle
        The model; its recorded per-class ``thresholds`` (chosen at evaluation) are used
        where present.
    classes : str or sequence of str, optional
        Classes to detect; default: every class with a recorded threshold, else
        :func:`default_detect_class`.
    threshold : float, optional
        One threshold for every class, instead of the recorded ones (default 0.5 where
        none is recorded).

    Returns
    -------
    dict of str to float
        Class → threshold, in the order asked.

    Raises
    ------
    PredictionError
        A class the model does not have (with the closest name), a threshold outside [0, 1].
    """
    if threshold is not None:
        threshold = check_threshold(threshold)
    names = bundle.class_names
    recorded = _recorded(bundle, "thresholds") or {}
    recorded = {str(k): float(v) for k, v in dict(recorded).items() if str(k) in names}
    if isinstance(classes, str):
        classes = [classes]
    if classes:
        chosen = _check_classes(list(classes), names)
    elif recorded:
        chosen = [c for c in names if c in recorded]
    else:
        chosen = [default_detect_class(bundle)]
    if threshold is not None:
        return {c: threshold for c in chosen}
    return {c: check_threshold(recorded.get(c, 0.5)) for c in chosen}


def detect(scores: pd.DataFrame, thresholds: dict[str, float]) -> pd.DataFrame:
    """Detections of several classes (see :func:`detections`), by file, time, then class."""
    cols = ["file", "start_time", "end_time", "annotation", "score"]
    parts = [detections(scores, c, t) for c, t in thresholds.items()]
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(
            {c: pd.Series(dtype=float if "time" in c or c == "score" else object) for c in cols}
        )
    out = pd.concat(parts, ignore_index=True)
    order = {c: k for k, c in enumerate(thresholds)}
    out["_k"] = out["annotation"].map(order)
    out = out.sort_values(["file", "start_time", "_k"], kind="stable").drop(columns="_k")
    return out.reset_index(drop=True)


def merge_detections(dets: pd.DataFrame, gap: float = 0.0) -> pd.DataFrame:
    """Merge detections of one class in one file that are at most ``gap`` seconds apart.

    Consecutive windows above threshold (touching, ``gap=0``, or overlapping) become one
    selection spanning them all, scored with the highest of their scores: one bout, one row.

    Parameters
    ----------
    dets : pandas.DataFrame
        ``file, start_time, end_time, annotation[, score]`` (as :func:`detections` gives).
    gap : float
        Largest silence between two detections that still joins them (seconds, >= 0).

    Returns
    -------
    pandas.DataFrame
        Same columns, by file, start time and class.
    """
    if gap is None or (isinstance(gap, float) and math.isnan(gap)) or gap < 0:
        raise PredictionError(f"merge gap must be >= 0 seconds, got {gap}")
    if dets.empty:
        return dets.reset_index(drop=True)
    has_score = "score" in dets.columns
    rows = []
    key_cols = ["file", "annotation"] if "annotation" in dets.columns else ["file"]
    for key, part in dets.groupby(key_cols, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        part = part.sort_values("start_time", kind="stable")
        cur = None
        for r in part.itertuples(index=False):
            s, e = float(r.start_time), float(r.end_time)
            sc = float(r.score) if has_score else None
            if cur is not None and s - cur[1] <= gap + 1e-9:
                cur[1] = max(cur[1], e)
                if has_score:
                    cur[2] = max(cur[2], sc)
                continue
            if cur is not None:
                rows.append((*key, *cur))
            cur = [s, e, sc]
        rows.append((*key, *cur))
    out = pd.DataFrame(rows, columns=[*key_cols, "start_time", "end_time", "score"])
    if not has_score:
        out = out.drop(columns="score")
    cols = [c for c in dets.columns if c in out.columns]
    out = out[cols].sort_values(["file", "start_time"], kind="stable")
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
