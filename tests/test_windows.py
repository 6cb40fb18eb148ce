"""Windows with labels over annotated recordings, and the window-table CSV."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _real_labeled import require_real_labeled

from woodcock_widgets.errors import AnnotationError
from woodcock_widgets.tables.annotations import match_audio, read_raven
from woodcock_widgets.tables.windows import (
    class_counts,
    make_windows,
    read_window_table,
    write_window_table,
)


@pytest.fixture(scope="session")
def real_labeled() -> Path:
    return require_real_labeled()


@pytest.fixture(scope="module")
def gy6or6(real_labeled):
    root = real_labeled / "bengalese_finch_gy6or6"
    return match_audio(read_raven(root / "raven"), root)


def _events(rows, file="rec.wav"):
    return pd.DataFrame(
        [(file, a, b, label) for a, b, label in rows],
        columns=["file", "start_time", "end_time", "label"],
    )


def _brute_force(recordings, events, clip, step, min_overlap, min_fraction, classes):
    """Window labels by plain loops, straight from the definition."""
    by_key = {}
    for ev in events.itertuples():
        by_key.setdefault((ev.path, ev.label), []).append((ev.start_time, ev.end_time))
    rows = []
    for path, duration in recordings:
        k = 0
        while k * step + clip <= duration + 1e-9:
            s = k * step
            e = s + clip
            row = {"file": path, "start_time": s, "end_time": e}
            for c in classes:
                row[c] = 0
                for a, b in by_key.get((path, c), []):
                    o = min(b, e) - max(a, s)
                    need = min_overlap
                    if min_fraction is not None:
                        need = max(need, min_fraction * min(b - a, clip))
                    if o > 0 and o >= need - 1e-9:
                        row[c] = 1
            rows.append(row)
            k += 1
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    "clip,step,min_overlap,min_fraction",
    [(1.0, None, 0.0, None), (1.0, 0.5, 0.02, None), (2.0, 1.0, 0.0, 0.5)],
)
def test_gy6or6_windows_match_brute_force(gy6or6, clip, step, min_overlap, min_fraction):
    recordings = list(zip(gy6or6.recordings["path"], gy6or6.recordings["duration"]))
    classes = sorted(gy6or6.events["label"].unique())
    windows = make_windows(
        gy6or6,
        gy6or6.events,
        clip_seconds=clip,
        step=step,
        min_overlap=min_overlap,
        min_fraction=min_fraction,
    )
    step = clip if step is None else step
    expected_n = sum(int(math.floor((d - clip) / step + 1e-9)) + 1 for _, d in recordings)
    assert windows.shape == (expected_n, 3 + len(classes))
    assert list(windows.columns) == ["file", "start_time", "end_time", *classes]
    assert set(windows["file"]) == {p for p, _ in recordings}
    duration = windows["file"].map(dict(recordings))
    assert (windows["end_time"] <= duration + 1e-9).all()  # no window crosses a file end
    assert (duration - windows.groupby("file")["end_time"].transform("max") < step).all()
    assert np.allclose(windows["end_time"] - windows["start_time"], clip)
    assert all(windows[c].dtype == np.int64 for c in classes)
    brute = _brute_force(recordings, gy6or6.events, clip, step, min_overlap, min_fraction, classes)
    assert np.allclose(windows["start_time"], brute["start_time"])
    np.testing.assert_array_equal(windows[classes].to_numpy(), brute[classes].to_numpy())
    counts = class_counts(windows)
    assert counts["positives"].to_dict() == {c: int(windows[c].sum()) for c in classes}
    assert (counts["positives"] + counts["negatives"] == len(windows)).all()
    # the song is stereotyped: most 1 s windows hold several syllable types
    if clip == 1.0 and min_overlap == 0.0:
        assert (windows[classes].sum(axis=1) >= 2).mean() > 0.5
        print("\n" + class_counts(windows).to_string())


def test_overlap_rules_by_hand():
    events = _events(
        [
            (1.9, 2.3, "a"),  # 0.1 s in window 0, 0.3 s in window 1
            (3.5, 8.0, "long"),  # longer than a window: 0.5 s in window 1, then 2 s, 2 s
            (4.05, 4.1, "short"),  # wholly inside window 2
            (6.0, 6.0, "point"),  # zero length, at the start of window 3
        ]
    )
    recs = [("rec.wav", 8.0)]
    w = make_windows(recs, events, clip_seconds=2.0)
    assert w["start_time"].tolist() == [0.0, 2.0, 4.0, 6.0]
    assert w["a"].tolist() == [1, 1, 0, 0]
    assert w["long"].tolist() == [0, 1, 1, 1]
    assert w["point"].tolist() == [0, 0, 0, 1]
    # an annotated recording with no events: all its windows are negatives
    w2 = make_windows(recs + [("silent.wav", 4.5)], events, clip_seconds=2.0)
    assert w2["file"].tolist()[-2:] == ["silent.wav"] * 2
    assert (w2.iloc[-2:, 3:] == 0).all().all() and w2.iloc[:4].equals(w)
    w = make_windows(recs, events, clip_seconds=2.0, min_overlap={"a": 0.2})
    assert w["a"].tolist() == [0, 1, 0, 0] and w["short"].tolist() == [0, 0, 1, 0]
    # fraction of the event, capped at the window: 0.5 s of the 4.5 s call in window 1 is 25 %
    # of the window, too little; 2 s in windows 2 and 3 is the whole window
    w = make_windows(recs, events, clip_seconds=2.0, min_fraction=0.5)
    assert w["long"].tolist() == [0, 0, 1, 1] and w["a"].tolist() == [0, 1, 0, 0]
    assert w["short"].tolist() == [0, 0, 1, 0]
    w = make_windows(recs, events, clip_seconds=2.0, min_fraction={"long": 0.5})
    assert w["a"].tolist() == [1, 1, 0, 0]
    w = make_windows(recs, events, clip_seconds=2.0, step=1.5)
    assert w["start_time"].tolist() == [0.0, 1.5, 3.0, 4.5, 6.0]


def test_class_without_positive_windows_warns():
    events = _events([(0.2, 0.4, "a")])
    with pytest.warns(UserWarning, match=r"no positive window: \['zz'\]"):
        w = make_windows([("rec.wav", 4.0)], events, classes=["zz", "a"])
    assert list(w.columns) == ["file", "start_time", "end_time", "zz", "a"]
    assert w["zz"].sum() == 0 and w["a"].tolist() == [1, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_windows([("rec.wav", 4.0)], events)  # every class has a positive: no warning


def test_window_longer_than_recording(tmp_path):
    events = _events([(0.2, 0.4, "a")], file="short.wav")
    recs = pd.DataFrame({"path": ["short.wav"], "duration": [1.5]})
    with pytest.raises(AnnotationError, match=r"short\.wav: recording is 1\.500 s, shorter"):
        make_windows(recs, events, clip_seconds=2.0)
    w = make_windows(recs, events, clip_seconds=2.0, pad_short=True)
    assert w[["start_time", "end_time", "a"]].values.tolist() == [[0.0, 2.0, 1]]


def test_bad_window_inputs():
    events = _events([(0.2, 0.4, "a")]).assign(source_file="t.txt", source_row=5)
    with pytest.raises(AnnotationError, match=r"t\.txt, row 5: event of recording 'rec\.wav'"):
        make_windows([("other.wav", 4.0)], events)
    with pytest.raises(AnnotationError, match="min_overlap names classes.*'b'"):
        make_windows([("rec.wav", 4.0)], events, min_overlap={"b": 0.1})
    with pytest.raises(AnnotationError, match="must be positive"):
        make_windows([("rec.wav", 4.0)], events, clip_seconds=0)
    with pytest.raises(AnnotationError, match="not a positive number"):
        make_windows([("rec.wav", float("nan"))], events)
    with pytest.raises(AnnotationError, match="class names"):
        make_windows([("rec.wav", 4.0)], _events([(0.2, 0.4, "file")]))


def test_window_table_round_trip(tmp_path, gy6or6):
    windows = make_windows(gy6or6, gy6or6.events, clip_seconds=1.0)
    outside = read_window_table(write_window_table(windows, tmp_path / "w.csv"))
    pd.testing.assert_frame_equal(outside, windows)
    assert Path(pd.read_csv(tmp_path / "w.csv")["file"].iloc[0]).is_absolute()
    # under the CSV's folder the paths are relative, and the folder can move
    data = tmp_path / "project"
    recs = [(str(data / "audio" / "r1.wav"), 3.0), (str(data / "audio" / "sub" / "r2.wav"), 2.0)]
    events = _events([(0.5, 1.5, "x")], file=recs[0][0])
    local = make_windows(recs, events, clip_seconds=1.0, step=0.5)
    csv_path = write_window_table(local, data / "windows.csv")
    raw = pd.read_csv(csv_path)
    assert raw["file"].tolist()[0] == "audio/r1.wav" and "audio/sub/r2.wav" in set(raw.file)
    moved = tmp_path / "moved"
    data.rename(moved)
    back = read_window_table(moved / "windows.csv")
    assert back["file"].iloc[0] == str(moved / "audio" / "r1.wav")
    pd.testing.assert_frame_equal(back.drop(columns="file"), local.drop(columns="file"))
    csv_path = write_window_table(local, data.with_name("d2") / "w.csv")
    assert read_window_table(csv_path)["file"].tolist() == [str(Path(p)) for p in local["file"]]


def test_read_window_table_errors(tmp_path):
    def table(text):
        path = tmp_path / "w.csv"
        path.write_text(text)
        return path

    with pytest.raises(AnnotationError, match=r"w\.csv: missing column\(s\) \['end_time'\]"):
        read_window_table(table("file,start_time,a\nx.wav,0,1\n"))
    with pytest.raises(AnnotationError, match=r"w\.csv, row 3, column 'b': .*0 or 1, got '2'"):
        read_window_table(table("file,start_time,end_time,a,b\nx.wav,0,1,1,0\nx.wav,1,2,0,2\n"))
    with pytest.raises(AnnotationError, match=r"w\.csv, row 2, column 'a'.*got ''"):
        read_window_table(table("file,start_time,end_time,a\nx.wav,0,1,\n"))
    with pytest.raises(AnnotationError, match=r"w\.csv, row 2, column 'start_time': not a number"):
        read_window_table(table("file,start_time,end_time,a\nx.wav,zero,1,1\n"))
    with pytest.raises(AnnotationError, match=r"w\.csv: no class column"):
        read_window_table(table("file,start_time,end_time\nx.wav,0,1\n"))
    with pytest.raises(AnnotationError, match="not found"):
        read_window_table(tmp_path / "none.csv")
    ok = read_window_table(table("file,start_time,end_time,a\nx.wav,0,1,1.0\n"))
    assert ok["a"].tolist() == [1] and ok["file"].iloc[0] == str(tmp_path / "x.wav")


@pytest.mark.parametrize("multi_label", [True, False])
def test_a_prepared_table_reads_back_with_its_classes_only(tmp_path, multi_label):
    # what a run folder's valid.csv holds: the class columns plus window_classes (and the
    # NumericLabels codes for single-target); read back, the added columns are not classes
    from woodcock_widgets.tables.labeled import CODE_COLUMN, prepare_windows

    windows = pd.DataFrame(
        {
            "file": [str(tmp_path / "r.wav")] * 3,
            "start_time": [0.0, 1.0, 2.0],
            "end_time": [1.0, 2.0, 3.0],
            "song": [1, 0, 1],
            "call": [0, 1, int(multi_label)],
        }
    )
    prepared = prepare_windows(windows, multi_label=multi_label).df
    assert "window_classes" in prepared.columns
    assert (CODE_COLUMN in prepared.columns) is not multi_label
    back = read_window_table(write_window_table(prepared, tmp_path / "valid.csv"))
    assert list(back.columns) == ["file", "start_time", "end_time", "song", "call"]
    pd.testing.assert_frame_equal(back, windows)
    again = prepare_windows(tmp_path / "valid.csv", multi_label=multi_label)
    assert again.classes == ("song", "call") and again.df.equals(prepared)
