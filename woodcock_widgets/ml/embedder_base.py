"""The embedder interface and the clip-length rule (see :mod:`woodcock_widgets.ml.embedders`).

:class:`Embedder` turns fixed-length windows into feature vectors; :func:`fit_window` brings a
clip of any length and rate to an embedder's windows, :func:`embed_clips` embeds clips with
that rule, and :func:`pool_windows` averages the windows of one clip.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Iterable

import numpy as np

from woodcock_widgets.errors import EmbeddingError

from ..audio.resampling import resample_poly_cached

__all__ = ["Embedder", "fit_window", "embed_clips", "pool_windows"]


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
        x = resample_poly_cached(x, sample_rate // g, sr // g).astype(np.float32)
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
