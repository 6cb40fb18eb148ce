"""Annotation readers (Raven, Audacity, CSV), the Raven writer and matching to audio."""

from __future__ import annotations

import ast
import collections
import csv
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from _real_labeled import require_real_labeled

from woodcock_widgets.errors import AnnotationError, LabelError
from woodcock_widgets.tables.annotations import (
    EVENT_COLUMNS,
    read_annotations,
    read_audacity,
    read_event_csv,
    read_raven,
    recording_stem,
    write_raven,
)
from woodcock_widgets.tables.matching import MatchReport, match_audio

HEADER = "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)"
CORE = ["file", "start_time", "end_time", "label", "low_freq", "high_freq"]


@pytest.fixture(scope="session")
def real_labeled() -> Path:
    return require_real_labeled()


def _wav(path: Path, seconds: float, sr: int = 8000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(int(round(seconds * sr)), dtype="float32"), sr)
    return path


def _table(path: Path, rows: list[str], header: str = HEADER + "\tAnnotation") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _count_species(folder: Path, column: str, pattern: str = "*.txt") -> collections.Counter:
    """Independent count: plain csv parsing of every table, one box per data row."""
    counts = collections.Counter()
    for table in sorted(folder.glob(pattern)):
        with open(table, newline="") as f:
            rows = list(csv.reader(f, delimiter="\t"))
        col = rows[0].index(column)
        counts.update(r[col] for r in rows[1:] if r)
    return counts


# ---------------------------------------------------------------- real tables


def test_powdermill_36_tables_6125_boxes_25_species(real_labeled):
    folder = real_labeled / "powdermill_raven" / "tables" / "Recording_1"
    tables = sorted(folder.glob("*.txt"))
    assert len(tables) == 36
    events = read_raven(folder, label_column="Species")
    expected = _count_species(folder, "Species")
    got = collections.Counter(events["label"])
    print("\nPowdermill Recording_1, boxes per species:")
    for species, n in got.most_common():
        print(f"  {species:6s} {n:5d}")
    print(f"  total  {sum(got.values()):5d} in {len(got)} species")
    assert got == expected
    assert len(events) == 6125 and len(got) == 25
    assert list(events.columns) == EVENT_COLUMNS
    assert (events["end_time"] >= events["start_time"]).all()
    assert events["end_time"].max() <= 300.5  # 5-minute soundscapes
    assert events["low_freq"].notna().all() and (events["low_freq"] < events["high_freq"]).all()
    # every table is one recording, named after the table
    assert set(events["file"]) <= {recording_stem(t) for t in tables}
    assert "Recording_1_Segment_01" in set(events.attrs["annotated_files"])
    assert len(events.attrs["annotated_files"]) == 36
    # source rows are 1-based lines of the table
    first = events.iloc[0]
    line = Path(first["source_file"]).read_text().splitlines()[first["source_row"] - 1]
    assert float(line.split("\t")[3]) == first["start_time"]


def test_powdermill_empty_table_without_final_newline(real_labeled):
    table = (
        real_labeled
        / "powdermill_raven/tables/Recording_1/Recording_1_Segment_01.Table.1.selections.txt"
    )
    assert not table.read_bytes().endswith(b"\n")
    events = read_raven(table, label_column="Species")
    assert len(events) == 0 and list(events.columns) == EVENT_COLUMNS
    assert events.attrs["annotated_files"] == ["Recording_1_Segment_01"]


