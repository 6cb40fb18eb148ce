"""SplitBalance without a browser: the split is the core's, the chart and table show it."""

from __future__ import annotations

from unittest.mock import Mock

import numpy as np
import pandas as pd
import pytest
import traitlets

from woodcock_widgets.errors import SplitError
from woodcock_widgets.tables.labels import read_labels
from woodcock_widgets.tables.splits import split_train_valid
from woodcock_widgets.widgets import SplitBalance


def test_split_matches_the_core_and_the_chart_shows_counts_per_part(song_table):
    b = SplitBalance(song_table)  # a LabeledTable: its class column is used
    assert b.label_column == "woodcock_song"
    core = split_train_valid(song_table.df, "woodcock_song", 0.8, seed=0)
    assert list(b.train_df.index) == list(core.train.index)
    assert list(b.valid_df.index) == list(core.valid.index)
    report = b.result.report
    # one stacked bar per part, one segment per class, as many clips as the part has
    assert b.bars.type == "stacked" and list(b.bars.labels) == ["absent", "present"]
    assert b.bars.x.tolist() == ["all", "train", "valid"]
    expected = np.array(
        [
            [report.loc[c, f"{p}_count"] for p in ("all", "train", "valid")]
            for c in ("absent", "present")
        ]
    )
    np.testing.assert_array_equal(b.bars.y, expected)
    assert b.bars.y.sum(axis=0).tolist() == [28, 22, 6]
    n, share = report.loc["present", "valid_count"], report.loc["present", "valid_fraction"]
    assert f"<td>{n} ({share:.1%})</td>" in b.counts_html.value
    assert "<td>total</td>" in b.counts_html.value
    assert b.warnings == [] and "no file or group leaks" in b.messages_html.value


def test_controls_resplit(song_table):
    b = SplitBalance(song_table)
    first = list(b.valid_df.index)
    b.seed_input.value = 7
    assert b.seed == 7 and list(b.valid_df.index) != first
    b.train_fraction_input.value = 0.5
    assert b.train_fraction == 0.5
    assert len(b.train_df) == 14 and len(b.valid_df) == 14
    np.testing.assert_array_equal(b.bars.y[:, 1], b.result.report["train_count"])
    b.stratify_checkbox.value = False
    assert b.stratify is False
    core = split_train_valid(song_table.df, "woodcock_song", 0.5, seed=7, stratify=False)
    assert list(b.valid_df.index) == list(core.valid.index)


def test_small_classes_missing_classes_and_impossible_splits(small_data):
    table = read_labels(small_data)
    b = SplitBalance(table, "sound_type")
    assert any("'call' has only 4 clips" in w for w in b.warnings)
    assert "only 4 clips" in b.messages_html.value
    b.train_fraction = 0.95
    assert b.result is None and b.train_df is None
    assert "fewer clips than the 3 classes" in b.error
    assert b.bars.x.tolist() == [] and b.save_button.disabled
    assert "fewer clips" in b.messages_html.value
    b.train_fraction = 0.5
    b.group_dropdown.value = "sound_type"
    assert b.group_column == "sound_type"  # whole classes end up on one side
    assert any("has no clips in" in w for w in b.warnings)
    counts = b.result.report[["train_count", "valid_count"]]
    assert ((counts == 0).sum(axis=1) == 1).all()


def test_group_column_prevents_leakage(song_table):
    df = song_table.df.copy()
    df["recorder"] = [f"unit{i // 2}" for i in range(len(df))]
    b = SplitBalance(df, "woodcock_song", group_column="recorder")
    assert b.group_column == "recorder" and b.group_dropdown.value == "recorder"
    assert not set(b.train_df["recorder"]) & set(b.valid_df["recorder"])
    assert not any(w.startswith("leakage") for w in b.warnings)


def test_save_writes_both_csvs(tmp_path, song_table):
    b = SplitBalance(song_table, save_dir=tmp_path / "run")
    b.save_button.click()
    assert b.errors.messages == []
    train = pd.read_csv(tmp_path / "run" / "train.csv")
    valid = pd.read_csv(tmp_path / "run" / "valid.csv")
    assert train["filename"].tolist() == b.train_df["filename"].tolist()
    assert valid["filename"].tolist() == b.valid_df["filename"].tolist()
    assert sorted((tmp_path / "run").iterdir()) == [
        tmp_path / "run" / "train.csv",
        tmp_path / "run" / "valid.csv",
    ]
    assert "saved 22 train and 6 valid rows" in b.status_html.value
    assert b.status.startswith("saved 22 train")


