"""LongRecordingView without a browser: build on gy6or6, scroll, zoom, filter, click, hear."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import traitlets
from _real_labeled import require_real_labeled
from _widget_helpers import png_size, record_comms, wav

from woodcock_widgets.tables.annotations import read_raven
from woodcock_widgets.tables.matching import match_audio
from woodcock_widgets.tables.windows import make_windows
from woodcock_widgets.widgets import LongRecordingView

NAME = "032312_gy6or6_baseline_230312_0808.138"
FAST = 0.5  # seconds an action may take


@pytest.fixture(scope="module")
def gy6or6() -> Path:
    return require_real_labeled() / "bengalese_finch_gy6or6"


@pytest.fixture(scope="module")
def rec(gy6or6) -> Path:
    return gy6or6 / "wav" / f"{NAME}.wav"


@pytest.fixture(scope="module")
def table(gy6or6) -> Path:
    return gy6or6 / "raven" / f"{NAME}.Table.1.selections.txt"


@pytest.fixture(scope="module")
def events(table):
    return read_raven(table)


def in_stretch(events, start, duration, classes=None):
    """Events overlapping the stretch, counted straight from the table."""
    keep = (events["end_time"] >= start) & (events["start_time"] <= start + duration)
    if classes is not None:
        keep &= events["label"].isin(classes)
    return events[keep]


def drawn(view) -> dict[str, int]:
    """Rectangles each class's line mark draws (5 corners + a NaN gap per box)."""
    out = {}
    for c, mark in view.box_marks.items():
        n = len(mark.x)
        assert n == len(mark.y) and (n == 0 or (n + 1) % 6 == 0)
        if n and mark.visible:
            out[c] = (n + 1) // 6
    return out


def timed(action):
    t = time.perf_counter()
    result = action()
    elapsed = time.perf_counter() - t
    assert elapsed < FAST, f"took {elapsed:.3f} s"
    return result


def test_first_stretch_draws_one_box_per_event_in_it(rec, table, events):
    view = timed(lambda: LongRecordingView(rec, table, duration=4.0))
    assert (view.start, view.duration) == (0.0, 4.0)
    assert view.total == pytest.approx(sf.info(rec).duration)
    expected = in_stretch(events, 0.0, 4.0)
    assert len(expected) > 10
    assert sum(drawn(view).values()) == len(expected) == len(view.boxes)
    assert drawn(view) == expected["label"].value_counts().to_dict()
    assert set(view.boxes.index) == set(expected.index)
    # boxes on the time/frequency plane of the spectrogram, in the table's band
    assert (view.boxes[["y0", "y1"]].to_numpy() == [500.0, 10000.0]).all()
    mark = view.image_mark
    assert mark.x.tolist() == [0.0, 4.0] and mark.y.tolist() == [0.0, 16000.0]
    assert png_size(mark.image.value)[0] == 1 + (4 * 32000 - 512) // 256
    assert [a.label for a in view.figure.axes] == ["time (s)", "frequency (Hz)"]
    # each class its own colour, listed in the legend with its count
    colors = {c: m.colors[0] for c, m in view.box_marks.items()}
    assert len(set(colors.values())) == len(view.classes) == 11
    for c, n in expected["label"].value_counts().items():
        assert f"{c} ({n})" in view.legend.value and colors[c] in view.legend.value
    assert view.audio.autoplay is False and view.audio.loop is False
    assert view.errors.messages == []


def test_moving_start_and_scrolling_update_the_boxes(rec, table, events):
    view = LongRecordingView(rec, table, duration=4.0)
    first = set(view.boxes.index)
    timed(lambda: setattr(view, "start", 4.0))
    assert view.image_mark.x.tolist() == [4.0, 8.0]
    assert set(view.boxes.index) == set(in_stretch(events, 4.0, 4.0).index) != first
    assert sum(drawn(view).values()) == len(in_stretch(events, 4.0, 4.0))
    assert view.start_slider.value == 4.0
    timed(view.next_button.click)
    assert view.start == 8.0 and set(view.boxes.index) == set(in_stretch(events, 8, 4).index)
    view.next_button.click()  # the last stretch ends at the end of the file
    assert view.start == pytest.approx(view.total - 4.0) and view.next_button.disabled
    timed(view.previous_button.click)
    assert view.start == pytest.approx(view.total - 8.0)
    view.start_slider.value = 2.0  # the slider drives the trait
    assert view.start == 2.0 and view.image_mark.x.tolist() == [2.0, 6.0]
    view.start = -5  # clamped
    assert view.start == 0.0 and view.previous_button.disabled


