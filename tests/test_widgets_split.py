"""SplitBalance without a browser: the split is the core's, the chart and table show it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from woodcock_widgets.tables.labels import read_labels
from woodcock_widgets.tables.splits import split_train_valid
from woodcock_widgets.widgets import SplitBalance


def test_split_matches_the_core_and_the_chart_shows_fractions(song_table):
    b = SplitBalance(song_table)  # a LabeledTable: its class column is used
    assert b.label_column == "woodcock_song"
    core = split_train_valid(song_table.df, "woodcock_song", 0.8, seed=0)
    assert list(b.train_df.index) == list(core.train.index)
    assert list(b.valid_df.index) == list(core.valid.index)
    report = b.result.report
    assert b.bars.type == "grouped" and list(b.bars.labels) == ["all", "train", "valid"]
    assert b.bars.x.tolist() == ["absent", "present"]
    expected = np.vstack([report[f"{p}_fraction"] for p in ("all", "train", "valid")])
    np.testing.assert_allclose(b.bars.y, expected)
    np.testing.assert_allclose(b.bars.y.sum(axis=1), 1.0)
    assert f"<td>{report.loc['present', 'valid_count']}</td>" in b.counts.value
    assert "<td>total</td>" in b.counts.value
    assert b.warnings == [] and "no file or group leaks" in b.messages.value


def test_controls_resplit(song_table):
    b = SplitBalance(song_table)
    first = list(b.valid_df.index)
    b.seed.value = 7
    assert list(b.valid_df.index) != first
    b.train_fraction.value = 0.5
    assert len(b.train_df) == 14 and len(b.valid_df) == 14
    np.testing.assert_allclose(b.bars.y[1], b.result.report["train_fraction"])
    b.stratify.value = False
    core = split_train_valid(song_table.df, "woodcock_song", 0.5, seed=7, stratify=False)
    assert list(b.valid_df.index) == list(core.valid.index)


def test_small_classes_missing_classes_and_impossible_splits(small_data):
    table = read_labels(small_data)
    b = SplitBalance(table, "sound_type")
    assert any("'call' has only 4 clips" in w for w in b.warnings)
    assert "only 4 clips" in b.messages.value
    b.train_fraction.value = 0.95
    assert b.result is None and b.train_df is None
    assert "fewer clips than the 3 classes" in b.error
    assert b.bars.x.tolist() == [] and b.save_button.disabled
    assert "fewer clips" in b.messages.value
    b.train_fraction.value = 0.5
    b.group_column.value = "sound_type"  # whole classes end up on one side
    assert any("has no clips in" in w for w in b.warnings)
    counts = b.result.report[["train_count", "valid_count"]]
    assert ((counts == 0).sum(axis=1) == 1).all()


def test_group_column_prevents_leakage(song_table):
    df = song_table.df.copy()
    df["recorder"] = [f"unit{i // 2}" for i in range(len(df))]
    b = SplitBalance(df, "woodcock_song", group_column="recorder")
    assert b.group_column.value == "recorder"
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
    assert "saved 22 train and 6 valid rows" in b.status.value


@pytest.mark.real_audio
def test_split_a_table_of_real_recordings(real_audio):
    files = sorted(str(p) for p in real_audio.glob("*.wav"))
    df = pd.DataFrame(
        {"filename": files, "kind": ["a", "b"] * (len(files) // 2) + ["a"] * (len(files) % 2)}
    )
    b = SplitBalance(df, "kind", train_fraction=0.6)
    assert len(b.train_df) + len(b.valid_df) == len(files)
    assert b.bars.x.tolist() == ["a", "b"]


def test_train_fraction_is_used_exactly_and_bad_values_show_the_core_error(song_table):
    b = SplitBalance(song_table, train_fraction=0.75)
    assert b.train_fraction.value == 0.75
    assert len(b.train_df) == 21  # round(0.75 * 28): no clamping or snapping to a slider step
    b.train_fraction.value = 1.5
    assert b.result is None
    assert "strictly between 0 and 1" in b.error
