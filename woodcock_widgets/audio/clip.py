"""Audio clips: load with soundfile, mix down to mono, resample, trim and pad, export WAV bytes."""

from __future__ import annotations

import io
import math
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from ..errors import AudioLoadError
from .resampling import resample_poly_cached

__all__ = ["Audio", "audio_info"]


def _check_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.exists():
        raise AudioLoadError(f"audio file not found: {path}")
    if path.is_dir():
        raise AudioLoadError(f"expected an audio file but found a folder: {path}")
    if path.stat().st_size == 0:
        raise AudioLoadError(f"audio file is empty (0 bytes): {path}")
    return path


def audio_info(path: str | os.PathLike) -> sf._SoundFileInfo:
    """Read an audio file's header (sample rate, channels, frames) without decoding it.

    Parameters
    ----------
    path : str or path-like
        The audio file.

    Returns
    -------
    soundfile info object with ``samplerate``, ``channels``, ``frames`` and ``duration``.

    Raises
    ------
    AudioLoadError
        If the file is missing or not a readable audio file.
    """
    path = _check_path(path)
    try:
        return sf.info(str(path))
    except Exception as exc:  # soundfile raises several types for unreadable files
        raise AudioLoadError(f"cannot read audio file {path}: {_reason(exc)}") from exc


def _check_wav_complete(path: Path) -> None:
    """Raise when a RIFF/WAVE file's data chunk is cut short (an interrupted copy or download).

    libsndfile quietly reads what is there, which would turn a truncated clip into a shorter,
    zero-padded one. A data size of 0 or 0xFFFFFFFF is the "still recording" convention of
    streaming writers and is left to libsndfile.
    """
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return
        size = os.fstat(f.fileno()).st_size
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk_id, length = struct.unpack("<4sI", f.read(8))
            if chunk_id == b"data":
                present = size - pos - 8
                if length not in (0, 0xFFFFFFFF) and length > present:
                    raise AudioLoadError(
                        f"audio file is truncated: its header declares {length} bytes of "
                        f"samples but only {present} are present: {path}"
                    )
                return
            pos += 8 + length + (length & 1)


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__