def test_zoom_changes_the_stretch_length(rec, table, events):
    view = LongRecordingView(rec, table, start=4.0, duration=4.0)
    timed(view.zoom_in_button.click)
    assert (view.start, view.duration) == (5.0, 2.0)  # same centre
    assert set(view.boxes.index) == set(in_stretch(events, 5.0, 2.0).index)
    timed(lambda: setattr(view.duration_slider, "value", 8.0))
    assert view.duration == 8.0 and view.start == pytest.approx(view.total - 8.0)  # pushed back
    assert view.image_mark.x.tolist() == pytest.approx([view.total - 8.0, view.total])
    view.duration = 999  # a whole short file, no more
    assert view.duration == pytest.approx(view.total) and view.start == 0.0
    assert len(view.boxes) == len(events)
    assert view.start_slider.disabled


def test_filtering_a_class_removes_its_boxes(rec, table, events):
    view = LongRecordingView(rec, table, duration=6.0)
    assert "i" in drawn(view)
    shown = [c for c in view.classes if c != "i"]
    timed(lambda: setattr(view.class_select, "value", tuple(shown)))
    assert view.classes_shown == shown
    assert "i" not in drawn(view) and view.box_marks["i"].visible is False
    assert len(view.boxes) == len(in_stretch(events, 0, 6.0, shown))
    assert sum(drawn(view).values()) == len(view.boxes)
    view.classes_shown = ["a"]
    assert set(drawn(view)) == {"a"} and view.class_select.value == ("a",)
    view.all_classes_button.click()
    assert view.classes_shown == view.classes
    assert len(view.boxes) == len(in_stretch(events, 0, 6.0))
    with pytest.raises(traitlets.TraitError, match="unknown class"):
        view.classes_shown = ["nightingale"]


def test_clicking_a_box_plays_that_event(rec, table, events):
    view = LongRecordingView(rec, table, duration=4.0)
    event = view.boxes.index[5]
    box = view.boxes.loc[event]
    click = {"event": "element_click", "data": {"click_x": (box.x0 + box.x1) / 2}}
    click["data"]["click_y"] = (box.y0 + box.y1) / 2
    timed(lambda: view._on_image_click(view.image_mark, click))
    assert view.selected_event == event
    samples, rate = wav(view.audio.value)
    length = events.loc[event, "end_time"] - events.loc[event, "start_time"]
    assert rate == 32000 and len(samples) / rate == pytest.approx(length, abs=1 / rate)
    expected, _ = sf.read(rec, start=int(round(box.x0 * rate)), frames=len(samples))
    np.testing.assert_allclose(samples, expected, atol=1 / 32767 + 1e-6)
    assert view.played == ("event", event, box.x0, box.x1)
    assert view.selection_mark.x[:5].tolist() == [box.x0, box.x1, box.x1, box.x0, box.x0]
    assert f"event {event}: {events.loc[event, 'label']}" in view.info.value
    # the same box again plays again; setting the trait plays an event out of view
    view.audio.value = b""
    view.click(box.x0, box.y0)
    assert len(view.audio.value) > 44
    last = events.index[-1]
    timed(lambda: setattr(view, "selected_event", last))
    assert view.start <= events.loc[last, "start_time"] < view.start + view.duration
    assert last in view.boxes.index


def test_clicking_outside_the_boxes_plays_the_window(rec, table, events, tmp_path):
    view = LongRecordingView(rec, table, duration=4.0)
    played = timed(lambda: view.click(2.5, 15000.0))  # above the 500-10000 Hz boxes
    assert played == ("window", None, 2.0, 4.0) and view.selected_event is None
    samples, rate = wav(view.audio.value)
    assert len(samples) == 2 * rate
    edges = view.window_mark.x[~np.isnan(view.window_mark.x)]
    assert sorted(set(edges.tolist())) == [0.0, 2.0, 4.0]
    # with a window table: its bounds, and the window's labels
    report = match_audio(events, rec.parent)
    windows = make_windows(report, report.events, clip_seconds=1.0, step=0.5)
    view = LongRecordingView(rec, events, windows=windows, duration=4.0)
    assert view.click(1.2, 15000.0) == ("window", None, 1.0, 2.0)
    row = windows[np.isclose(windows["start_time"], 1.0)].iloc[0]
    positives = [c for c in windows.columns[3:] if row[c]]
    assert "window 1.00–2.00 s: " + ", ".join(positives) in view.info.value
    edges = view.window_mark.x[~np.isnan(view.window_mark.x)]
    assert sorted(set(edges.tolist())) == [x / 2 for x in range(9)]


