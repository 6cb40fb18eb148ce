"""Read a long recording block by block, resampled, with bounded memory."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator

import numpy as np
import soundfile as sf

from ..errors import AudioLoadError
from .clip import _check_path, _check_wav_complete, _reason
from .resampling import resample_poly_cached

__all__ = ["AudioStream"]

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
                    seg = resample_poly_cached(self._read(f, lo, hi - lo), self.up, self.down)
                    first = (a - lo) * self.up // self.down  # lo, a: multiples of down
                    last = -(-(b - lo) * self.up // self.down)
                    yield np.asarray(seg[first:last], dtype=np.float32)
        except AudioLoadError:
            raise
        except Exception as exc:
            raise AudioLoadError(f"cannot read audio file {self.path}: {_reason(exc)}") from exc
