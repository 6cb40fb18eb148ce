"""The long-recording view's core: stretches, boxes, clicks, colours and audio (no widgets)."""

from __future__ import annotations

import ast
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from _real_labeled import require_real_labeled

from woodcock_widgets.audio import clip as clip_module
from woodcock_widgets.errors import AnnotationError, AudioLoadError
from woodcock_widgets.tables import long_view
from woodcock_widgets.tables.annotations import read_event_csv, read_raven
from woodcock_widgets.tables.long_view import (
    PALETTE,
    auto_decibel_limits,
    box_at,
    box_outline,
    clamp_stretch,
    class_colors,
    event_audio,
    event_boxes,
    events_for_recording,
    recording_duration,
    render_stretch,
    visible_events,
    window_at,
    window_edges,
)
from woodcock_widgets.tables.matching import match_audio

NAME = "032312_gy6or6_baseline_230312_0808.138"


@pytest.fixture(scope="module")
def gy6or6() -> Path:
    return require_real_labeled() / "bengalese_finch_gy6or6"


def _events(rows, file="rec"):
    return pd.DataFrame(
        [(file, a, b, label, lo, hi) for a, b, label, lo, hi in rows],
        columns=["file", "start_time", "end_time", "label", "low_freq", "high_freq"],
    )


@pytest.fixture(scope="module")
def long_wav(tmp_path_factory) -> Path:
    """A 10-minute recording (8 kHz) with a 2 kHz tone from 300 to 301 s."""
    path = tmp_path_factory.mktemp("long") / "ten_minutes.wav"
    sr = 8000
    samples = np.zeros(600 * sr, np.float32)
    t = np.arange(sr) / sr
    samples[300 * sr : 301 * sr] = 0.5 * np.sin(2 * np.pi * 2000 * t)
    sf.write(path, samples, sr, subtype="PCM_16")
    return path


def test_class_colors_are_stable_distinct_and_repeat_past_the_palette():
    colors = class_colors(["a", "b", "c"])
    assert colors == {"a": PALETTE[0], "b": PALETTE[1], "c": PALETTE[2]}
    many = class_colors([f"s{i}" for i in range(25)])
    assert len(set(list(many.values())[:20])) == 20
    assert many["s20"] == many["s0"]


def test_events_for_recording_by_path_name_or_stem(gy6or6):
    wav = gy6or6 / "wav" / f"{NAME}.wav"
    raven = read_raven(gy6or6 / "raven")  # file: the table's stem
    mine = events_for_recording(raven, wav)
    assert len(mine) == 78 and set(mine["file"]) == {NAME}
    assert mine["start_time"].is_monotonic_increasing
    assert list(mine.index) == sorted(mine.index)  # ids are the table's index
    csv = read_event_csv(
        gy6or6 / "annotations.csv",
        file_column="audio_file",
        start_column="onset_s",
        end_column="offset_s",
    )  # file: wav/NAME.wav
    assert len(events_for_recording(csv, wav)) == 78
    matched = match_audio(raven, gy6or6 / "wav").events  # path: absolute audio path
    assert len(events_for_recording(matched, wav)) == 78
    assert events_for_recording(matched, gy6or6 / "wav" / "other.wav").empty
    with pytest.raises(AnnotationError, match=r"lack column\(s\) \['label'\]"):
        events_for_recording(raven.drop(columns="label"), wav)


@pytest.mark.parametrize(
    "start,duration,total,expected",
    [
        (0, 10, 600, (0, 10)),
        (595, 10, 600, (590, 10)),  # the last stretch ends at the end
        (-3, 10, 600, (0, 10)),
        (0, 999, 600, (0, 60)),  # at most max_duration
        (0, 0.01, 600, (0, 0.25)),  # at least min_duration
        (5, 10, 6.5, (0, 6.5)),  # a short file is shown whole
    ],
)
def test_clamp_stretch(start, duration, total, expected):
    assert clamp_stretch(start, duration, total) == pytest.approx(expected)


