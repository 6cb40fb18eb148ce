"""SpectrogramInspector without a browser: build, drive, and check the synced widget state."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import traitlets
from _widget_helpers import png_size, record_comms, wav

from woodcock_widgets.audio.clip import Audio
from woodcock_widgets.audio.preprocessing import Preprocessing
from woodcock_widgets.tables.browse import filter_rows
from woodcock_widgets.tables.labels import read_labels
from woodcock_widgets.widgets import SpectrogramInspector
from woodcock_widgets.widgets._plots import BLANK_PNG, set_spectrogram


@pytest.fixture
def recording_comm(monkeypatch):
    """Widgets built in the test record the messages they send to the front end."""
    return record_comms(monkeypatch)


@pytest.fixture(scope="module")
def table(small_data):
    return read_labels(small_data)


def frames(n_samples: int) -> int:
    return 1 + (n_samples - 512) // 256


def test_first_clip_is_shown_with_axes_image_audio_and_labels(small_data, table):
    ins = SpectrogramInspector(small_data)  # a CSV path works too
    assert ins.rows == list(table.index) and ins.index == 0 and ins.row == 0
    assert ins.label_columns == ["woodcock", "sound_type"]
    mark = ins.image_mark
    assert mark.image.format == "png"
    assert png_size(mark.image.value) == (frames(44100), 257)
    assert mark.x.tolist() == [0.0, 2.0]
    assert mark.y.tolist() == [0.0, 11025.0]
    assert (mark.scales["x"].min, mark.scales["x"].max) == (0.0, 2.0)
    assert (mark.scales["y"].min, mark.scales["y"].max) == (0.0, 11025.0)
    labels = [a.label for a in ins.figure.axes]
    assert labels == ["time (s)", "frequency (Hz)"]
    assert ins.audio.autoplay is False and ins.audio.loop is False
    samples, rate = wav(ins.audio.value)
    clip = Audio.from_file(table.loc[0, "filename"])
    assert rate == 22050
    np.testing.assert_allclose(samples, clip.samples, atol=1 / 32767 + 1e-6)
    for column in ("woodcock", "sound_type"):
        assert f"<td>{table.loc[0, column]}</td>" in ins.labels_html.value
    assert "clip 1 of 28" in ins.position_html.value and ins.clip_slider.value == 1
    assert ins.error is None and ins.errors.messages == []


def test_next_previous_slider_and_show(table):
    ins = SpectrogramInspector(table)
    first = bytes(ins.audio.value)
    ins.next_button.click()
    assert ins.index == 1 and ins.clip_slider.value == 2 and ins.row == table.index[1]
    assert bytes(ins.audio.value) != first
    ins.previous_button.click()
    assert ins.index == 0 and bytes(ins.audio.value) == first
    assert ins.previous_button.disabled
    ins.previous()  # stays on the first clip
    assert ins.index == 0
    ins.clip_slider.value = 6  # 1-based, like the "clip N of M" line
    assert ins.index == 5 and "clip 6 of 28" in ins.position_html.value
    ins.index = 3  # the trait can be set directly
    assert ins.clip_slider.value == 4 and ins.row == table.index[3]
    ins.index = -4
    assert ins.index == 0
    ins.show(999)
    assert ins.index == 27 and ins.next_button.disabled
    name = table.loc[ins.row, "filename"].rsplit("/", 1)[-1]
    assert name in ins.position_html.value


def test_filter_by_label_column(table):
    ins = SpectrogramInspector(table)
    ins.filter_column_dropdown.value = "sound_type"
    assert ins.filter_value_dropdown.options == ("call", "na", "song")
    ins.filter_value_dropdown.value = "song"
    songs = filter_rows(table, "sound_type", "song")
    assert ins.rows == songs and ins.index == 0 and ins.row == songs[0]
    assert ins.clip_slider.max == len(songs)
    for _ in songs:
        assert table.loc[ins.row, "sound_type"] == "song"
        assert "<td>song</td>" in ins.labels_html.value
        ins.next()
    ins.set_filter("sound_type", "call")
    assert ins.filter_value_dropdown.value == "call" and len(ins.rows) == 4
    ins.filter_column_dropdown.value = "(all rows)"
    assert ins.rows == list(table.index)


def test_decibel_and_frequency_controls_redraw(table):
    ins = SpectrogramInspector(table)
    before = bytes(ins.image_mark.image.value)
    ins.db_slider.value = (-80.0, -60.0)
    assert ins.db_range == (-80.0, -60.0)
    assert ins.clip.decibel_limits == (-80.0, min(-60.0, ins.clip.peak_db))
    assert bytes(ins.image_mark.image.value) != before
    ins.frequency_slider.value = (500.0, 4000.0)
    assert ins.frequency_range == (500.0, 4000.0)
    lo, hi = ins.image_mark.y.tolist()
    assert 500 <= lo < 600 and 3900 < hi <= 4000
    assert (ins.image_mark.scales["y"].min, ins.image_mark.scales["y"].max) == (lo, hi)
    width, height = png_size(ins.image_mark.image.value)
    assert height == ins.clip.image_size[1] < 257 and width == frames(44100)
    ins.next()  # the settings stay for the next clip
    assert ins.image_mark.y.tolist() == [lo, hi]


def test_grid_mode_pages_with_players(table):
    ins = SpectrogramInspector(table, grid_shape=(3, 3))
    ins.mode_toggle.value = "grid"
    assert ins.mode == "grid"
    assert ins.grid_box.layout.display is None and ins.single_box.layout.display == "none"
    assert ins.n_pages == 4 and ins.page == 0
    assert [c["row"] for c in ins.cells] == list(table.index[:9])
    for cell in ins.cells:
        assert png_size(cell["image"].value) == (frames(44100), 257)
        assert wav(cell["audio"].value)[1] == 22050
        assert cell["audio"].autoplay is False
    ins.page_next_button.click()
    assert ins.page == 1 and [c["row"] for c in ins.cells] == list(table.index[9:18])
    ins.show_page(3)  # last page: 1 clip, the other cells hidden
    rows = [c["row"] for c in ins.cells]
    assert rows[0] == table.index[27] and rows[1:] == [None] * 8
    assert ins.cells[1]["box"].layout.display == "none"
    assert "page 4 of 4" in ins.page_html.value and ins.page_next_button.disabled
    ins._cells[0]["box"].children[1].children[0].click()  # "open" shows it alone
    assert ins.mode == "single" and ins.row == table.index[27]


def test_unreadable_files_show_an_error_and_browsing_goes_on(tmp_path, table, real_audio):
    bad = tmp_path / "not_audio.wav"
    bad.write_text("this is not a wav file")
    shutil.copy(real_audio / "empty_2c.wav", tmp_path / "empty_2c.wav")
    df = pd.DataFrame(
        {
            "filename": [
                table.loc[0, "filename"],
                str(bad),
                str(tmp_path / "missing.wav"),
                str(tmp_path / "empty_2c.wav"),
                table.loc[1, "filename"],
            ],
            "kind": ["ok", "bad", "missing", "empty", "ok"],
        }
    )
    ins = SpectrogramInspector(df)
    ins.next()
    assert ins.error and "not_audio.wav" in ins.error and ins.clip is None
    assert "not_audio.wav" in ins.message_html.value
    assert bytes(ins.image_mark.image.value) == BLANK_PNG and bytes(ins.audio.value) == b""
    ins.next()
    assert "missing.wav" in ins.error
    ins.next()
    assert "empty_2c.wav" in ins.error
    ins.next()
    assert ins.error is None and ins.message_html.value == ""
    assert png_size(ins.image_mark.image.value) == (frames(44100), 257)
    ins.set_mode("grid")
    captions = [c["caption"].value for c in ins.cells[:5]]
    assert "not_audio.wav" in captions[1] and "missing.wav" in captions[2]
    assert png_size(ins.cells[4]["image"].value)[1] == 257
    assert ins.errors.messages == []  # clip errors are shown in place, not as failures


@pytest.mark.real_audio
def test_real_recordings(real_audio):
    names = [
        "birds_10s.wav",
        "aru_1.wav",
        "audiomoth_gps.wav",
        "LOCA_2021_09_24_652_3.wav",
        "silence_10s.mp3",
        "veryshort.wav",
        "stereo.wav",
    ]
    df = pd.DataFrame({"filename": [str(real_audio / n) for n in names], "source": names})
    ins = SpectrogramInspector(df, max_seconds=5.0)
    seen = {}
    for k, name in enumerate(names):
        ins.show(k)
        assert ins.error is None, ins.error
        samples, rate = wav(ins.audio.value)
        assert rate == 22050 and np.isfinite(samples).all()
        width, height = png_size(ins.image_mark.image.value)
        assert height == 257 and width == ins.clip.image_size[0]
        assert ins.image_mark.x.tolist() == [0.0, pytest.approx(len(samples) / 22050)]
        seen[name] = ins.clip.duration
    assert seen["birds_10s.wav"] == pytest.approx(5.0)  # max_seconds
    assert seen["aru_1.wav"] == pytest.approx(3.0, abs=1e-3)  # resampled from 32 kHz
    assert seen["LOCA_2021_09_24_652_3.wav"] == pytest.approx(1.0, abs=1e-3)


def test_offset_column_and_preprocessing(real_audio):
    pre = Preprocessing(sample_rate=16000, decibel_limits=(-90, -10), bandpass=(1000, 6000))
    df = pd.DataFrame({"filename": [str(real_audio / "birds_10s.wav")] * 2, "start": [0.0, 6.0]})
    ins = SpectrogramInspector(df, preprocessing=pre, offset_column="start", max_seconds=2.0)
    assert ins.db_range == (-90.0, -10.0) and ins.frequency_range == (1000, 6000)
    assert ins.db_slider.value == (-90.0, -10.0) and ins.frequency_slider.value == (1000, 6000)
    assert ins.label_columns == []
    lo, hi = ins.image_mark.y.tolist()
    assert 1000 <= lo and hi <= 6000
    first = bytes(ins.audio.value)
    ins.next()
    assert "at 6 s" in ins.position_html.value and bytes(ins.audio.value) != first
    assert wav(ins.audio.value)[1] == 16000


def test_set_rows_and_set_table(table):
    ins = SpectrogramInspector(table, label_columns=["sound_type"])
    ins.set_rows([5, 2, 9])
    assert ins.rows == [2, 5, 9] and ins.row == 2
    kind = table.loc[5, "sound_type"]
    ins.set_filter("sound_type", kind)
    assert 5 in ins.rows and set(ins.rows) <= {2, 5, 9}
    ins.set_rows([])
    assert ins.rows == [] and ins.row is None and "no clips" in ins.position_html.value
    other = table.iloc[:8].assign(score=np.linspace(0, 1, 8))
    ins.set_table(other)
    assert ins.rows == filter_rows(other, "sound_type", kind)  # the filter still applies
    assert ins.filter_column_dropdown.options == ("(all rows)", "sound_type")
    ins.set_filter(None)
    assert ins.rows == list(other.index)


def test_spectrogram_updates_send_one_message_each(recording_comm, table, real_audio):
    df = pd.DataFrame({"filename": [table.loc[0, "filename"], str(real_audio / "aru_1.wav")]})
    ins = SpectrogramInspector(df)
    mark_comm = ins.image_mark.comm
    assert isinstance(mark_comm, recording_comm)
    mark_comm.messages.clear()
    audio_comm = ins.audio.comm
    audio_comm.messages.clear()
    old_image = ins.image_mark.image
    ins.frequency_range = (0.0, 5000.0)
    ins.next()  # a 3 s clip
    # the new picture and its extent travel together, one message per redraw
    assert mark_comm.updates() == [{"image", "y"}, {"image", "x"}]
    assert ins.image_mark.x.tolist() == [0.0, pytest.approx(3.0, abs=1e-3)]
    assert ins.image_mark.image is not old_image and old_image.comm is None  # closed
    assert audio_comm.updates() == [{"value"}]  # the same WAV is not sent again
    mark_comm.messages.clear()
    set_spectrogram(ins.image_mark, BLANK_PNG, (0.0, 1.0), (10.0, 20.0))
    assert mark_comm.updates() == [{"image", "x", "y"}]


# ---------------------------------------------------------------- issue 16, item 6
def _pixels(png: bytes) -> np.ndarray:
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(bytes(png))))


def test_db_readout_shows_both_limits_in_full(table):
    ins = SpectrogramInspector(table)
    # the slider's own readout clipped "-100.00 – -2"; it is off, and an HTML line says it
    assert ins.db_slider.readout is False and ins.frequency_slider.readout is False
    assert "floor -100 dB · ceiling -20 dB" in ins.db_readout.value
    assert "0 – 11025 Hz" in ins.frequency_readout.value
    ins.db_range = (-95.5, -30.0)
    assert "floor -95.5 dB · ceiling -30 dB" in ins.db_readout.value
    assert ins.db_slider.value == (-95.5, -30.0)
    with pytest.raises(traitlets.TraitError, match="low < high"):
        ins.db_range = (-40.0, -60.0)


def test_raising_the_floor_hides_background_and_keeps_the_song_dark(table):
    song = filter_rows(table, "sound_type", "song")[0]
    ins = SpectrogramInspector(table)
    ins.show(ins.rows.index(song))
    peak = ins.clip.peak_db
    assert -100 < peak < -20  # quiet clips: the default ceiling is far above them
    default = _pixels(ins.image_mark.image.value)
    assert default.min() == 0  # the loudest sound is black, not pale grey
    ins.db_range = (peak - 1.0, -20.0)  # the floor raised to just under the loudest sound
    raised = _pixels(ins.image_mark.image.value)
    assert raised.min() == 0, "raising the floor blanked the image"
    assert (raised == 255).mean() > (default == 255).mean()  # the background went white
    assert ins.message_html.value == ""
    ins.db_range = (-100.0, peak - 20.0)  # lowering the ceiling: more of the clip is black
    assert (_pixels(ins.image_mark.image.value) == 0).mean() > (default == 0).mean()
    ins.db_range = (peak + 5.0, peak + 10.0)  # above everything: white, and said so
    assert _pixels(ins.image_mark.image.value).min() == 255
    assert "quieter than the floor" in ins.message_html.value


def test_clip_slider_and_position_line_agree(table):
    ins = SpectrogramInspector(table)
    for k in (0, 2, 27):
        ins.index = k
        assert ins.clip_slider.value == k + 1
        assert f"clip {ins.clip_slider.value} of 28" in ins.position_html.value
    assert (ins.clip_slider.min, ins.clip_slider.max) == (1, 28)


def test_grid_captions_name_labels_and_extent_and_short_pages_collapse(table):
    ins = SpectrogramInspector(table.iloc[:5], grid_shape=(3, 3))
    ins.mode = "grid"
    assert ins.mode_toggle.value == "grid"
    shown = [c for c in ins.cells if c["row"] is not None]
    assert len(shown) == 5
    for cell in shown:
        caption = cell["caption"].value
        row = cell["row"]
        assert f"sound_type: {table.loc[row, 'sound_type']}" in caption
        assert "0–2 s · 0–11 kHz" in caption  # what the thumbnail spans
        assert cell["box"].layout.display is None
    # empty cells take no room: a 5-clip page is two rows, not three with a blank one
    assert [c["box"].layout.display for c in ins.cells[5:]] == ["none"] * 4