def test_other_tables_extra_columns_and_variants(real_labeled):
    other = real_labeled / "powdermill_raven" / "other_tables"
    msd = other / "opensoundscape_tests" / "MSD-0003_20180427_2minstart00.Table.1.selections.txt"
    # extra distance/type columns, rows shorter than the header, one box with no species
    with pytest.warns(UserWarning, match=r"MSD-0003.*row\(s\) \[11\]"):
        events = read_raven(msd, label_column="Species")
    assert len(events) == 9
    assert set(events["file"]) == {"MSD-0003_20180427_2minstart00"}
    assert events["label"].tolist()[:3] == ["WOTH", "EATO", "WOTH"]
    assert events["start_time"].iloc[0] == 1.897648165999982
    with pytest.raises(AnnotationError, match=r"MSD-0003.*row 11.*empty label"):
        read_raven(msd, label_column="Species", empty_labels="error")
    # no final newline, trailing tab in the header, file name without .Table.1.selections
    one = read_raven(other / "opensoundscape_tests" / "raven_with_Annotation_col.txt")
    assert one["label"].tolist() == ["CSWA"] and one["file"].tolist() == [
        "raven_with_Annotation_col"
    ]
    empty = read_raven(
        other / "opensoundscape_tests" / "EmptyExample.Table.1.selections.txt", "Species"
    )
    assert len(empty) == 0
    perch_dir = other / "perch_tests"
    with pytest.warns(UserWarning, match=r"skipped 1 \.txt file.*LICENSE\.perch\.txt"):
        perch = read_raven(perch_dir, label_column="Species")  # a folder: the licence is skipped
    assert sum(_count_species(perch_dir, "Species", "*.selections.txt").values()) == len(perch) > 0


def test_spinetail_audacity_labels_with_frequencies(real_labeled):
    path = real_labeled / "spinetail" / "spinetail.txt"
    events = read_audacity(path)
    lines = path.read_text().splitlines()
    label_lines = [ln.split("\t") for ln in lines if not ln.startswith("\\")]
    assert collections.Counter(events["label"]) == collections.Counter(c[2] for c in label_lines)
    # the file holds 14 SP (the data README says 13) and 4 CRER
    assert collections.Counter(events["label"]) == {"SP": 14, "CRER": 4}
    assert events["low_freq"].notna().all() and (events["low_freq"] < events["high_freq"]).all()
    assert events["low_freq"].iloc[0] == 6441.064453 and events["high_freq"].iloc[0] == 12296.577148
    assert set(events["file"]) == {"spinetail"}
    report = match_audio(events, real_labeled / "spinetail")
    assert report.tables_without_audio == [] and report.audio_without_tables == []
    assert report.recordings["n_events"].tolist() == [18]
    assert report.recordings["duration"].iloc[0] == pytest.approx(19.54, abs=0.01)
    assert read_annotations(path, format="audacity").equals(events)


def test_gy6or6_raven_equals_csv_and_matches_audio(real_labeled):
    root = real_labeled / "bengalese_finch_gy6or6"
    raven = read_annotations(root / "raven", format="raven")
    table = read_annotations(
        root / "annotations.csv",
        format="csv",
        file_column="audio_file",
        start_column="onset_s",
        end_column="offset_s",
    )
    assert len(raven) == len(table) == 2615
    from_raven = match_audio(raven, root)
    from_csv = match_audio(table, root)
    for report in (from_raven, from_csv):
        assert isinstance(report, MatchReport)
        assert report.tables_without_audio == [] and report.audio_without_tables == []
        assert len(report.recordings) == 44
        assert report.recordings["n_events"].sum() == 2615
        assert report.recordings["duration"].sum() == pytest.approx(415.28, abs=0.01)
        assert all(
            Path(p).is_absolute() and Path(p).parent.name == "wav" for p in report.events.path
        )
    key = ["path", "start_time", "end_time", "label"]
    a = from_raven.events[key].sort_values(key).reset_index(drop=True)
    b = from_csv.events[key].sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    assert (from_raven.events["low_freq"] == 500.0).all()
    assert read_raven(root / "raven", audio_dir=root)["path"].notna().all()