def test_visible_events_overlap_and_class_filter():
    ev = _events(
        [
            (0.5, 1.0, "a", 100, 200),
            (1.8, 2.4, "b", np.nan, np.nan),
            (2.5, 3.0, "a", 300, 400),
            (4.0, 4.5, "b", 100, 200),
        ]
    )
    assert list(visible_events(ev, 2.0, 2.0).index) == [1, 2, 3]  # touching at 4.0 counts
    assert list(visible_events(ev, 0.0, 1.5).index) == [0]
    assert list(visible_events(ev, 0.0, 5.0, classes=["b"]).index) == [1, 3]
    assert visible_events(ev, 0.0, 5.0, classes=[]).empty


def test_event_boxes_fill_missing_frequencies_with_the_band_and_clip_to_it():
    ev = _events([(1, 2, "a", 100, 200), (2, 3, "b", np.nan, np.nan), (3, 4, "a", -5, 9e9)])
    boxes = event_boxes(ev, (0.0, 4000.0))
    assert list(boxes.columns) == ["x0", "x1", "y0", "y1", "label"]
    assert boxes.loc[0, ["y0", "y1"]].tolist() == [100, 200]
    assert boxes.loc[1, ["y0", "y1"]].tolist() == [0, 4000]
    assert boxes.loc[2, ["y0", "y1"]].tolist() == [0, 4000]
    no_freq = event_boxes(ev[["file", "start_time", "end_time", "label"]], (50.0, 99.0))
    assert (no_freq[["y0", "y1"]].to_numpy() == [50.0, 99.0]).all()


def test_box_outline_is_one_polyline_with_gaps():
    boxes = pd.DataFrame({"x0": [1.0, 3.0], "x1": [2.0, 4.0], "y0": [10.0, 30], "y1": [20.0, 40]})
    x, y = box_outline(boxes)
    assert len(x) == len(y) == 11 and np.isnan(x[5]) and np.isnan(y[5])
    assert x[:5].tolist() == [1, 2, 2, 1, 1] and y[:5].tolist() == [10, 10, 20, 20, 10]
    assert x[6:].tolist() == [3, 4, 4, 3, 3]
    assert [len(a) for a in box_outline(boxes.iloc[:0])] == [0, 0]


def test_box_at_picks_the_smallest_box_under_the_point():
    ev = _events([(0, 4, "big", 0, 8000), (1, 2, "small", 1000, 2000), (5, 6, "c", 0, 100)])
    ev.index = [10, 11, 12]
    boxes = event_boxes(ev, (0, 8000))
    assert box_at(boxes, 1.5, 1500) == 11 and isinstance(box_at(boxes, 1.5, 1500), int)
    assert box_at(boxes, 1.5, 5000) == 10  # outside the small box's band
    assert box_at(boxes, 5.5, 500) is None
    assert box_at(boxes, 5.5) == 12  # time only
    assert box_at(boxes.iloc[:0], 1, 1) is None


def test_window_at_and_window_edges_with_and_without_a_window_table():
    assert window_at(3.1, 13.0) == (2.0, 4.0)
    assert window_at(12.5, 13.0) == (12.0, 13.0)  # the last window is cut at the end
    assert window_at(13.5, 13.0) is None
    assert window_at(0.7, 13.0, clip_seconds=0.5) == (0.5, 1.0)
    table = pd.DataFrame({"file": "r", "start_time": [0.0, 1.0, 5.0], "end_time": [2.0, 3.0, 7.0]})
    assert window_at(1.5, 13.0, table) == (1.0, 3.0)  # overlapping windows: the later one
    assert window_at(4.0, 13.0, table) is None  # between windows
    x, y = window_edges(1.0, 4.0, (0, 8000))  # back-to-back 2 s windows: bounds 2, 4
    assert x[~np.isnan(x)].tolist() == [2, 2, 4, 4] and y[~np.isnan(y)].tolist() == [0, 8000] * 2
    x, _ = window_edges(0.0, 6.0, (0, 1), table)
    assert sorted(set(x[~np.isnan(x)].tolist())) == [0, 1, 2, 3, 5]


