"""An on-disk cache of window embeddings, so each window goes through a model only once.

Key: (SHA-256 of the audio file's bytes, window start and end in seconds, embedder name). The
content hash, not the path, names an entry: a renamed or copied file keeps its embeddings, and
an edited file (new content) is embedded afresh. Hashes are memoized per process by (path,
size, mtime, inode), so an unchanged file is read once per session.

Layout: ``<root>/<embedder name>/<sha256>.npz`` holds, for one file and one embedder, the
arrays ``start_us`` and ``end_us`` (window bounds in integer microseconds) and ``embeddings``
(float32, one row per window); ``<sha256>.json`` beside it is a small human-readable index
(last seen path, window count, dimension). Both are written atomically (temporary file, then
``os.replace``), so a crash never leaves a half-written entry.

Root: the ``root`` argument; else ``$WOODCOCK_CACHE/embeddings`` when the environment variable
``WOODCOCK_CACHE`` is set; else ``~/.cache/woodcock_widgets/embeddings``.

A window whose length differs from the embedder's follows the clip-length rule of
:mod:`woodcock_widgets.ml.embedders` (resample, centre and zero-pad, or mean-pool over windows).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from woodcock_widgets.errors import AudioLoadError, EmbeddingError
from woodcock_widgets.io_utils import atomic_write_bytes, atomic_write_json
from woodcock_widgets.ml.background import in_background
from woodcock_widgets.ml.embedders import Embedder, fit_window, pool_windows

__all__ = ["EmbeddingCache", "default_cache_root", "file_sha256"]

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_HASHES: dict[tuple, str] = {}
_HASH_LOCK = threading.Lock()
_END_TOLERANCE = 0.05  # seconds a window may run past the end of its file (rounding)


def default_cache_root() -> Path:
    """``$WOODCOCK_CACHE/embeddings`` if set, else ``~/.cache/woodcock_widgets/embeddings``."""
    env = os.environ.get("WOODCOCK_CACHE", "").strip()
    base = Path(env).expanduser() if env else Path.home() / ".cache" / "woodcock_widgets"
    return base / "embeddings"


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB chunks, memoized by (path, size, mtime, inode).

    Parameters
    ----------
    path : str or path-like
        The file.

    Returns
    -------
    str
        64 hex digits.

    Raises
    ------
    AudioLoadError
        If the file is missing or unreadable.
    """
    path = Path(path)
    try:
        st = path.stat()
    except OSError as exc:
        raise AudioLoadError(f"audio file not found: {path}") from exc
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    with _HASH_LOCK:
        if key in _HASHES:
            return _HASHES[key]
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
    except OSError as exc:
        raise AudioLoadError(f"cannot read audio file {path}: {exc}") from exc
    with _HASH_LOCK:
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]


def _us(seconds: float) -> int:
    return int(round(float(seconds) * 1e6))