def test_raven_round_trip_is_lossless(real_labeled, tmp_path):
    root = real_labeled / "bengalese_finch_gy6or6" / "raven"
    events = read_raven(root)
    one = events[events["file"] == events["file"].iloc[0]].reset_index(drop=True)
    out = write_raven(one, tmp_path / f"{one['file'].iloc[0]}.Table.1.selections.txt")
    assert "Begin File" not in out.read_text().splitlines()[0]
    pd.testing.assert_frame_equal(read_raven(out)[CORE], one[CORE])
    # several recordings in one table keep their file names, through Begin File
    out = write_raven(events, tmp_path / "all.txt", label_column="Species")
    back = read_raven(out, label_column="Species")
    pd.testing.assert_frame_equal(back[CORE], events[CORE])
    # Powdermill times with 15 significant digits, and missing frequencies
    species = read_raven(
        real_labeled / "powdermill_raven" / "tables" / "Recording_1", label_column="Species"
    )
    species.loc[::7, ["low_freq", "high_freq"]] = math.nan
    back = read_raven(write_raven(species, tmp_path / "pm.txt"))
    pd.testing.assert_frame_equal(back[CORE], species[CORE])


# ---------------------------------------------------------------- format quirks


def test_waveform_and_spectrogram_rows_count_once(tmp_path):
    rows = [
        "1\tWaveform 1\t1\t0.5\t1.0\t0\t0\tA",
        "1\tSpectrogram 1\t1\t0.5\t1.0\t1000\t2000\tA",
        "2\tSpectrogram 1\t1\t2.0\t2.5\t1500\t2500\tB",
        "2\tWaveform 1\t1\t2.0\t2.5\t0\t0\tB",
        "3\tWaveform 1\t1\t3.0\t3.2\t0\t0\tA",
    ]
    events = read_raven(_table(tmp_path / "rec.Table.1.selections.txt", rows))
    assert events["label"].tolist() == ["A", "B", "A"]
    assert events["low_freq"].tolist() == [1000.0, 1500.0, 0.0]  # spectrogram rows preferred
    assert events["source_row"].tolist() == [3, 4, 6]
    # without a View column nothing is merged
    header = "Selection\tBegin Time (s)\tEnd Time (s)\tAnnotation"
    plain = _table(tmp_path / "plain.txt", ["1\t0.5\t1.0\tA", "1\t0.5\t1.0\tA"], header)
    assert len(read_raven(plain)) == 2


def test_table_names_give_recording_stems(tmp_path):
    row = ["1\tSpectrogram 1\t1\t0.1\t0.2\t100\t200\tA"]
    for name, stem in [
        ("x.y.Table.1.selections.txt", "x.y"),
        ("bird.Table.12.selections.txt", "bird"),
        ("bird2.selections.txt", "bird2"),
        ("bird3.txt", "bird3"),
        ("bird4.wav.Table.1.selections.txt", "bird4.wav"),
    ]:
        assert read_raven(_table(tmp_path / name, row))["file"].tolist() == [stem]


def test_begin_file_and_file_offset(tmp_path):
    header = HEADER + "\tBegin File\tFile Offset (s)\tAnnotation"
    rows = [
        "1\tSpectrogram 1\t1\t5.0\t6.5\t100\t200\ta.wav\t5.0\tA",
        "2\tSpectrogram 1\t1\t12.0\t13.0\t100\t200\tb.wav\t2.0\tB",  # b.wav starts at 10 s
    ]
    table = _table(tmp_path / "tables" / "multi.Table.1.selections.txt", rows, header)
    events = read_raven(table)
    assert events["file"].tolist() == ["a.wav", "b.wav"]
    assert events["start_time"].tolist() == [5.0, 2.0]
    assert events["end_time"].tolist() == [6.5, 3.0]
    _wav(tmp_path / "audio" / "a.wav", 10.0)
    _wav(tmp_path / "audio" / "sub" / "b.wav", 4.0)
    _wav(tmp_path / "audio" / "c.flac", 4.0)
    report = match_audio(events, tmp_path / "audio")
    assert [Path(p).name for p in report.events["path"]] == ["a.wav", "b.wav"]
    assert [Path(p).name for p in report.audio_without_tables] == ["c.flac"]
    assert report.events["duration"].tolist() == [10.0, 4.0]