def test_auto_decibel_limits_are_kept_across_stretches_and_the_slider_sets_them(rec, table):
    view = LongRecordingView(rec, table, duration=4.0)
    limits = view.view.decibel_limits
    assert view.decibel_slider.value == limits and limits[0] < -100  # a quiet 32 kHz file
    view.start = 4.0
    assert view.view.decibel_limits == limits  # stretches compare
    before = bytes(view.image_mark.image.value)
    timed(lambda: setattr(view.decibel_slider, "value", (-120.0, -60.0)))
    assert view.view.decibel_limits == (-120.0, -60.0) and view.start == 4.0
    assert view.decibel_label.value == "-120 to -60 dB"
    assert bytes(view.image_mark.image.value) != before
    fixed = LongRecordingView(rec, table, decibel_limits=(-100, -20))
    assert fixed.decibel_slider.value == (-100.0, -20.0)


def test_marks_update_x_and_y_in_one_message(monkeypatch, rec, table):
    recording = record_comms(monkeypatch)
    view = LongRecordingView(rec, table, duration=4.0)
    comm = view.box_marks["a"].comm
    assert isinstance(comm, recording)
    comm.messages.clear()
    view.start = 4.0
    updates = [u for u in comm.updates() if {"x", "y"} & u]
    assert updates and all({"x", "y"} <= u for u in updates)


def test_state_in_traits_with_help_and_controls_named_by_role(rec, table):
    view = LongRecordingView(rec, table)
    for name in ("start", "duration", "classes_shown", "selected_event"):
        assert view.traits()[name].help, name
    for role in (
        "previous_button",
        "next_button",
        "start_slider",
        "duration_slider",
        "zoom_in_button",
        "zoom_out_button",
        "class_select",
        "decibel_slider",
        "decibel_label",
        "audio",
        "figure",
        "image_mark",
        "legend",
        "info",
    ):
        assert getattr(view, role) is not None, role
    assert view.recording_dropdown.layout.display == "none"  # one recording


def test_several_recordings_and_a_matched_events_table(gy6or6):
    report = match_audio(read_raven(gy6or6 / "raven"), gy6or6 / "wav")
    paths = list(report.recordings["path"][:3])
    view = LongRecordingView(paths, report.events, duration=3.0, classes=["a", "b"])
    assert view.recording_dropdown.layout.display is None
    assert set(view.boxes["label"]) <= {"a", "b"}
    timed(lambda: setattr(view.recording_dropdown, "value", paths[1]))
    assert view.recording == paths[1] and view.start == 0.0
    mine = report.events[report.events["path"] == paths[1]]
    assert set(view.boxes.index) == set(in_stretch(mine, 0, 3.0, ["a", "b"]).index)


def test_a_ten_minute_file_renders_only_the_stretch(tmp_path):
    path = tmp_path / "long.wav"
    sf.write(path, np.zeros(600 * 22050, np.float32), 22050, subtype="PCM_16")
    view = timed(lambda: LongRecordingView(path, duration=30.0))
    assert view.total == pytest.approx(600.0) and view.events.empty
    assert 1000 < png_size(view.image_mark.image.value)[0] <= 1600  # 2582 frames, pooled
    view.duration = 600  # zoomed out as far as allowed: 60 s, pooled to max_columns
    assert view.duration == 60.0 and png_size(view.image_mark.image.value)[0] <= 1600
    timed(lambda: setattr(view, "start", 540.0))
    assert view.image_mark.x.tolist() == [540.0, 600.0]


def test_unreadable_audio_is_reported_in_the_widget(rec, table, tmp_path):
    view = LongRecordingView(rec, table, duration=4.0)
    broken = tmp_path / f"{NAME}.wav"
    broken.write_bytes(open(rec, "rb").read())
    view.set_recording(broken)
    broken.write_bytes(b"RIFF....WAVEjunk")
    view.start = 4.0
    assert view.view is None and view.errors.messages
    assert str(broken) in view.errors.messages[-1]


def test_a_recording_the_table_does_not_cover_is_flagged(gy6or6, table):
    other = gy6or6 / "wav" / "032312_gy6or6_baseline_230312_0809.141.wav"
    view = LongRecordingView(other, table, duration=4.0)
    assert view.events.empty and view.boxes.empty and sum(drawn(view).values()) == 0
    assert view.errors.messages == [f"warning: the events table has no event of {other.name}"]
