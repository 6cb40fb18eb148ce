"""Tests for the labels module: reading, validation, paths, remapping, codes, saving."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from woodcock_widgets import LabelMap, numeric_labels, read_labels, remap_labels
from woodcock_widgets.errors import LabelError, WoodcockError
from woodcock_widgets.tables.labels import apply_corrections, check_label_column, save_labels

TUTORIAL_MAP = {"song": "present", "call": "absent", "na": "absent"}


def _clip(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.zeros(100, np.float32), 8000)
    return path


@pytest.fixture()
def clip_folder(tmp_path) -> Path:
    """A data folder with clips/a.wav, clips/b.wav, clips/c.wav."""
    for name in ("a", "b", "c"):
        _clip(tmp_path / "data" / "clips" / f"{name}.wav")
    return tmp_path / "data"


def _csv(path: Path, text: str, encoding: str = "utf-8", newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode(encoding))
    return path


@pytest.fixture()
def tutorial_df() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "filename": [f"/d/{i}.wav" for i in range(6)],
            "woodcock": ["present", "present", "absent", "absent", "present", "absent"],
            "sound_type": ["song", "song", "na", "call", "song", "na"],
        }
    )


# ------------------------------------------------------------------------------ read_labels


def test_paths_resolved_relative_to_the_csv_folder(clip_folder, monkeypatch, tmp_path):
    csv = _csv(
        clip_folder / "labels.csv", "filename,woodcock\nclips/a.wav,present\nclips/b.wav,absent\n"
    )
    monkeypatch.chdir(tmp_path)  # the working folder must not matter
    df = read_labels(csv, required_columns=("filename", "woodcock"))
    assert list(df["filename"]) == [
        str((clip_folder / "clips" / "a.wav").resolve()),
        str((clip_folder / "clips" / "b.wav").resolve()),
    ]
    assert list(df["woodcock"]) == ["present", "absent"]


def test_paths_resolved_relative_to_a_given_root(clip_folder, tmp_path):
    csv = _csv(tmp_path / "elsewhere" / "labels.csv", "filename,woodcock\na.wav,present\n")
    df = read_labels(csv, root=clip_folder / "clips")
    assert df["filename"].iloc[0] == str((clip_folder / "clips" / "a.wav").resolve())


def test_absolute_paths_are_kept(clip_folder, tmp_path):
    absolute = (clip_folder / "clips" / "c.wav").resolve()
    csv = _csv(tmp_path / "other" / "labels.csv", f"filename,woodcock\n{absolute},absent\n")
    df = read_labels(csv)
    assert df["filename"].iloc[0] == str(absolute)


def test_bom_crlf_and_padded_header(clip_folder):
    csv = _csv(
        clip_folder / "win.csv",
        "filename, woodcock\nclips/a.wav,present\nclips/b.wav,absent\n",
        encoding="utf-8-sig",
        newline="\r\n",
    )
    assert csv.read_bytes().startswith(b"\xef\xbb\xbf")
    df = read_labels(csv, required_columns=("filename", "woodcock"))
    assert list(df.columns) == ["filename", "woodcock"]
    assert list(df["woodcock"]) == ["present", "absent"]  # no stray "\r"
    assert df["filename"].iloc[1].endswith("b.wav")


def test_missing_csv_is_named(tmp_path):
    p = tmp_path / "nope.csv"
    with pytest.raises(LabelError, match="not found") as ei:
        read_labels(p)
    assert str(p) in str(ei.value)
    with pytest.raises(LabelError, match="folder"):
        read_labels(tmp_path)


def test_empty_csv_is_named(tmp_path):
    p = _csv(tmp_path / "empty.csv", "")
    with pytest.raises(LabelError, match="empty") as ei:
        read_labels(p)
    assert str(p) in str(ei.value)


def test_header_only_csv_is_named(tmp_path):
    p = _csv(tmp_path / "header.csv", "filename,woodcock\n")
    with pytest.raises(LabelError, match="no rows") as ei:
        read_labels(p)
    assert str(p) in str(ei.value)


def test_wrong_delimiter_gets_a_hint(clip_folder):
    p = _csv(clip_folder / "semi.csv", "filename;woodcock\nclips/a.wav;present\n")
    with pytest.raises(LabelError, match="delimiter") as ei:
        read_labels(p, required_columns=("filename", "woodcock"))
    assert str(p) in str(ei.value) and "'filename'" in str(ei.value)


def test_rows_longer_than_the_header_are_named(clip_folder):
    # every row longer: pandas would silently shift the columns; one row longer: parse error
    for name, text, match in [
        (
            "wide.csv",
            "filename,woodcock\nclips/a.wav,present,x\nclips/b.wav,absent,y\n",
            "more fields than the header",
        ),
        (
            "ragged.csv",
            "filename,woodcock\nclips/a.wav,present\nclips/b.wav,absent,y\n",
            "cannot parse",
        ),
    ]:
        p = _csv(clip_folder / name, text)
        with pytest.raises(LabelError, match=match) as ei:
            read_labels(p, check_files=False)
        assert str(p) in str(ei.value)


def test_missing_column_is_named(clip_folder):
    p = _csv(clip_folder / "nolab.csv", "filename,sound_type\nclips/a.wav,song\n")
    with pytest.raises(LabelError, match="woodcock") as ei:
        read_labels(p, required_columns=("filename", "woodcock"))
    msg = str(ei.value)
    assert str(p) in msg and "sound_type" in msg  # what it has, to spot typos
    with pytest.raises(LabelError, match="'path'"):
        read_labels(p, required_columns=(), filename_column="path")


def test_duplicate_filenames_are_named(clip_folder):
    p = _csv(
        clip_folder / "dup.csv",
        "filename,woodcock\nclips/a.wav,present\nclips/b.wav,absent\nclips/../clips/a.wav,absent\n",
    )
    with pytest.raises(LabelError, match="more than once") as ei:
        read_labels(p)
    msg = str(ei.value)
    assert "0, 2" in msg and "a.wav" in msg and str(p) in msg


def test_empty_filename_is_named(clip_folder):
    p = _csv(clip_folder / "blank.csv", "filename,woodcock\nclips/a.wav,present\n,absent\n")
    with pytest.raises(LabelError, match=r"empty 'filename' in row\(s\) 1") as ei:
        read_labels(p)
    assert str(p) in str(ei.value)


def test_nonexistent_audio_is_named(clip_folder):
    p = _csv(
        clip_folder / "ghost.csv",
        "filename,woodcock\nclips/a.wav,present\nclips/ghost.wav,absent\n",
    )
    with pytest.raises(LabelError, match="not found") as ei:
        read_labels(p)
    msg = str(ei.value)
    assert "ghost.wav" in msg and "row(s) 1" in msg
    # the check can be turned off (e.g. labels prepared before the audio arrives)
    df = read_labels(p, check_files=False)
    assert df["filename"].iloc[1].endswith("ghost.wav")


def test_label_errors_are_woodcock_errors(tmp_path):
    with pytest.raises(WoodcockError):
        read_labels(tmp_path / "x.csv")


def test_check_label_column_names_nan_rows(tutorial_df):
    df = tutorial_df.copy()
    df.loc[[1, 4], "woodcock"] = np.nan
    with pytest.raises(LabelError, match=r"'woodcock', row\(s\) 1, 4"):
        check_label_column(df, "woodcock")
    with pytest.raises(LabelError, match="no column 'species'"):
        check_label_column(df, "species")


# ----------------------------------------------------------------------------- remap_labels


def test_remap_tutorial_mapping(tutorial_df):
    before = tutorial_df.copy()
    out = remap_labels(tutorial_df, "sound_type", TUTORIAL_MAP, new_column="woodcock_song")
    assert list(out["woodcock_song"]) == [
        "present",
        "present",
        "absent",
        "absent",  # a call is not a song
        "present",
        "absent",
    ]
    pd.testing.assert_frame_equal(tutorial_df, before)  # source unchanged
    assert "woodcock_song" not in tutorial_df.columns
    default = remap_labels(tutorial_df, "sound_type", TUTORIAL_MAP)
    assert "sound_type_class" in default.columns


def test_remap_unmapped_values_named_with_rows(tutorial_df):
    with pytest.raises(LabelError) as ei:
        remap_labels(tutorial_df, "sound_type", {"song": "present"})
    msg = str(ei.value)
    assert "'call'" in msg and "'na'" in msg and "2, 3, 5" in msg and "sound_type" in msg
    kept = remap_labels(tutorial_df, "sound_type", {"song": "present"}, unmapped="keep")
    assert list(kept["sound_type_class"]) == ["present", "present", "na", "call", "present", "na"]
    with pytest.raises(ValueError, match="unmapped"):
        remap_labels(tutorial_df, "sound_type", TUTORIAL_MAP, unmapped="drop")


def test_remap_missing_source_column(tutorial_df):
    with pytest.raises(LabelError, match="'kind'"):
        remap_labels(tutorial_df, "kind", TUTORIAL_MAP)


# ---------------------------------------------------------------------------- numeric_labels


def test_numeric_labels_with_codes_and_class_names(tutorial_df):
    df = remap_labels(tutorial_df, "sound_type", TUTORIAL_MAP, new_column="woodcock_song")
    out, label_dict = numeric_labels(
        df,
        "woodcock_song",
        codes={"absent": 0, "present": 1},
        class_names={0: "scolopax-minor-absent", 1: "scolopax-minor-present"},
    )
    assert label_dict == {0: "scolopax-minor-absent", 1: "scolopax-minor-present"}
    assert list(out["NumericLabels"]) == [1, 1, 0, 0, 1, 0]
    assert "NumericLabels" not in df.columns


def test_numeric_labels_class_names_from_json_and_incomplete(tutorial_df):
    # a label dictionary read back from JSON has string keys
    _, label_dict = numeric_labels(
        tutorial_df, "woodcock", {"absent": 0, "present": 1}, class_names={"0": "no", "1": "yes"}
    )
    assert label_dict == {0: "no", 1: "yes"}
    with pytest.raises(LabelError, match=r"no name for code\(s\) \[1\]"):
        numeric_labels(tutorial_df, "woodcock", {"absent": 0, "present": 1}, class_names={0: "no"})


def test_numeric_labels_default_codes_are_sorted(tutorial_df):
    out, label_dict = numeric_labels(tutorial_df, "sound_type", new_column="code")
    assert label_dict == {0: "call", 1: "na", 2: "song"}
    assert list(out["code"]) == [2, 2, 1, 0, 2, 1]


def test_numeric_labels_errors(tutorial_df):
    with pytest.raises(LabelError, match=r"\['present'\].*row\(s\) 0, 1, 4"):
        numeric_labels(tutorial_df, "woodcock", codes={"absent": 0})
    with pytest.raises(LabelError, match="0..n-1"):
        numeric_labels(tutorial_df, "woodcock", codes={"absent": 0, "present": 2})


# ---------------------------------------------------------------------------------- LabelMap


def test_label_map_round_trip():
    lm = LabelMap.from_label_dict({1: "scolopax-minor-present", 0: "scolopax-minor-absent"})
    assert lm.classes == ("scolopax-minor-absent", "scolopax-minor-present")
    assert len(lm) == 2
    assert lm.label_dict == {0: "scolopax-minor-absent", 1: "scolopax-minor-present"}
    assert lm.encode(["scolopax-minor-present", "scolopax-minor-absent"]) == [1, 0]
    assert lm.decode([0, 1, 1]) == [
        "scolopax-minor-absent",
        "scolopax-minor-present",
        "scolopax-minor-present",
    ]
    # JSON turns int keys into strings; a bundle's label_dict must still load
    assert LabelMap.from_label_dict({"0": "a", "1": "b"}).classes == ("a", "b")


def test_label_map_errors_and_from_values():
    with pytest.raises(LabelError, match="0..1"):
        LabelMap.from_label_dict({0: "a", 2: "b"})
    with pytest.raises(LabelError, match="unique"):
        LabelMap(("a", "a"))
    with pytest.raises(LabelError, match="at least one"):
        LabelMap(())
    lm = LabelMap.from_values(["present", "absent", "present"])
    assert lm.classes == ("absent", "present")
    assert LabelMap.from_values(["b", "a"], order=["b", "a", "c"]).classes == ("b", "a", "c")
    with pytest.raises(LabelError, match="'x'"):
        LabelMap.from_values(["x", "a"], order=["a"])
    with pytest.raises(LabelError, match="unknown class 'maybe'"):
        lm.encode(["present", "maybe"])


# -------------------------------------------------------------------------- save and correct


def test_save_labels_refuses_to_overwrite_the_source(clip_folder):
    src = _csv(clip_folder / "labels.csv", "filename,woodcock\nclips/a.wav,present\n")
    original = src.read_bytes()
    df = read_labels(src)
    with pytest.raises(LabelError, match="refusing to overwrite") as ei:
        save_labels(df, clip_folder / "." / "labels.csv", source=src)
    assert str(src) in str(ei.value)
    assert src.read_bytes() == original
    out = save_labels(df, clip_folder / "labels_remapped.csv", source=src)
    pd.testing.assert_frame_equal(pd.read_csv(out), df)


def test_save_labels_is_atomic(tmp_path, tutorial_df, monkeypatch):
    target = tmp_path / "out.csv"
    target.write_text("old content\n")

    def fail(*_args, **_kw):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)  # the final rename fails
    with pytest.raises(OSError, match="disk full") as info:
        save_labels(tutorial_df, target)
    assert "out.csv" in str(info.value)  # the message names the file
    monkeypatch.undo()
    assert target.read_text() == "old content\n"  # untouched, not half-written
    assert sorted(os.listdir(tmp_path)) == ["out.csv"]  # no temp file left behind
    save_labels(tutorial_df, target)
    pd.testing.assert_frame_equal(pd.read_csv(target), tutorial_df)


def test_apply_corrections(tutorial_df):
    before = tutorial_df.copy()
    corrections = pd.DataFrame(
        {"filename": ["/d/3.wav", "/d/0.wav"], "woodcock": ["present", "absent"]}
    )
    out = apply_corrections(tutorial_df, corrections, "woodcock")
    assert list(out["woodcock"]) == ["absent", "present", "absent", "present", "present", "absent"]
    pd.testing.assert_frame_equal(tutorial_df, before)
    with pytest.raises(LabelError, match="not in the label table"):
        apply_corrections(
            tutorial_df, pd.DataFrame({"filename": ["/x.wav"], "woodcock": ["a"]}), "woodcock"
        )
    with pytest.raises(LabelError, match="no column 'woodcock'"):
        apply_corrections(tutorial_df, pd.DataFrame({"filename": ["/d/0.wav"]}), "woodcock")


def test_save_removes_a_dead_saves_temp_file_but_not_a_fresh_one(tmp_path, tutorial_df):
    """A save killed mid-write leaves ``.NAME.XXXXXXXX.tmp``; the next save of NAME cleans it."""
    target = tmp_path / "labels.csv"
    dead = tmp_path / ".labels.csv.ab12cd34.tmp"  # as a kill -9 during a save leaves it
    fresh = tmp_path / ".labels.csv.zz98yy76.tmp"  # another process writing right now
    other = tmp_path / ".other.csv.ab12cd34.tmp"  # some other table's, not ours to touch
    for f in (dead, fresh, other):
        f.write_text("half a table")
    old = time.time() - 3600
    os.utime(dead, (old, old))
    os.utime(other, (old, old))
    save_labels(tutorial_df, target)
    assert not dead.exists()
    assert fresh.exists() and other.exists()
    pd.testing.assert_frame_equal(pd.read_csv(target), tutorial_df)