def test_audacity_without_frequencies_and_csv_with_them(tmp_path):
    labels = tmp_path / "night.txt"
    labels.write_text("0.5\t1.25\tcall\n2\t3\tsong")  # no final newline
    events = read_audacity(labels)
    assert events["file"].tolist() == ["night", "night"]
    assert events["low_freq"].isna().all() and events["end_time"].tolist() == [1.25, 3.0]
    assert read_audacity(labels, audio_file="x.wav")["file"].tolist() == ["x.wav"] * 2
    table = tmp_path / "ev.csv"
    table.write_text("rec,t0,t1,sp,lo,hi\na.wav,1,2,X,100,900\nb.wav,0,0.5,Y,,\n")
    ev = read_event_csv(table, "rec", "t0", "t1", "sp", "lo", "hi")
    assert ev["low_freq"].iloc[0] == 100.0 and math.isnan(ev["low_freq"].iloc[1])
    assert ev["source_row"].tolist() == [2, 3]


def test_empty_table_and_fully_annotated_recordings(tmp_path):
    audio = tmp_path / "audio"
    for name in ("a", "b", "c"):
        _wav(audio / f"{name}.wav", 3.0)
    _table(tmp_path / "t" / "a.Table.1.selections.txt", ["1\tSpectrogram 1\t1\t1\t2\t1\t2\tA"])
    _table(tmp_path / "t" / "b.Table.1.selections.txt", [])  # annotated, nothing heard
    events = read_raven(tmp_path / "t")
    report = match_audio(events, audio)
    assert [Path(p).stem for p in report.recordings["path"]] == ["a", "b"]
    assert report.recordings["n_events"].tolist() == [1, 0]
    assert [Path(p).name for p in report.audio_without_tables] == ["c.wav"]
    everything = match_audio(events, audio, fully_annotated=True)
    assert [Path(p).stem for p in everything.recordings["path"]] == ["a", "b", "c"]
    listed = match_audio(events, audio, fully_annotated=["c.wav"])
    assert [Path(p).stem for p in listed.recordings["path"]] == ["a", "b", "c"]


# ---------------------------------------------------------------- bad input


def _rows_table(tmp_path, rows, name="rec.Table.1.selections.txt", header=None):
    return _table(tmp_path / name, rows, header or HEADER + "\tAnnotation")


def test_missing_audio_names_table_and_row(tmp_path):
    table = _rows_table(
        tmp_path, ["1\tSpectrogram 1\t1\t0.1\t0.2\t1\t2\tA"], name="lost.Table.1.selections.txt"
    )
    events = read_raven(table)
    (tmp_path / "audio").mkdir()
    _wav(tmp_path / "audio" / "other.wav", 1.0)
    with pytest.raises(AnnotationError, match=r"lost\.Table\.1\.selections\.txt, row 2") as exc:
        match_audio(events, tmp_path / "audio")
    assert isinstance(exc.value, LabelError) and "'lost'" in str(exc.value)
    with pytest.warns(UserWarning, match="lost"):
        report = match_audio(events, tmp_path / "audio", missing_audio="warn")
    assert report.tables_without_audio == ["lost"] and len(report.events) == 0
    report = match_audio(events, tmp_path / "audio", missing_audio="drop")
    assert report.audio_without_tables == [str((tmp_path / "audio" / "other.wav").resolve())]


def test_event_past_end_of_recording(tmp_path):
    _wav(tmp_path / "rec.wav", 2.0)
    ok = read_raven(_rows_table(tmp_path, ["1\tSpectrogram 1\t1\t1.0\t2.04\t1\t2\tA"]))
    assert len(match_audio(ok, tmp_path).events) == 1  # within the 0.05 s tolerance
    late = _rows_table(
        tmp_path,
        ["1\tSpectrogram 1\t1\t0.1\t0.2\t1\t2\tA", "2\tSpectrogram 1\t1\t1.5\t2.5\t1\t2\tA"],
    )
    with pytest.raises(
        AnnotationError, match=r"rec\.Table\.1\.selections\.txt, row 3.*past the end"
    ):
        match_audio(read_raven(late), tmp_path)