class EmbeddingCache:
    """Window embeddings on disk, computed only for windows not seen before.

    Parameters
    ----------
    root : str or path-like, optional
        Cache folder; see the module docstring for the default.

    Attributes
    ----------
    model_calls : int
        Calls to ``embedder.embed`` made by this object (0 when everything was cached).
    windows_computed : int
        Model input windows run by this object.
    hits, misses : int
        Table rows served from the cache / computed.
    checkpoint_seconds : float
        While a long file is being embedded, its finished windows are saved this often.
    """

    checkpoint_seconds = 60.0

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_root()
        self.model_calls = 0
        self.windows_computed = 0
        self.hits = 0
        self.misses = 0

    def _entry(self, embedder: Embedder, digest: str) -> Path:
        folder = re.sub(r"[^A-Za-z0-9._-]", "_", embedder.name)
        return self.root / folder / f"{digest}.npz"

    def _load(self, path: Path, dim: int) -> dict[tuple[int, int], np.ndarray]:
        """The cached rows of one entry; an unreadable or mismatched entry counts as empty."""
        if not path.is_file():
            return {}
        try:
            with np.load(path, allow_pickle=False) as z:
                starts, ends, emb = z["start_us"], z["end_us"], z["embeddings"]
            if emb.ndim != 2 or emb.shape[1] != dim or not len(starts) == len(ends) == len(emb):
                raise ValueError(f"shape {emb.shape} for dimension {dim}")
        except Exception as exc:  # a damaged entry is recomputed, never trusted
            log.warning("ignoring unreadable embedding cache entry %s: %s", path, exc)
            return {}
        return {(int(s), int(e)): emb[i] for i, (s, e) in enumerate(zip(starts, ends))}

    def _save(self, path: Path, rows: dict, embedder: Embedder, source: str) -> None:
        """Merge ``rows`` into the entry on disk (re-read now) and write it atomically."""
        merged = self._load(path, embedder.dim)
        merged.update(rows)
        keys = sorted(merged)
        buf = io.BytesIO()
        np.savez(
            buf,
            start_us=np.array([k[0] for k in keys], np.int64),
            end_us=np.array([k[1] for k in keys], np.int64),
            embeddings=np.stack([merged[k] for k in keys]).astype(np.float32),
        )
        # no fsync: an entry is checked when read and recomputed when damaged (a power cut
        # costs recomputing it), and a first pass over clips writes one entry per clip
        atomic_write_bytes(path, buf.getvalue(), durable=False)
        index = {
            "embedder": embedder.name,
            "dim": int(embedder.dim),
            "windows": len(keys),
            "source": source,
            "sha256": path.stem,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        atomic_write_json(path.with_suffix(".json"), index, durable=False)

    def embed_windows(
        self,
        embedder: Embedder,
        table: pd.DataFrame,
        batch_size: int = 32,
        progress: bool = True,
    ) -> np.ndarray:
        """Embeddings of the windows of a table, running the model only on uncached windows.

        Parameters
        ----------
        embedder : Embedder
            The model; its ``name`` is part of the key.
        table : pandas.DataFrame
            Columns ``file``, ``start_time``, ``end_time`` (seconds), e.g. a window table.
        batch_size : int
            Model windows per call to ``embedder.embed``.
        progress : bool
            Show a tqdm progress bar over the windows being computed.

        Returns
        -------
        numpy.ndarray
            ``(len(table), embedder.dim)`` float32, rows in table order.

        Raises
        ------
        EmbeddingError
            If the table lacks a column or a window is empty or outside its file.
        AudioLoadError
            If a file is missing or unreadable.
        """
        missing_cols = [c for c in ("file", "start_time", "end_time") if c not in table.columns]
        if missing_cols:
            raise EmbeddingError(f"window table lacks column(s) {missing_cols}")
        out = np.zeros((len(table), embedder.dim), np.float32)
        if len(table) == 0:
            return out
        files = table["file"].astype(str).to_numpy()
        starts = pd.to_numeric(table["start_time"], errors="coerce").to_numpy(float)
        ends = pd.to_numeric(table["end_time"], errors="coerce").to_numpy(float)
        bad = ~(np.isfinite(starts) & np.isfinite(ends) & (starts >= 0) & (ends > starts))
        if bad.any():
            i = int(np.argmax(bad))
            raise EmbeddingError(
                f"row {i}: window [{starts[i]!r}, {ends[i]!r}] of {files[i]} is not a "
                "non-empty span of non-negative seconds"
            )
        todo = []  # (path, entry, {key: [row indices]}) for files with uncached windows
        by_file: dict[str, list[int]] = {}
        for r, path in enumerate(files):
            by_file.setdefault(path, []).append(r)
        for path, rows in by_file.items():
            entry = self._entry(embedder, file_sha256(path))
            cached = self._load(entry, embedder.dim)
            need: dict[tuple[int, int], list[int]] = {}
            for r in rows:
                key = (_us(starts[r]), _us(ends[r]))
                if key in cached:
                    out[r] = cached[key]
                    self.hits += 1
                else:
                    need.setdefault(key, []).append(r)
            if need:
                todo.append((path, entry, need))
        if todo:
            self._compute(embedder, todo, out, max(1, int(batch_size)), progress)
        return out

    def embed_files(
        self,
        embedder: Embedder,
        paths,
        batch_size: int = 32,
        progress: bool = True,
    ) -> np.ndarray:
        """Embed whole files (e.g. the tutorial's 2 s clips), one row per file.

        Parameters
        ----------
        embedder : Embedder
            The model.
        paths : iterable of str or path-like
            Audio files; each is one window from 0 to its duration.
        batch_size : int
            Model windows per call to ``embedder.embed``.
        progress : bool
            Show a progress bar.

        Returns
        -------
        numpy.ndarray
            ``(len(paths), embedder.dim)`` float32.
        """
        from woodcock_widgets.audio.clip import audio_info

        rows = []
        for p in paths:
            info = audio_info(p)
            if info.frames <= 0:
                raise AudioLoadError(f"audio file has no samples: {p}")
            rows.append((str(p), 0.0, info.frames / info.samplerate))
        table = pd.DataFrame(rows, columns=["file", "start_time", "end_time"])
        return self.embed_windows(embedder, table, batch_size=batch_size, progress=progress)

    def _compute(self, embedder, todo, out, batch_size, progress) -> None:
        """Embed the uncached windows of ``todo`` in batches; save each file when done.

        The audio is read and fitted to the embedder's window on a helper thread, a batch
        ahead of the model, so reading overlaps the model's work.
        """
        total = sum(len(need) for _, _, need in todo)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, desc=f"embedding ({embedder.name})", unit="window")
        results: list[dict] = [{} for _ in todo]
        left = [len(need) for _, _, need in todo]
        last_save = [time.monotonic()]

        def batches():
            """``(pending, windows)``: (file number, key, model windows) items and samples."""
            pending, buffer = [], []
            for f, (path, _, need) in enumerate(todo):
                with _open(path) as snd:
                    for key in need:
                        w = fit_window(
                            _read(snd, path, key),
                            snd.samplerate,
                            embedder.window_seconds,
                            embedder.sample_rate,
                        )
                        pending.append((f, key, len(w)))
                        buffer.append(w)
                        if sum(len(b) for b in buffer) >= batch_size:  # a few items at most
                            yield pending, np.concatenate(buffer)
                            pending, buffer = [], []
            if pending:
                yield pending, np.concatenate(buffer)

        def embed(pending, windows) -> None:
            emb = []
            for i in range(0, len(windows), batch_size):
                emb.append(np.asarray(embedder.embed(windows[i : i + batch_size]), np.float32))
                self.model_calls += 1
            self.windows_computed += len(windows)
            pooled = pool_windows(np.concatenate(emb), [n for _, _, n in pending])
            for (f, key, _), vec in zip(pending, pooled):
                path, entry, need = todo[f]
                results[f][key] = vec
                out[need[key]] = vec
                self.misses += len(need[key])
                left[f] -= 1
                if left[f] == 0:
                    self._save(entry, results[f], embedder, path)
                    last_save[0] = time.monotonic()
            if time.monotonic() - last_save[0] > self.checkpoint_seconds:
                for g in {f for f, _, _ in pending if left[f] > 0}:
                    self._save(todo[g][1], results[g], embedder, todo[g][0])
                last_save[0] = time.monotonic()
            if bar is not None:
                bar.update(len(pending))

        try:
            for pending, windows in in_background(batches, 2):
                embed(pending, windows)
        finally:
            if bar is not None:
                bar.close()


