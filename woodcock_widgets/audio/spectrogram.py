"""Spectrograms: short-time Fourier transform in decibels, band-pass, image, PNG and tensor."""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass

import numpy as np
import scipy.fft

from .clip import Audio
from .images import image_to_tensor

__all__ = ["Spectrogram", "stft_power", "power_to_db"]

# Power floor before the log: digital silence becomes -200 dB, finite, then clipped.
_POWER_FLOOR = 1e-20


def _frames(samples: np.ndarray, window: int, hop: int) -> np.ndarray:
    """View ``samples`` as overlapping frames; pad short signals to one full window."""
    if len(samples) < window:
        samples = np.pad(samples, (0, window - len(samples)))
    n = 1 + (len(samples) - window) // hop
    return np.lib.stride_tricks.sliding_window_view(samples, window)[::hop][:n]


@functools.lru_cache(maxsize=16)
def _window(window_type: str, n: int) -> tuple[np.ndarray, float]:
    """The float32 frame taper and the sum of its squares (cached: the same for every clip)."""
    if window_type == "hann":
        # periodic Hann (as scipy.signal.get_window uses for spectral analysis)
        win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)
    elif window_type == "hamming":
        win = 0.54 - 0.46 * np.cos(2 * np.pi * np.arange(n) / n)
    elif window_type == "boxcar":
        win = np.ones(n)
    else:
        raise ValueError(f"unknown window_type {window_type!r}")
    win = win.astype(np.float32)
    win.flags.writeable = False
    return win, float((win**2).sum())