def test_end_before_start(tmp_path):
    table = _rows_table(
        tmp_path, ["1\tSpectrogram 1\t1\t0.1\t0.2\t1\t2\tA", "2\tS\t1\t5\t4\t1\t2\tA"]
    )
    with pytest.raises(AnnotationError, match=r"rec\.Table\.1\.selections\.txt, row 3: end time"):
        read_raven(table)
    labels = tmp_path / "aud.txt"
    labels.write_text("1\t2\tA\n\\\t10\t20\n3\t2.5\tB\n")
    with pytest.raises(AnnotationError, match=r"aud\.txt, row 3: end time"):
        read_audacity(labels)
    table = tmp_path / "ev.csv"
    table.write_text("file,start_time,end_time,label\na,1,2,X\na,3,x,X\n")
    with pytest.raises(AnnotationError, match=r"ev\.csv, row 3, column 'end_time': not a number"):
        read_event_csv(table)


def test_unknown_label_column_lists_columns(tmp_path):
    table = _rows_table(tmp_path, ["1\tSpectrogram 1\t1\t0.1\t0.2\t1\t2\tA"])
    with pytest.raises(AnnotationError, match=r"rec\.Table.*no label column 'Species'") as exc:
        read_raven(table, label_column="Species")
    assert "'Annotation'" in str(exc.value) and "'Begin Time (s)'" in str(exc.value)
    table = tmp_path / "ev.csv"
    table.write_text("audio,start_time,end_time,label\na,1,2,X\n")
    with pytest.raises(AnnotationError, match=r"ev\.csv: missing column\(s\) \['file'\]"):
        read_event_csv(table)


def test_empty_label_column(tmp_path):
    table = _rows_table(
        tmp_path, ["1\tSpectrogram 1\t1\t0.1\t0.2\t1\t2\t", "2\tSpec\t1\t1\t2\t1\t2"]
    )
    with pytest.raises(AnnotationError, match=r"rec\.Table.*'Annotation' is empty in every row"):
        read_raven(table)


def test_not_a_raven_table(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("Selection\tStart\tStop\n1\t0\t1\n")
    with pytest.raises(AnnotationError, match=r"notes\.txt is not a Raven selection table"):
        read_raven(notes)
    (tmp_path / "blank.txt").write_text("")
    with pytest.raises(AnnotationError, match=r"blank\.txt is not a Raven"):
        read_raven(tmp_path / "blank.txt")
    with pytest.raises(AnnotationError, match="not found"):
        read_raven(tmp_path / "absent.txt")
    with pytest.raises(AnnotationError, match="unknown annotation format"):
        read_annotations(notes, format="praat")


def test_hand_made_events_match(tmp_path):
    _wav(tmp_path / "a.wav", 1.0)
    events = pd.DataFrame({"file": ["a"], "start_time": [0.1], "end_time": [0.3], "label": ["x"]})
    report = match_audio(events, tmp_path)
    assert report.events["path"].tolist() == [str((tmp_path / "a.wav").resolve())]
    with pytest.raises(AnnotationError, match="lack column"):
        match_audio(events.drop(columns="end_time"), tmp_path)


def test_ambiguous_audio_name(tmp_path):
    events = read_raven(_rows_table(tmp_path, ["1\tSpectrogram 1\t1\t0.1\t0.2\t1\t2\tA"]))
    _wav(tmp_path / "x" / "rec.wav", 1.0)
    _wav(tmp_path / "y" / "rec.wav", 1.0)
    with pytest.raises(AnnotationError, match=r"row 2: recording 'rec' matches several"):
        match_audio(events, tmp_path)


def test_modules_do_not_import_torch():
    package = Path(__file__).resolve().parents[1] / "woodcock_widgets" / "tables"
    for name in ("annotations.py", "_events.py", "matching.py", "windows.py"):
        tree = ast.parse((package / name).read_text())
        roots = {
            a.name.split(".")[0]
            for n in ast.walk(tree)
            if isinstance(n, ast.Import)
            for a in n.names
        }
        roots |= {
            n.module.split(".")[0]
            for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and n.module
        }
        assert "torch" not in roots, name
