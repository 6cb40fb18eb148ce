"""Tests for the remapping module: the label remapper's preview (counts, codes, unmapped)."""

from __future__ import annotations

import pandas as pd
import pytest

from woodcock_widgets.errors import LabelError
from woodcock_widgets.tables.labels import read_labels
from woodcock_widgets.tables.remapping import CODE_COLUMN, identity_mapping, preview_remap
from woodcock_widgets.workflow import pipeline

TUTORIAL = {"song": "present", "call": "absent", "na": "absent"}


@pytest.fixture(scope="module")
def table(small_data):
    return read_labels(small_data)


def test_code_column_is_the_one_training_uses():
    assert CODE_COLUMN == pipeline.CODE_COLUMN


def test_tutorial_remap_counts_codes_and_label_dict(table):
    p = preview_remap(table, "sound_type", TUTORIAL, "woodcock_song", "scolopax-minor-")
    assert p.complete and p.unmapped == []
    assert p.label_dict == {0: "scolopax-minor-absent", 1: "scolopax-minor-present"}
    assert p.codes == {"absent": 0, "present": 1}
    before = p.counts_before.set_index("value")
    assert before["count"].to_dict() == {"call": 4, "na": 12, "song": 12}
    assert before["class"].to_dict() == TUTORIAL
    after = p.counts_after.set_index("class")
    assert after["count"].to_dict() == {"absent": 16, "present": 12}
    assert after["code"].to_dict() == {"absent": 0, "present": 1}
    # the result is what the core pipeline makes from the same mapping
    expected = pipeline.prepare_labels(table, "sound_type", TUTORIAL, "woodcock_song")
    pd.testing.assert_frame_equal(p.result, expected.df)
    assert list(table.columns) == ["filename", "woodcock", "sound_type"]  # input untouched


def test_unmapped_values_are_reported_not_dropped(table):
    p = preview_remap(table, "sound_type", {"song": "present", "call": "  "}, "woodcock_song")
    assert not p.complete and p.result is None
    assert p.unmapped == ["call", "na"]
    assert p.mapping == {"song": "present"}
    before = p.counts_before.set_index("value")
    assert before.loc["call", "class"] == "" and before.loc["na", "count"] == 12
    assert p.counts_after[["class", "count"]].to_dict("list") == {
        "class": ["present"],
        "count": [12],
    }
    assert p.counts_after["code"].isna().all()  # no code until every value has a class
    assert p.label_dict == {}


def test_identity_mapping_and_default_column_name(table):
    start = identity_mapping(table, "woodcock")
    assert start == {"absent": "absent", "present": "present"}
    p = preview_remap(table, "woodcock", start)
    assert p.new_column == "woodcock_class"
    assert p.result["woodcock_class"].tolist() == table["woodcock"].tolist()


def test_bad_columns_are_named(table):
    with pytest.raises(LabelError, match="numeric codes"):
        preview_remap(table, "sound_type", TUTORIAL, CODE_COLUMN)
    with pytest.raises(LabelError, match="no column 'kind'"):
        preview_remap(table, "kind", TUTORIAL)
