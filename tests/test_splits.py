"""Tests for woodcock_widgets.tables.splits: seeded stratified/grouped splits, balance, leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from woodcock_widgets import balance_report, split_train_valid
from woodcock_widgets.errors import LabelError, SplitError
from woodcock_widgets.tables.splits import check_leakage


def _table(counts: dict[str, int], clips_per_recording: int | None = None) -> pd.DataFrame:
    labels = [c for c, n in counts.items() for _ in range(n)]
    df = pd.DataFrame({"filename": [f"/d/clip{i:03d}.wav" for i in range(len(labels))]})
    df["label"] = labels
    if clips_per_recording:
        # consecutive clips of one class come from one recording
        rec, prev, k = [], None, 0
        for i, lab in enumerate(labels):
            if lab != prev or k == clips_per_recording:
                rec.append(f"rec{i:03d}")
                k = 0
            else:
                rec.append(rec[-1])
            prev, k = lab, k + 1
        df["recording"] = rec
    return df


def test_tutorial_proportions_are_reproduced():
    # 29 clips, 20 present: the tutorial's 0.69 / 0.70 / 0.67 positive fraction
    df = _table({"present": 20, "absent": 9})
    res = split_train_valid(df, "label", train_fraction=0.8, seed=0)
    assert (len(res.train), len(res.valid)) == (23, 6)
    row = res.report.loc["present"]
    assert round(row["all_fraction"], 2) == 0.69
    assert round(row["train_fraction"], 2) == 0.70
    assert round(row["valid_fraction"], 2) == 0.67


def test_same_seed_same_split_other_seed_other_split():
    df = _table({"present": 40, "absent": 30})
    a = split_train_valid(df, "label", seed=7)
    b = split_train_valid(df, "label", seed=7)
    c = split_train_valid(df, "label", seed=8)
    assert list(a.train.index) == list(b.train.index)
    assert list(a.valid.index) == list(b.valid.index)
    assert set(a.valid.index) != set(c.valid.index)


def test_parts_partition_the_table_and_unpack():
    df = _table({"present": 40, "absent": 30})
    train, valid = split_train_valid(df, "label", seed=1)
    assert sorted(train.index.tolist() + valid.index.tolist()) == list(df.index)
    assert not set(train.index) & set(valid.index)
    assert len(valid) == 14


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stratified_fractions_close_in_all_train_valid(seed):
    df = _table({"a": 50, "b": 30, "c": 20})
    rep = split_train_valid(df, "label", train_fraction=0.75, seed=seed).report
    for cls in ("a", "b", "c"):
        assert abs(rep.loc[cls, "train_fraction"] - rep.loc[cls, "all_fraction"]) < 0.02
        assert abs(rep.loc[cls, "valid_fraction"] - rep.loc[cls, "all_fraction"]) < 0.05


def test_grouped_split_never_straddles_groups():
    df = _table({"present": 30, "absent": 30}, clips_per_recording=3)
    assert df["recording"].nunique() == 20
    res = split_train_valid(df, "label", seed=3, group_column="recording")
    train_groups, valid_groups = set(res.train["recording"]), set(res.valid["recording"])
    assert not train_groups & valid_groups
    assert len(res.train) + len(res.valid) == len(df)
    assert 0.6 <= len(res.train) / len(df) <= 0.9
    assert set(res.train["label"]) == set(res.valid["label"]) == {"present", "absent"}
    assert not [w for w in res.warnings if "leakage" in w]
    unstrat = split_train_valid(df, "label", seed=3, group_column="recording", stratify=False)
    assert not set(unstrat.train["recording"]) & set(unstrat.valid["recording"])


def test_grouped_split_with_one_group_is_refused():
    df = _table({"present": 5, "absent": 5})
    df["recording"] = "only"
    with pytest.raises(SplitError, match="group"):
        split_train_valid(df, "label", group_column="recording")


def test_balance_report_columns_and_values():
    df = _table({"present": 6, "absent": 4})
    train, valid = df.iloc[[0, 1, 2, 3, 6, 7]], df.iloc[[4, 5, 8, 9]]
    rep = balance_report(df, train, valid, "label")
    assert list(rep.columns) == [
        "all_count",
        "all_fraction",
        "train_count",
        "train_fraction",
        "valid_count",
        "valid_fraction",
    ]
    assert list(rep.index) == ["absent", "present"] and rep.index.name == "label"
    assert rep.loc["present"].tolist() == pytest.approx([6, 0.6, 4, 4 / 6, 2, 0.5])
    assert rep.loc["absent"].tolist() == pytest.approx([4, 0.4, 2, 2 / 6, 2, 0.5])
    empty = balance_report(df, df, df.iloc[:0], "label")
    assert empty["valid_count"].sum() == 0 and np.isfinite(empty["valid_fraction"]).all()


def test_check_leakage():
    df = _table({"a": 4, "b": 4}, clips_per_recording=2)
    train, valid = df.iloc[:5], df.iloc[4:]
    msgs = check_leakage(train, valid, "filename", "recording")
    assert len(msgs) == 2
    assert "1 file(s)" in msgs[0] and df["filename"].iloc[4] in msgs[0]
    assert "'recording'" in msgs[1]
    assert check_leakage(df.iloc[:4], df.iloc[4:], "filename", "recording") == []


def test_single_class_is_refused():
    with pytest.raises(SplitError, match="only one class"):
        split_train_valid(_table({"present": 10}), "label")


def test_class_with_one_clip_is_refused_when_stratifying():
    df = _table({"present": 10, "absent": 9, "call": 1})
    with pytest.raises(SplitError, match=r"\['call'\].*'label'"):
        split_train_valid(df, "label")
    # without stratification it splits, and says what is missing where
    res = split_train_valid(df, "label", stratify=False, seed=0)
    assert any("'call'" in w and "no clips in" in w for w in res.warnings)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.2, 1.5])
def test_train_fraction_out_of_range(fraction):
    with pytest.raises(SplitError, match="train_fraction"):
        split_train_valid(_table({"a": 10, "b": 10}), "label", train_fraction=fraction)


def test_too_few_clips():
    # 0.9 of 3 clips leaves no validation clip
    with pytest.raises(SplitError, match="empty"):
        split_train_valid(_table({"a": 2, "b": 1}), "label", train_fraction=0.9, stratify=False)
    # 4 clips, 2 classes at 0.8: one validation clip cannot hold both classes
    with pytest.raises(SplitError, match="fewer clips than the 2 classes"):
        split_train_valid(_table({"a": 2, "b": 2}), "label", train_fraction=0.8)


def test_tiny_classes_give_warnings():
    res = split_train_valid(_table({"present": 20, "absent": 3}), "label", seed=0)
    assert any("'absent'" in w and "only 3 clips" in w for w in res.warnings)
    assert not any("'present'" in w for w in res.warnings)
    clean = split_train_valid(_table({"present": 20, "absent": 10}), "label", seed=0)
    assert clean.warnings == []


def test_nan_labels_are_named():
    df = _table({"a": 5, "b": 5})
    df.loc[3, "label"] = np.nan
    with pytest.raises(LabelError, match=r"row\(s\) 3"):
        split_train_valid(df, "label")
