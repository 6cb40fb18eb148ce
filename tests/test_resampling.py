"""The kit's resampler gives exactly scipy's default output, its filter designed once."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import resample_poly

from woodcock_widgets.audio import resampling
from woodcock_widgets.audio.resampling import resample_poly_cached


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
@pytest.mark.parametrize("up,down", [(48000, 22050), (22050, 44100), (160, 147), (3, 1), (5, 5)])
def test_same_samples_and_type_as_scipy(dtype, up, down):
    x = np.random.default_rng(0).standard_normal(9000)
    x = (x * 1000).astype(dtype) if dtype is np.int16 else x.astype(dtype)
    want, got = resample_poly(x, up, down), resample_poly_cached(x, up, down)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_two_channels_along_an_axis():
    x = np.random.default_rng(1).standard_normal((4000, 2)).astype(np.float32)
    np.testing.assert_array_equal(resample_poly_cached(x, 2, 3), resample_poly(x, 2, 3))


def test_filter_is_designed_once_per_rate_pair_and_type():
    resampling._lowpass.cache_clear()
    x = np.zeros(1000, np.float32)
    for _ in range(5):
        resample_poly_cached(x, 48000, 22050)
        resample_poly_cached(x, 96000, 44100)  # the same reduced pair (320/147)
    info = resampling._lowpass.cache_info()
    assert info.misses == 1 and info.hits == 9
