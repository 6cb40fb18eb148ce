"""LabelRemapper without a browser: drive the controls, check result, counts, chart and Save."""

from __future__ import annotations

from unittest.mock import Mock

import pandas as pd
import pytest
import traitlets

from woodcock_widgets.errors import LabelError
from woodcock_widgets.tables.labels import read_labels
from woodcock_widgets.tables.remapping import preview_remap
from woodcock_widgets.tables.splits import split_train_valid
from woodcock_widgets.widgets import LabelRemapper
from woodcock_widgets.workflow.pipeline import CODE_COLUMN, prepare_labels

TUTORIAL = {"song": "present", "call": "absent", "na": "absent"}


def test_tutorial_remap_from_the_constructor(small_data):
    r = LabelRemapper(
        small_data, "sound_type", TUTORIAL, "woodcock_song", name_prefix="scolopax-minor-"
    )
    assert r.mapping == TUTORIAL and r.unmapped == []
    assert r.label_dict == {0: "scolopax-minor-absent", 1: "scolopax-minor-present"}
    expected = prepare_labels(small_data, "sound_type", TUTORIAL, "woodcock_song")
    pd.testing.assert_frame_equal(r.result, expected.df)
    assert r.table.class_column == "woodcock_song" and r.table.df is r.result
    # bar charts and tables show the counts before and after
    assert r.before_bars.x.tolist() == ["call", "na", "song"]
    assert r.before_bars.y.tolist() == [4, 12, 12]
    assert r.after_bars.x.tolist() == ["absent", "present"]
    assert r.after_bars.y.tolist() == [16, 12]
    assert (
        "<td>16</td>" in r.counts_after_html.value and "<td>call</td>" in r.counts_before_html.value
    )
    assert "scolopax-minor-present" in r.label_dict_html.value
    assert not r.save_button.disabled


def test_typing_classes_updates_everything(small_data):
    table = read_labels(small_data)
    r = LabelRemapper(table, "sound_type")
    assert r.mapping == {"call": "call", "na": "na", "song": "song"}  # starts as identity
    assert r.new_column == "sound_type_class"
    r.class_boxes["song"].value = "present"
    r.class_boxes["call"].value = "absent"
    r.class_boxes["na"].value = "absent"
    r.new_column = "woodcock_song"
    r.name_prefix = "scolopax-minor-"
    assert r.mapping == TUTORIAL
    p = preview_remap(table, "sound_type", TUTORIAL, "woodcock_song", "scolopax-minor-")
    pd.testing.assert_frame_equal(r.result, p.result)
    assert r.label_dict == p.label_dict
    assert set(r.class_boxes["na"].options) >= {"absent", "present"}  # suggestions follow
    # a value without class is reported and nothing is saved or silently dropped
    r.class_boxes["na"].value = ""
    assert r.unmapped == ["na"] and r.result is None and r.table is None
    assert "&#x27;na&#x27; (12 clips) has no class" in r.unmapped_html.value
    assert r.save_button.disabled
    with pytest.raises(LabelError, match="'na'"):
        r.save()
    r.set_mapping({"na": "absent"})
    assert r.unmapped == [] and r.unmapped_html.value == "" and len(r.result) == 28


def test_changing_the_source_column(small_data):
    r = LabelRemapper(small_data, "sound_type", TUTORIAL)
    r.column = "woodcock"
    assert r.new_column == "woodcock_class"
    assert r.mapping == {"absent": "absent", "present": "present"}
    assert r.result["woodcock_class"].tolist() == r.df["woodcock"].tolist()
    assert r.result[CODE_COLUMN].tolist() == [int(v == "present") for v in r.df["woodcock"]]
    with pytest.raises(LabelError, match="no value"):
        r.set_mapping({"song": "x"})


def test_save_writes_a_new_csv_and_never_the_source(tmp_path, small_data):
    r = LabelRemapper(small_data, "sound_type", TUTORIAL, "woodcock_song")
    default = small_data.with_name("woodcock_labels_woodcock_song.csv")
    assert r.save_path_text.value == str(default)
    target = tmp_path / "out" / "song_labels.csv"
    r.save_path_text.value = str(target)
    r.save_button.click()
    assert r.errors.messages == [] and r.saved_path == target
    back = read_labels(target)  # absolute paths: readable from anywhere
    assert back["woodcock_song"].tolist() == r.result["woodcock_song"].tolist()
    assert back[CODE_COLUMN].tolist() == r.result[CODE_COLUMN].tolist()
    assert [p.name for p in target.parent.iterdir()] == ["song_labels.csv"]  # no temp files
    before = small_data.read_bytes()
    r.save_path_text.value = str(small_data)
    r.save_button.click()
    assert "refusing to overwrite" in r.errors.messages[-1]
    assert "refusing to overwrite" in r.errors.output.outputs[-1]["text"]
    assert small_data.read_bytes() == before