@pytest.mark.real_audio
def test_split_a_table_of_real_recordings(real_audio):
    files = sorted(str(p) for p in real_audio.glob("*.wav"))
    df = pd.DataFrame(
        {"filename": files, "kind": ["a", "b"] * (len(files) // 2) + ["a"] * (len(files) % 2)}
    )
    b = SplitBalance(df, "kind", train_fraction=0.6)
    assert len(b.train_df) + len(b.valid_df) == len(files)
    assert list(b.bars.labels) == ["a", "b"]


def test_train_fraction_is_used_exactly_and_bad_values_show_the_core_error(song_table):
    b = SplitBalance(song_table, train_fraction=0.75)
    assert b.train_fraction == 0.75 and b.train_fraction_input.value == 0.75
    assert len(b.train_df) == 21  # round(0.75 * 28): no clamping or snapping to a slider step
    b.train_fraction_input.value = 1.5
    assert b.result is None
    assert "strictly between 0 and 1" in b.error


# ---------------------------------------------------------------- issue 11 step 4, issue 16
def test_settings_are_traits_that_can_be_observed_and_linked(song_table):
    b = SplitBalance(song_table)
    seen = Mock()
    b.observe(seen, names="seed")
    b.seed_input.value = 3  # typing in the box sets the trait
    assert b.seed == 3 and seen.call_count == 1

    class Knob(traitlets.HasTraits):
        value = traitlets.Float(0.8)

    knob = Knob()
    traitlets.link((knob, "value"), (b, "train_fraction"))
    knob.value = 0.5  # a linked control moves the split
    assert b.train_fraction_input.value == 0.5 and len(b.valid_df) == 14
    b.group_column = None
    assert b.group_dropdown.value == "(none)"


def test_chart_changes_with_the_fraction_even_when_stratified(song_table):
    b = SplitBalance(song_table, stratify=True)
    before = b.bars.y.copy()
    b.train_fraction = 0.5  # the class shares stay (that is stratifying); the bars do not
    assert not np.array_equal(b.bars.y, before)
    assert b.bars.y[:, 1].sum() == 14 and b.bars.y[:, 2].sum() == 14
    shares = b.bars.y[:, 1:] / b.bars.y[:, 1:].sum(axis=0)
    np.testing.assert_allclose(shares[:, 0], shares[:, 1], atol=0.05)  # still balanced


def test_a_new_seed_says_how_many_validation_clips_changed(song_table):
    b = SplitBalance(song_table, stratify=True)
    counts = b.bars.y.copy()
    first = set(b.valid_df.index)
    b.seed = 7
    moved = len(set(b.valid_df.index) - first)
    assert moved > 0 and b.moved == moved
    np.testing.assert_array_equal(b.bars.y, counts)  # stratified: the same counts...
    assert f"seed 7: {moved} of the 6 validation clips" in b.moved_html.value  # ...other clips


def test_legend_is_off_the_title_and_the_save_button_fits_its_text(song_table):
    b = SplitBalance(song_table)
    assert b.figure.title == "" and b.bars.display_legend is False  # nothing drawn on top
    assert "absent" in b.legend_html.value and "present" in b.legend_html.value
    assert b.save_button.layout.width == "auto"
    assert b.save_button.description == "Save train/valid CSVs"


def test_saved_message_is_cleared_when_the_split_changes(tmp_path, song_table):
    b = SplitBalance(song_table, save_dir=tmp_path)
    b.save()
    assert b.status.startswith("saved 22 train and 6 valid rows")
    b.train_fraction = 0.5  # the files on disk no longer hold the split shown
    assert b.status == "" and b.status_html.value == ""
    b.save()
    assert "saved 14 train and 14 valid rows" in b.status_html.value
    b.seed = 1
    assert b.status == ""


def test_save_refusal_is_shown_in_the_widget_and_prints_one_line(tmp_path, song_table):
    b = SplitBalance(song_table, train_fraction=1.5, save_dir=tmp_path)
    with pytest.raises(SplitError, match="nothing to save") as caught:
        b.save()
    assert caught.value._render_traceback_() == [b.errors.messages[-1]]
    assert not (tmp_path / "train.csv").exists()
