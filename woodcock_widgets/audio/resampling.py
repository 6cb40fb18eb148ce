"""Polyphase resampling with the anti-aliasing filter designed once per rate pair.

:func:`scipy.signal.resample_poly` designs its FIR filter (``firwin``, a Kaiser window) on
every call: a millisecond per clip, a third of the cost of resampling a 2 s clip. The kit
resamples thousands of clips between the same few rates, so the filter is kept per
``(up, down)`` and passed in; the samples out are exactly scipy's default.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.signal import firwin, resample_poly

__all__ = ["resample_poly_cached"]


@lru_cache(maxsize=64)
def _lowpass(up: int, down: int, dtype: str) -> np.ndarray:
    """scipy's default filter for ``resample_poly(x, up, down)``, in ``dtype`` (read-only)."""
    max_rate = max(up, down)
    h = firwin(2 * 10 * max_rate + 1, 1.0 / max_rate, window=("kaiser", 5.0)).astype(dtype)
    h.setflags(write=False)
    return h


def resample_poly_cached(x: np.ndarray, up: int, down: int, axis: int = 0) -> np.ndarray:
    """``scipy.signal.resample_poly(x, up, down, axis)``, its filter designed once.

    Parameters
    ----------
    x : numpy.ndarray
        Samples.
    up, down : int
        The rate ratio (reduced or not: scipy reduces it by their gcd first, and so does this).
    axis : int
        The time axis.

    Returns
    -------
    numpy.ndarray
        The same array scipy returns.
    """
    g = np.gcd(int(up), int(down))
    up, down = int(up) // g, int(down) // g
    if up == down == 1:
        return resample_poly(x, 1, 1, axis=axis)
    x = np.asarray(x)
    # the type scipy filters in: x's own when floating, float64 otherwise
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float64)
    return resample_poly(x, up, down, axis=axis, window=_lowpass(up, down, dtype.str))
