"""Tests for woodcock_widgets.tables.browse: row filters, pages, and one clip as PNG + WAV bytes."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from PIL import Image

from woodcock_widgets.audio.clip import Audio
from woodcock_widgets.audio.preprocessing import Preprocessing
from woodcock_widgets.errors import AudioLoadError, LabelError
from woodcock_widgets.tables.browse import (
    distinct_values,
    filter_rows,
    load_audio,
    n_pages,
    page_rows,
    render_clip,
)
from woodcock_widgets.tables.labels import read_labels


@pytest.fixture(scope="module")
def table(small_data):
    return read_labels(small_data)


def test_distinct_values_are_stripped_sorted_strings():
    df = pd.DataFrame({"a": [" song", "call", "song ", 3]})
    assert distinct_values(df, "a") == ["3", "call", "song"]
    with pytest.raises(LabelError, match="no column 'b'"):
        distinct_values(df, "b")


def test_filter_rows_by_value_and_subset(table):
    songs = filter_rows(table, "sound_type", "song")
    assert songs == list(table.index[table["sound_type"] == "song"])
    assert len(songs) == 12
    assert filter_rows(table) == list(table.index)
    subset = [songs[3], songs[0], 0]
    # table order is kept and the filter applies inside the subset
    assert filter_rows(table, "sound_type", "song", subset=subset) == sorted(songs[:1] + songs[3:4])
    assert filter_rows(table, subset=[]) == []
    with pytest.raises(LabelError, match="no column 'nope'"):
        filter_rows(table, "nope", "x")


def test_pages_cover_rows_once():
    rows = list(range(20))
    assert n_pages(20, 9) == 3 and n_pages(0, 9) == 1
    pages = [page_rows(rows, p, 9) for p in range(3)]
    assert sum(pages, []) == rows
    assert page_rows(rows, 99, 9) == pages[-1]
    assert page_rows(rows, -3, 9) == pages[0]
    with pytest.raises(ValueError):
        n_pages(3, 0)


def test_render_clip_png_and_wav_match_the_clip(table):
    pre = Preprocessing()
    audio = load_audio(table.loc[0, "filename"], pre)
    view = render_clip(audio, pre)
    img = Image.open(io.BytesIO(view.png))
    frames = 1 + (len(audio.samples) - 512) // 256
    assert img.format == "PNG" and img.mode == "L"
    assert img.size == view.image_size == (frames, 257)
    assert view.frequency_range == (0.0, pre.sample_rate / 2)
    assert view.duration == pytest.approx(2.0)
    # black is the ceiling, or the clip's loudest value where that is lower
    assert view.decibel_limits == (-100.0, min(-20.0, view.peak_db))
    assert view.above_floor and Image.open(io.BytesIO(view.png)).getextrema()[0] == 0
    samples, rate = sf.read(io.BytesIO(view.wav), dtype="float32")
    assert rate == pre.sample_rate
    np.testing.assert_allclose(samples, audio.samples, atol=1 / 32767 + 1e-6)


def test_render_clip_band_and_decibel_limits(table):
    pre = Preprocessing()
    audio = load_audio(table.loc[0, "filename"], pre)
    full = render_clip(audio, pre)
    band = render_clip(audio, pre, decibel_limits=(-80, -30), frequency_range=(500, 4000))
    lo, hi = band.frequency_range
    assert 500 <= lo < 600 and 3900 < hi <= 4000
    assert band.image_size[1] < full.image_size[1]
    assert band.image_size[0] == full.image_size[0]
    assert band.decibel_limits == (-80.0, min(-30.0, band.peak_db))
    assert band.png != full.png
    with pytest.raises(ValueError, match="leaves no frequency rows"):
        render_clip(audio, pre, frequency_range=(20000, 21000))


def test_load_audio_resamples_and_limits_length(real_audio):
    pre = Preprocessing()
    audio = load_audio(real_audio / "birds_10s.wav", pre, offset=1.0, max_seconds=3.0)
    assert audio.sample_rate == 22050
    assert audio.duration == pytest.approx(3.0, abs=1e-3)
    silent = render_clip(load_audio(real_audio / "silence_10s.mp3", pre), pre)
    assert Image.open(io.BytesIO(silent.png)).getextrema() == (255, 255)  # all quiet: white
    assert not silent.above_floor
    short = render_clip(load_audio(real_audio / "veryshort.wav", pre), pre)
    assert short.image_size[0] >= 1
    with pytest.raises(AudioLoadError, match="empty_2c.wav"):
        load_audio(real_audio / "empty_2c.wav", pre)


def test_render_clip_of_digital_silence_is_finite():
    view = render_clip(Audio.silence(2.0, 22050))
    assert Image.open(io.BytesIO(view.png)).size == view.image_size


def test_render_clip_black_point_follows_the_loudest_sound(table):
    pre = Preprocessing()
    audio = load_audio(table.loc[0, "filename"], pre)
    peak = render_clip(audio, pre).peak_db
    # a floor just under the loudest sound keeps that sound black (it used to fade to white)
    raised = render_clip(audio, pre, decibel_limits=(peak - 3, -20))
    assert raised.decibel_limits == (peak - 3, peak)
    assert Image.open(io.BytesIO(raised.png)).getextrema() == (0, 255)
    # a ceiling below the loudest sound is the black point, as asked
    low = render_clip(audio, pre, decibel_limits=(-100, peak - 10))
    assert low.decibel_limits == (-100, peak - 10) and low.peak_db == peak - 10
    above = render_clip(audio, pre, decibel_limits=(peak + 1, peak + 20))
    assert not above.above_floor
    assert Image.open(io.BytesIO(above.png)).getextrema() == (255, 255)