def test_the_result_feeds_the_split(small_data):
    r = LabelRemapper(small_data, "sound_type", TUTORIAL, "woodcock_song")
    split = split_train_valid(r.result, "woodcock_song", 0.75, seed=1)
    assert len(split.train) == 21 and len(split.valid) == 7


@pytest.mark.real_audio
def test_remap_a_table_of_real_recordings(real_audio, tmp_path):
    names = sorted(p.name for p in real_audio.glob("*.wav"))
    df = pd.DataFrame(
        {
            "filename": [str(real_audio / n) for n in names],
            "device": [n.split("_")[0].split(".")[0] for n in names],
        }
    )
    r = LabelRemapper(df, "device")
    values = set(r.mapping)
    assert {"aru", "LOCA", "birds"} <= values
    r.set_mapping({v: ("aru" if v in ("aru", "audiomoth") else "other") for v in values})
    assert set(r.label_dict.values()) == {"aru", "other"}
    assert r.after_bars.y.sum() == len(names)
    out = r.save(tmp_path / "devices.csv")
    assert len(pd.read_csv(out)) == len(names)


# ---------------------------------------------------------------- issue 11 step 4, issue 16
def test_state_is_traits_that_can_be_observed_and_linked(small_data):
    r = LabelRemapper(small_data, "sound_type", TUTORIAL, "woodcock_song")
    seen = Mock()
    r.observe(seen, names="mapping")
    r.class_boxes["call"].value = "present"  # what typing in the box does
    assert r.mapping == {**TUTORIAL, "call": "present"}
    assert seen.call_count == 1 and seen.call_args[0][0]["new"]["call"] == "present"

    class Other(traitlets.HasTraits):
        mapping = traitlets.Dict()

    other = Other()
    traitlets.link((r, "mapping"), (other, "mapping"))
    other.mapping = dict(TUTORIAL)  # set from elsewhere: the boxes follow
    assert r.class_boxes["call"].value == "absent" and r.mapping == TUTORIAL
    r.mapping = {"song": "present"}  # a whole mapping: the others become unmapped
    assert r.unmapped == ["call", "na"] and r.class_boxes["na"].value == ""
    with pytest.raises(LabelError, match="no value"):
        r.mapping = {"chirp": "present"}
    r.column = "woodcock"
    assert r.source_dropdown.value == "woodcock" and r.new_column_text.value == "woodcock_class"


def test_saved_message_is_cleared_when_the_remap_changes(tmp_path, small_data):
    r = LabelRemapper(small_data, "sound_type", TUTORIAL, "woodcock_song")
    r.save(tmp_path / "labels.csv")
    assert r.status.startswith("saved 28 rows") and "saved 28 rows" in r.status_html.value
    r.set_mapping({"call": "present"})  # the file on disk no longer matches the widget
    assert r.status == "" and r.status_html.value == ""
    r.save(tmp_path / "labels.csv")
    r.name_prefix = "x-"
    assert r.status == ""
    r.save(tmp_path / "labels.csv")
    r.new_column_text.value = "song"
    assert r.status == ""


def test_unmapped_values_show_a_clear_message_not_code_minus_one(small_data):
    r = LabelRemapper(small_data, "sound_type", TUTORIAL, "woodcock_song")
    r.class_boxes["na"].value = ""
    after = r.counts_after_html.value
    assert "-1" not in after and "codes once every value has a class" in after
    assert "&#x27;na&#x27; (12 clips) has no class" in r.unmapped_html.value
    assert r.save_button.disabled and "every value needs a class" in r.save_button.tooltip


def test_save_refusal_is_shown_in_the_widget_and_prints_one_line(tmp_path, small_data):
    r = LabelRemapper(small_data, "sound_type", {"song": "present", "call": ""}, "woodcock_song")
    with pytest.raises(LabelError, match="no class yet") as caught:
        r.save(tmp_path / "labels.csv")  # what the notebook's save cell does
    # the widget's error area explains it, and IPython prints one line instead of a traceback
    assert len(r.errors.messages) == 1 and "no class yet" in r.errors.messages[0]
    lines = caught.value._render_traceback_()
    assert lines == [r.errors.messages[0]] and lines[0].startswith("LabelError: cannot save")
    assert not (tmp_path / "labels.csv").exists()