def test_render_stretch_reads_only_the_stretch_of_a_long_file(long_wav, monkeypatch):
    assert recording_duration(long_wav) == pytest.approx(600.0)
    calls = []
    real = clip_module.Audio.from_file.__func__

    def spy(cls, path, sample_rate=None, offset=0.0, duration=None):
        calls.append((offset, duration))
        return real(cls, path, sample_rate, offset, duration)

    monkeypatch.setattr(long_view.Audio, "from_file", classmethod(spy))
    t = time.perf_counter()
    view = render_stretch(long_wav, 299.0, 4.0)
    assert time.perf_counter() - t < 0.5
    assert calls == [(299.0, 4.0)]
    assert view.start == 299.0 and view.duration == pytest.approx(4.0)
    assert view.sample_rate == 8000 and view.frequency_range == (0.0, 4000.0)
    assert view.image_size == (1 + (4 * 8000 - 512) // 256, 257)
    # a long stretch is pooled to at most max_columns, and the tone survives the pooling
    wide = render_stretch(long_wav, 270.0, 60.0, max_columns=400)
    assert wide.image_size[0] <= 400
    from io import BytesIO

    from PIL import Image

    img = np.asarray(Image.open(BytesIO(wide.png)))
    row = int(round((1 - 2000 / 4000) * (img.shape[0] - 1)))  # 2 kHz; row 0 is the top
    dark = np.flatnonzero(img[row] < 128)
    assert len(dark) and dark.min() >= 0.45 * img.shape[1] and dark.max() <= 0.55 * img.shape[1]
    band = render_stretch(long_wav, 0.0, 2.0, frequency_range=(1000, 3000), sample_rate=16000)
    assert band.sample_rate == 16000 and 1000 <= band.frequency_range[0] < 1100
    with pytest.raises(AudioLoadError, match="past the end"):
        render_stretch(long_wav, 700.0, 4.0)


def test_auto_decibel_limits_from_the_stretch(long_wav, tmp_path):
    values = np.concatenate([np.full(900, -110.0), np.linspace(-90, -50, 100)])
    assert auto_decibel_limits(values) == (-110.0, -50.0)
    assert auto_decibel_limits(np.full(10, -80.0)) == (-80.0, -70.0)  # never an empty range
    quiet = tmp_path / "quiet.wav"
    sr = 8000
    noise = np.random.default_rng(0).normal(0, 1e-3, 4 * sr)
    noise[sr : sr + 800] += 0.02 * np.sin(2 * np.pi * 1000 * np.arange(800) / sr)
    sf.write(quiet, noise.astype(np.float32), sr, subtype="FLOAT")
    fixed = render_stretch(quiet, 0.0, 4.0)  # -100..-20 dB: a faint call is near white
    auto = render_stretch(quiet, 0.0, 4.0, decibel_limits="auto")
    lo, hi = auto.decibel_limits
    assert fixed.decibel_limits == (-100.0, -20.0) and lo > -100.0 and hi < -20.0
    with pytest.raises(ValueError, match="'auto'"):
        render_stretch(quiet, 0.0, 4.0, decibel_limits="loud")


def test_event_audio_is_the_event_and_a_point_event_is_audible(long_wav):
    audio = event_audio(long_wav, 300.25, 300.75)
    assert audio.duration == pytest.approx(0.5) and np.abs(audio.samples).max() > 0.4
    assert event_audio(long_wav, 10.0, 10.0).duration == pytest.approx(0.05)
    assert event_audio(long_wav, 10.0, 10.01).duration == pytest.approx(0.01)
    with pytest.raises(AnnotationError, match="before its start"):
        event_audio(long_wav, 2.0, 1.0)


def test_the_module_is_pure_tables_code():
    tree = ast.parse(Path(long_view.__file__).read_text())
    roots = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
             for a in n.names}  # fmt: skip
    roots |= {n.module.split(".")[0] for n in ast.walk(tree)
              if isinstance(n, ast.ImportFrom) and n.module}  # fmt: skip
    assert not roots & {"torch", "ipywidgets", "bqplot", "IPython"}
