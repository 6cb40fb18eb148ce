"""Preprocessing settings and the audio file → model-ready tensor pipeline.

The settings travel with a model bundle, so prediction uses exactly what training used.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields

import numpy as np

from .clip import Audio
from .images import image_to_tensor, model_image, resize_bilinear, stack_images
from .spectrogram import Spectrogram

__all__ = ["Preprocessing", "image_to_tensor", "model_image", "resize_bilinear", "stack_images"]


@dataclass(frozen=True)
class Preprocessing:
    """How a clip becomes a model input (defaults follow the tutorial, DESIGN.md §1 step 6).

    Parameters
    ----------
    sample_rate : int
        Resample every clip to this rate (Hz).
    clip_seconds : float
        Clips are trimmed or zero-padded to this length; long recordings are cut in windows of it.
    window_samples, overlap_samples : int
        STFT frame length and overlap.
    decibel_limits : tuple of float
        dB range kept and scaled to the image range.
    bandpass : tuple of float, optional
        Keep only this frequency band (Hz).
    image_shape : tuple of int
        Model input height and width.
    channels : int
        Identical channels (3 for ImageNet models).
    """

    sample_rate: int = 22050
    clip_seconds: float = 2.0
    window_samples: int = 512
    overlap_samples: int = 256
    decibel_limits: tuple[float, float] = (-100.0, -20.0)
    bandpass: tuple[float, float] | None = None
    image_shape: tuple[int, int] = (224, 224)
    channels: int = 3

    def __post_init__(self) -> None:
        if self.sample_rate <= 0 or self.clip_seconds <= 0:
            raise ValueError("sample_rate and clip_seconds must be positive")
        if not 0 <= self.overlap_samples < self.window_samples:
            raise ValueError("overlap_samples must be in [0, window_samples)")
        object.__setattr__(self, "decibel_limits", tuple(float(v) for v in self.decibel_limits))
        object.__setattr__(self, "image_shape", tuple(int(v) for v in self.image_shape))
        if self.bandpass is not None:
            object.__setattr__(self, "bandpass", tuple(float(v) for v in self.bandpass))

    def to_dict(self) -> dict:
        """Plain JSON-ready settings."""
        d = asdict(self)
        d["decibel_limits"] = list(self.decibel_limits)
        d["image_shape"] = list(self.image_shape)
        d["bandpass"] = list(self.bandpass) if self.bandpass else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Preprocessing:
        """Inverse of :meth:`to_dict`; unknown keys are ignored (forward compatible)."""
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in known}
        for key in ("decibel_limits", "image_shape", "bandpass"):
            if kwargs.get(key) is not None:
                kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs)

    def load_clip(self, path: str | os.PathLike, offset: float = 0.0) -> Audio:
        """Load ``clip_seconds`` of audio at ``sample_rate`` from ``offset``, zero-padded."""
        audio = Audio.from_file(
            path, sample_rate=self.sample_rate, offset=offset, duration=self.clip_seconds
        )
        return audio.fix_length(self.clip_seconds)

    def spectrogram(self, audio: Audio) -> Spectrogram:
        """The spectrogram of a clip as this preprocessing computes it."""
        spec = Spectrogram.from_audio(
            audio, self.window_samples, self.overlap_samples, decibel_limits=self.decibel_limits
        )
        if self.bandpass is not None:
            spec = spec.bandpass(*self.bandpass)
        return spec

    def image(self, audio: Audio) -> np.ndarray:
        """The [0, 1] single-channel image of a clip (before resizing)."""
        return self.spectrogram(
            audio.resample(self.sample_rate).fix_length(self.clip_seconds)
        ).to_image()

    def small_tensor(self, audio: Audio):
        """One-channel resized float16 tensor ``(1, H, W)`` in [-1, 1]: what the cache keeps."""
        import torch

        img = model_image(self.image(audio), self.image_shape)
        return torch.from_numpy(img.astype(np.float16)[None])

    def expand(self, small):
        """Turn a cached ``(1, H, W)`` tensor into the float32 model input ``(C, H, W)``."""
        return small.float().expand(self.channels, -1, -1)

    def audio_to_tensor(self, audio: Audio):
        """Model-ready float32 tensor ``(channels, H, W)`` for one clip."""
        return image_to_tensor(self.image(audio), self.image_shape, self.channels)

    def file_to_tensor(self, path: str | os.PathLike, offset: float = 0.0):
        """Model-ready tensor for the clip at ``offset`` seconds in ``path``."""
        return self.audio_to_tensor(self.load_clip(path, offset))