@dataclass(frozen=True, eq=False)
class Audio:
    """A mono audio signal with its sample rate.

    Parameters
    ----------
    samples : numpy.ndarray
        One-dimensional float32 samples, nominally in [-1, 1].
    sample_rate : int
        Samples per second.
    path : str, optional
        The file the samples came from, used in messages.
    """

    samples: np.ndarray
    sample_rate: int
    path: str | None = field(default=None)

    def __post_init__(self) -> None:
        samples = np.asarray(self.samples, dtype=np.float32)
        if samples.ndim != 1:
            raise ValueError(f"Audio samples must be one-dimensional, got shape {samples.shape}")
        if int(self.sample_rate) <= 0:
            raise ValueError(f"sample_rate must be positive, got {self.sample_rate}")
        object.__setattr__(self, "samples", samples)
        object.__setattr__(self, "sample_rate", int(self.sample_rate))

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike,
        sample_rate: int | None = None,
        offset: float = 0.0,
        duration: float | None = None,
    ) -> Audio:
        """Load an audio file (WAV, FLAC, OGG, MP3: whatever libsndfile reads).

        Parameters
        ----------
        path : str or path-like
            The audio file.
        sample_rate : int, optional
            Resample to this rate; ``None`` keeps the file's rate.
        offset : float
            Seconds to skip from the start.
        duration : float, optional
            Seconds to read; ``None`` reads to the end.

        Returns
        -------
        Audio
            Mono float32 audio; several channels are averaged.

        Raises
        ------
        AudioLoadError
            If the file is missing, unreadable, truncated, has no samples in the requested range, or
            contains NaN or infinite samples. The message names the file.
        """
        path = _check_path(path)
        if offset < 0:
            raise AudioLoadError(f"offset must be >= 0 seconds, got {offset} for {path}")
        if duration is not None and duration <= 0:
            raise AudioLoadError(f"duration must be > 0 seconds, got {duration} for {path}")
        try:
            with sf.SoundFile(str(path)) as f:
                rate = f.samplerate
                start = int(round(offset * rate))
                if start > 0:
                    if f.frames and start >= f.frames:
                        raise AudioLoadError(
                            f"offset {offset:g} s is past the end of {path} "
                            f"({f.frames / rate:g} s long)"
                        )
                    f.seek(start)
                frames = -1 if duration is None else int(round(duration * rate))
                if f.subtype == "PCM_16":
                    # libsndfile turns 16-bit samples into x / 32768 (exact): numpy does the
                    # same conversion about twice as fast
                    data = f.read(frames=frames, dtype="int16", always_2d=True)
                    data = data.astype(np.float32) * np.float32(1 / 32768)
                else:
                    data = f.read(frames=frames, dtype="float32", always_2d=True)
        except AudioLoadError:
            raise
        except Exception as exc:
            raise AudioLoadError(f"cannot read audio file {path}: {_reason(exc)}") from exc
        if data.shape[0] == 0:
            raise AudioLoadError(f"audio file has no samples: {path}")
        _check_wav_complete(path)
        samples = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
        if not np.isfinite(samples).all():
            bad = int((~np.isfinite(samples)).sum())
            raise AudioLoadError(f"audio file contains {bad} NaN or infinite samples: {path}")
        audio = cls(samples, rate, str(path))
        if sample_rate is not None and int(sample_rate) != rate:
            audio = audio.resample(int(sample_rate))
        return audio

    @classmethod
    def silence(cls, seconds: float, sample_rate: int) -> Audio:
        """Return digital silence of the given length."""
        return cls(np.zeros(int(round(seconds * sample_rate)), np.float32), sample_rate)

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.sample_rate

    def resample(self, sample_rate: int) -> Audio:
        """Resample with a polyphase anti-aliasing filter.

        Parameters
        ----------
        sample_rate : int
            The new rate in Hz.

        Returns
        -------
        Audio
        """
        sample_rate = int(sample_rate)
        if sample_rate == self.sample_rate:
            return self
        g = math.gcd(sample_rate, self.sample_rate)
        up, down = sample_rate // g, self.sample_rate // g
        out = resample_poly_cached(self.samples, up, down).astype(np.float32)
        return Audio(out, sample_rate, self.path)

    def trim(self, start: float, end: float) -> Audio:
        """Return the part between ``start`` and ``end`` seconds."""
        i, j = int(round(start * self.sample_rate)), int(round(end * self.sample_rate))
        return Audio(self.samples[max(i, 0) : max(j, 0)], self.sample_rate, self.path)

    def fix_length(self, seconds: float, pad_mode: str = "constant") -> Audio:
        """Trim or zero-pad (at the end) to exactly ``seconds``.

        Parameters
        ----------
        seconds : float
            Target length.
        pad_mode : {"constant", "wrap"}
            ``constant`` pads with silence, ``wrap`` repeats the clip.
        """
        n = int(round(seconds * self.sample_rate))
        cur = len(self.samples)
        if cur == n:
            return self
        if cur > n:
            return Audio(self.samples[:n], self.sample_rate, self.path)
        if pad_mode == "wrap" and cur > 0:
            out = np.resize(self.samples, n)
        elif pad_mode in ("constant", "wrap"):
            out = np.zeros(n, np.float32)
            out[:cur] = self.samples
        else:
            raise ValueError(f"pad_mode must be 'constant' or 'wrap', got {pad_mode!r}")
        return Audio(out, self.sample_rate, self.path)

    def to_wav_bytes(self) -> bytes:
        """Encode as a 16-bit PCM WAV file in memory (for ``ipywidgets.Audio``)."""
        buf = io.BytesIO()
        sf.write(
            buf, np.clip(self.samples, -1.0, 1.0), self.sample_rate, format="WAV", subtype="PCM_16"
        )
        return buf.getvalue()

    def save(self, path: str | os.PathLike, subtype: str = "PCM_16") -> Path:
        """Write a WAV file atomically and return its path."""
        from ..io_utils import atomic_write_bytes

        buf = io.BytesIO()
        sf.write(buf, self.samples, self.sample_rate, format="WAV", subtype=subtype)
        return atomic_write_bytes(path, buf.getvalue())

    def __repr__(self) -> str:
        src = f", path={self.path!r}" if self.path else ""
        return f"Audio(duration={self.duration:.3f}s, sample_rate={self.sample_rate}{src})"
