"""How an embedding bundle scores audio: its embedder, through the embedding cache, then its head.

:class:`EmbeddingScoring` is the scoring half of
:class:`~woodcock_widgets.ml.embedding_bundle.EmbeddingBundle` (see that module for the window
rule); the bundle holds the data (``head``, ``embedder_info``, ``cnn``, ``cache``,
``preprocessing``, ``class_names``) these methods read.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

import numpy as np
import pandas as pd

from ..errors import AudioLoadError, EmbeddingError
from .embedder_base import Embedder
from .embedder_record import build_embedder, check_same_embedder

__all__ = ["EmbeddingScoring"]


class EmbeddingScoring:
    """Scoring methods of an embedding bundle (a mixin; the bundle holds the data)."""

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

    def use_embedder(self, embedder: Embedder) -> EmbeddingScoring:
        """Score with ``embedder`` (checked against the recorded one); returns ``self``."""
        check_same_embedder(embedder, self.embedder_info)
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