def _open(path: str) -> sf.SoundFile:
    try:
        return sf.SoundFile(path)
    except Exception as exc:
        raise AudioLoadError(f"cannot read audio file {path}: {exc}") from exc


def _read(snd: sf.SoundFile, path: str, key: tuple[int, int]) -> np.ndarray:
    """Mono float32 samples of the window ``key`` (microseconds) of an open file."""
    rate, frames = snd.samplerate, snd.frames
    start_s, end_s = key[0] / 1e6, key[1] / 1e6
    if end_s > frames / rate + _END_TOLERANCE:
        raise EmbeddingError(
            f"window [{start_s:g}, {end_s:g}] s runs past the end of {path} "
            f"({frames / rate:g} s long)"
        )
    start = int(round(start_s * rate))
    stop = min(int(round(end_s * rate)), frames)
    if stop <= start:
        raise EmbeddingError(f"window [{start_s:g}, {end_s:g}] s of {path} has no samples")
    try:
        snd.seek(start)
        data = snd.read(stop - start, dtype="float32", always_2d=True)
    except Exception as exc:
        raise AudioLoadError(f"cannot read audio file {path}: {exc}") from exc
    if len(data) < stop - start:
        raise AudioLoadError(f"audio file {path} is shorter than its header says")
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.isfinite(mono).all():
        raise AudioLoadError(f"audio file contains NaN or infinite samples: {path}")
    return mono
