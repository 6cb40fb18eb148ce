"""Image helpers: a [0, 1] spectrogram image → a resized, value-mapped model input.

Shared by :mod:`.spectrogram` and :mod:`.preprocessing` (it imports neither, which is what
breaks the import cycle the two had). torch is imported only where a tensor is asked for.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["image_to_tensor", "model_image", "resize_bilinear", "stack_images"]


@functools.lru_cache(maxsize=64)
def _linear_plan(n_in: int, n_out: int) -> tuple[np.ndarray, ...]:
    """Source indices and weights of 1-D linear resampling (half-pixel centres, float32)."""
    scale = np.float32(n_in / n_out)
    src = scale * (np.arange(n_out, dtype=np.float32) + np.float32(0.5)) - np.float32(0.5)
    src = np.maximum(src, np.float32(0.0))
    i0 = src.astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    w1 = src - i0.astype(np.float32)
    return i0, i1, np.float32(1.0) - w1, w1


def resize_bilinear(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a 2-D float32 image, as ``F.interpolate(align_corners=False)``.

    Plain numpy, on the calling thread: torch's resize splits even a small image over its
    intra-op threads, which stalls when it runs beside training or on a busy machine. The
    result equals torch's to within 2e-5 (float32 rounding order).
    """
    h, w = (int(s) for s in shape)
    if image.shape == (h, w):
        return image
    y0, y1, a0, a1 = _linear_plan(image.shape[0], h)
    x0, x1, b0, b1 = _linear_plan(image.shape[1], w)
    # width first on every source row (gathering rows of the transpose is the fast way),
    # then height: the same products and sums, in the same order, as row-by-row
    cols = image.T
    cols = np.ascontiguousarray((cols[x0] * b0[:, None] + cols[x1] * b1[:, None]).T)
    return cols[y0] * a0[:, None] + cols[y1] * a1[:, None]


def model_image(
    image: np.ndarray,
    shape: tuple[int, int] | None = (224, 224),
    value_range: tuple[float, float] = (-1.0, 1.0),
) -> np.ndarray:
    """A [0, 1] image ``(H, W)`` resized to ``shape`` and mapped to ``value_range`` (float32)."""
    img = np.ascontiguousarray(image, dtype=np.float32)
    if shape is not None:
        img = resize_bilinear(img, shape)
    lo, hi = value_range
    img = img * np.float32(hi - lo)  # a new array: the caller's image is never changed
    img += np.float32(lo)
    return img


def stack_images(images, channels: int, channels_last: bool = True):
    """Stack one-channel images ``(H, W)`` into a float32 batch ``(N, channels, H, W)``.

    Filled with numpy on the calling thread (torch would spread each small copy over its
    intra-op threads, which then compete with a training step running beside it). With
    ``channels_last`` the batch is laid out the way the model consumes it on cpu and cuda.
    """
    import torch

    n = len(images)
    h, w = images[0].shape[-2:] if n else (0, 0)
    if channels_last:
        out = np.empty((n, h, w, channels), np.float32)
        for k, image in enumerate(images):
            out[k] = np.asarray(image, np.float32).reshape(h, w)[:, :, None]
        return torch.from_numpy(out).permute(0, 3, 1, 2)
    out = np.empty((n, channels, h, w), np.float32)
    for k, image in enumerate(images):
        out[k] = np.asarray(image, np.float32).reshape(h, w)
    return torch.from_numpy(out)


def image_to_tensor(
    image: np.ndarray,
    shape: tuple[int, int] | None = (224, 224),
    channels: int = 3,
    value_range: tuple[float, float] = (-1.0, 1.0),
):
    """Turn a [0, 1] image ``(H, W)`` into a tensor ``(channels, *shape)`` in ``value_range``.

    The channels are one image shown ``channels`` times (an expanded view, as
    :meth:`Preprocessing.expand` gives): stacking a batch copies it once; call
    ``.contiguous()`` for a tensor to write into.
    """
    import torch

    img = model_image(image, shape, value_range)
    return torch.from_numpy(img)[None].expand(int(channels), -1, -1)