def stft_power(
    samples: np.ndarray,
    sample_rate: int,
    window_samples: int = 512,
    overlap_samples: int = 256,
    window_type: str = "hann",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Power spectral density of overlapping windowed frames.

    Parameters
    ----------
    samples : numpy.ndarray
        Mono samples.
    sample_rate : int
        Samples per second.
    window_samples, overlap_samples : int
        Frame length and the overlap between consecutive frames.
    window_type : {"hann", "hamming", "boxcar"}
        The taper applied to each frame.

    Returns
    -------
    power : numpy.ndarray
        Shape ``(window_samples // 2 + 1, n_frames)``.
    frequencies : numpy.ndarray
        Bin centres in Hz.
    times : numpy.ndarray
        Frame centres in seconds.
    """
    if not 0 <= overlap_samples < window_samples:
        raise ValueError(
            f"overlap_samples must be in [0, window_samples); got {overlap_samples} "
            f"for window_samples={window_samples}"
        )
    hop = window_samples - overlap_samples
    win, win_power = _window(window_type, window_samples)
    frames = _frames(np.asarray(samples, np.float32), window_samples, hop)
    frames = frames - frames.mean(axis=1, keepdims=True)  # per-frame detrend, like scipy
    frames *= win
    # scipy's pocketfft transforms float32 natively: several times faster than numpy's here
    spec = scipy.fft.rfft(frames, axis=1, overwrite_x=True)
    power = spec.real**2
    power += spec.imag**2
    power *= 1.0 / (sample_rate * win_power)  # density scaling
    power[:, 1:-1] *= 2.0  # one-sided
    frequencies = np.fft.rfftfreq(window_samples, 1.0 / sample_rate)
    times = (np.arange(power.shape[0]) * hop + window_samples / 2) / sample_rate
    return power.T, frequencies, times


def power_to_db(power: np.ndarray) -> np.ndarray:
    """10·log10 of power with a floor, so zeros give a finite value (never -inf)."""
    return 10.0 * np.log10(np.maximum(power, _POWER_FLOOR))


@dataclass(frozen=True, eq=False)
class Spectrogram:
    """A spectrogram in decibels, clipped to ``decibel_limits``.

    Parameters
    ----------
    values : numpy.ndarray
        dB values, shape ``(n_frequencies, n_times)``, row 0 is the lowest frequency.
    frequencies : numpy.ndarray
        Row frequencies in Hz.
    times : numpy.ndarray
        Column times in seconds.
    decibel_limits : tuple of float
        The (low, high) dB range that ``values`` is clipped to and images are scaled over.
    """

    values: np.ndarray
    frequencies: np.ndarray
    times: np.ndarray
    decibel_limits: tuple[float, float] = (-100.0, -20.0)

    @classmethod
    def from_audio(
        cls,
        audio: Audio,
        window_samples: int = 512,
        overlap_samples: int = 256,
        window_type: str = "hann",
        decibel_limits: tuple[float, float] = (-100.0, -20.0),
    ) -> Spectrogram:
        """Compute the spectrogram of an :class:`~woodcock_widgets.audio.Audio`.

        Parameters
        ----------
        audio : Audio
            The clip.
        window_samples, overlap_samples : int
            STFT frame length and overlap (the tutorial: 512 and 256).
        window_type : str
            Frame taper, see :func:`stft_power`.
        decibel_limits : tuple of float
            Clip the dB values to this range.

        Returns
        -------
        Spectrogram
        """
        lo, hi = (float(v) for v in decibel_limits)
        if not lo < hi:
            raise ValueError(
                f"decibel_limits must be (low, high) with low < high, got {decibel_limits}"
            )
        power, freqs, times = stft_power(
            audio.samples, audio.sample_rate, window_samples, overlap_samples, window_type
        )
        values = np.clip(power_to_db(power), lo, hi).astype(np.float32, copy=False)
        return cls(values, freqs, times, (lo, hi))

    @property
    def duration(self) -> float:
        """Seconds spanned by the frames (last frame centre plus half a hop)."""
        if len(self.times) < 2:
            return float(self.times[-1] * 2) if len(self.times) else 0.0
        return float(self.times[-1] + (self.times[1] - self.times[0]) / 2)

    def bandpass(self, min_f: float, max_f: float) -> Spectrogram:
        """Keep only rows with ``min_f <= frequency <= max_f`` (Hz)."""
        if not min_f < max_f:
            raise ValueError(f"bandpass needs min_f < max_f, got {min_f}, {max_f}")
        keep = (self.frequencies >= min_f) & (self.frequencies <= max_f)
        if not keep.any():
            raise ValueError(
                f"bandpass {min_f}-{max_f} Hz leaves no frequency rows "
                f"(spectrogram spans {self.frequencies[0]:g}-{self.frequencies[-1]:g} Hz)"
            )
        return Spectrogram(
            self.values[keep], self.frequencies[keep], self.times, self.decibel_limits
        )

    def limit_db(self, decibel_limits: tuple[float, float]) -> Spectrogram:
        """Re-clip to a narrower dB range (values already clipped stay clipped)."""
        lo, hi = (float(v) for v in decibel_limits)
        return Spectrogram(np.clip(self.values, lo, hi), self.frequencies, self.times, (lo, hi))

    def to_image(self) -> np.ndarray:
        """Scale to [0, 1] over ``decibel_limits``; row 0 is the highest frequency (display order).

        Returns
        -------
        numpy.ndarray
            float32, shape ``(n_frequencies, n_times)``.
        """
        lo, hi = self.decibel_limits
        img = (self.values - lo) / (hi - lo)
        return np.ascontiguousarray(img[::-1], dtype=np.float32)

    def to_png_bytes(self, invert: bool = True) -> bytes:
        """Render a greyscale PNG (loud = dark when ``invert``), one pixel per bin and frame."""
        from PIL import Image

        img = self.to_image()
        if invert:
            img = 1.0 - img
        arr = np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(arr, mode="L").save(buf, format="PNG", compress_level=1)
        return buf.getvalue()

    def to_tensor(
        self,
        shape: tuple[int, int] | None = (224, 224),
        channels: int = 3,
        value_range: tuple[float, float] = (-1.0, 1.0),
    ):
        """Return a float32 image tensor ``(channels, height, width)`` for a CNN.

        Parameters
        ----------
        shape : tuple of int, optional
            Resize to ``(height, width)`` with bilinear interpolation; ``None`` keeps the size.
        channels : int
            Number of identical channels (3 for ImageNet models).
        value_range : tuple of float
            Map the [0, 1] image to this range.
        """
        return image_to_tensor(self.to_image(), shape, channels, value_range)
