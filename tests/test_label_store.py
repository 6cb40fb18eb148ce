"""The labeling loop's label table: append-only, durable, history kept, one writer at a time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from woodcock_widgets.errors import LabelError
from woodcock_widgets.workflow.label_store import (
    LOG_COLUMNS,
    LabelStore,
    LabelStoreLocked,
    window_key,
)

ROOT = Path(__file__).resolve().parents[1]


def _answer(i: int, present: bool = True, **kw) -> dict:
    return {
        "file": kw.pop("file", "/data/rec.wav"),
        "start_time": float(i),
        "end_time": float(i) + 1.0,
        "classes": ["song"],
        "present": ["song"] if present else [],
        **kw,
    }


def _spawn(code: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_line(proc: subprocess.Popen, prefix: str) -> str:
    while True:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"subprocess ended: {proc.stderr.read()}")
        if line.startswith(prefix):
            return line


def test_a_new_table_has_its_header_and_answers_read_back(tmp_path):
    path = tmp_path / "labels.csv"
    rec = tmp_path / "audio" / "a.wav"
    with LabelStore(path, labeler="ana") as store:
        rows = store.append([_answer(0, file=rec, round=2, strategy="top", score=0.9)])
        assert rows[0]["seq"] == 1 and rows[0]["labeler"] == "ana"
    text = path.read_text().splitlines()
    assert text[0] == ",".join(LOG_COLUMNS)
    assert text[1].split(",")[1] == "audio/a.wav"  # relative to the table's folder
    reader = LabelStore(path, lock=False)
    log = reader.log()
    assert list(log.columns) == LOG_COLUMNS
    r = log.iloc[0]
    assert (r.file, r.start_time, r.end_time) == (os.path.normpath(rec), 0.0, 1.0)
    assert (r["round"], r.strategy, r.score, r.status, r.present) == (
        2,
        "top",
        0.9,
        "labeled",
        "song",
    )
    assert pd.Timestamp(r.labeled_at).tzinfo is not None


def test_relabeling_keeps_the_history_and_the_last_answer_is_current(tmp_path):
    with LabelStore(tmp_path / "labels.csv") as store:
        store.append([_answer(3, present=True, round=0)])
        store.append([_answer(4, present=False, round=0)])
        store.append([_answer(3, present=False, round=1)])  # changed my mind
        key = window_key("/data/rec.wav", 3, 4)
        assert store.labels("song") == {key: 0, window_key("/data/rec.wav", 4, 5): 0}
        hist = store.history("/data/rec.wav", 3.0, 4.0)
        assert list(hist["present"]) == ["song", ""] and list(hist["round"]) == [0, 1]
        cur = store.current()
        assert len(cur) == 2 and cur.set_index("start_time").loc[3.0, "label"] == 0.0
        table = store.window_table(["song"])
        assert list(table.columns) == ["file", "start_time", "end_time", "song"]
        assert table["song"].tolist() == [0, 0]
    assert len(LabelStore(tmp_path / "labels.csv", lock=False).log()) == 3  # nothing lost


def test_skips_count_as_answered_but_not_as_labels(tmp_path):
    with LabelStore(tmp_path / "labels.csv") as store:
        store.append([_answer(0, status="skip"), _answer(1, present=True)])
        assert store.answered("song") == {
            window_key("/data/rec.wav", 0, 1),
            window_key("/data/rec.wav", 1, 2),
        }
        assert store.labels("song") == {window_key("/data/rec.wav", 1, 2): 1}
        assert store.current()["label"].isna().sum() == 1


def test_answers_covering_some_classes_leave_the_others_unknown(tmp_path):
    with LabelStore(tmp_path / "labels.csv") as store:
        both = dict(_answer(0), classes=["song", "call"], present=["call"])
        store.append([both, dict(_answer(1), classes=["call"], present=["call"])])
        assert store.labels("song") == {window_key("/data/rec.wav", 0, 1): 0}
        assert len(store.labels("call")) == 2
        assert store.window_table(["song", "call"]).shape == (1, 5)


@pytest.mark.parametrize(
    "bad",
    [
        {"present": ["call"]},  # not among the classes covered
        {"status": "maybe"},
        {"classes": ["a;b"], "present": []},
        {"strategy": "top\nbottom"},
        {"start_time": 2.0, "end_time": 1.0},
    ],
)
def test_a_bad_answer_writes_nothing(tmp_path, bad):
    path = tmp_path / "labels.csv"
    with LabelStore(path) as store:
        with pytest.raises(LabelError):
            store.append([_answer(0), dict(_answer(1), **bad)])
        assert len(store) == 0
    assert len(path.read_text().splitlines()) == 1


def test_a_reader_cannot_append_and_a_foreign_file_is_refused(tmp_path):
    path = tmp_path / "labels.csv"
    LabelStore(path).close()
    with pytest.raises(LabelError, match="not open for writing"):
        LabelStore(path, lock=False).append([_answer(0)])
    other = tmp_path / "other.csv"
    other.write_text("filename,label\na.wav,song\n")
    with pytest.raises(LabelError, match="not a label log"):
        LabelStore(other)


def test_a_torn_last_line_is_ignored_by_readers_and_cut_off_by_the_next_writer(tmp_path):
    path = tmp_path / "labels.csv"
    with LabelStore(path) as store:
        store.append([_answer(0), _answer(1)])
    with open(path, "ab") as f:
        f.write(b"3,/data/rec.wav,2.0,3.0,song,so")  # killed in the middle of a write
    assert len(LabelStore(path, lock=False).log()) == 2
    with LabelStore(path) as store:
        assert store.dropped_torn_line and len(store) == 2
        assert store.append([_answer(5)])[0]["seq"] == 3
    assert path.read_bytes().endswith(b"\n")
    assert LabelStore(path, lock=False).log()["seq"].tolist() == [1, 2, 3]


def test_a_second_writer_is_refused_while_readers_are_welcome(tmp_path):
    path = tmp_path / "labels.csv"
    first = LabelStore(path)
    first.append([_answer(0)])
    with pytest.raises(LabelStoreLocked, match=f"pid {os.getpid()}"):
        LabelStore(path)
    assert len(LabelStore(path, lock=False).log()) == 1
    first.close()
    with LabelStore(path) as again:  # released: the next writer gets it
        assert again.stale_lock is None  # a clean release leaves no holder behind
        assert len(again) == 1


def test_a_writer_in_another_process_is_refused_and_its_lock_is_stale_once_killed(tmp_path):
    path = tmp_path / "labels.csv"
    proc = _spawn(
        f"""
        import time
        from woodcock_widgets.workflow.label_store import LabelStore
        store = LabelStore({str(path)!r})
        print("ready", flush=True)
        time.sleep(60)
        """
    )
    try:
        _wait_line(proc, "ready")
        with pytest.raises(LabelStoreLocked, match=f"pid {proc.pid}"):
            LabelStore(path)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with LabelStore(path) as store:
        assert store.stale_lock["pid"] == proc.pid  # detected and taken over


def test_a_waiting_writer_is_serialized_after_the_first(tmp_path):
    path = tmp_path / "labels.csv"
    proc = _spawn(
        f"""
        import time
        from woodcock_widgets.workflow.label_store import LabelStore
        with LabelStore({str(path)!r}) as store:
            print("ready", flush=True)
            for i in range(5):
                store.append([dict(file="/x.wav", start_time=i, end_time=i + 1,
                                   classes=["song"], present=["song"])])
                time.sleep(0.1)
        """
    )
    _wait_line(proc, "ready")
    with LabelStore(path, timeout=60) as store:  # waits for the first writer to close
        store.append([_answer(9)])
    assert proc.wait(60) == 0
    log = LabelStore(path, lock=False).log()
    assert log["seq"].tolist() == [1, 2, 3, 4, 5, 6]
    assert log["start_time"].tolist() == [0, 1, 2, 3, 4, 9]


def test_killing_the_writer_between_answers_loses_no_acknowledged_answer(tmp_path):
    path = tmp_path / "labels.csv"
    proc = _spawn(
        f"""
        from woodcock_widgets.workflow.label_store import LabelStore
        store = LabelStore({str(path)!r})
        for i in range(100000):
            store.append([dict(file="/x.wav", start_time=i, end_time=i + 1,
                               classes=["song"], present=["song"] if i % 2 else [])])
            print("ack", i, flush=True)
        """
    )
    acked = -1
    try:
        for _ in range(60):
            acked = int(_wait_line(proc, "ack").split()[1])
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # the pipe may hold acks not yet read: they were durable too
    acked = max([acked] + [int(x.split()[1]) for x in proc.stdout.read().splitlines()])
    reader = LabelStore(path, lock=False)
    log = reader.log()
    assert len(log) >= acked + 1
    assert log["seq"].tolist() == list(range(1, len(log) + 1))
    assert log["start_time"].tolist()[: acked + 1] == list(range(acked + 1))
    with LabelStore(path) as store:  # the next session continues the table
        store.append([_answer(10**6)])
        assert store.rows[-1]["seq"] == len(log) + 1


def test_the_lock_file_names_its_holder(tmp_path):
    path = tmp_path / "labels.csv"
    with LabelStore(path):
        info = json.loads((tmp_path / "labels.csv.lock").read_text())
        assert info["pid"] == os.getpid() and info["host"] and info["since"]
    assert (tmp_path / "labels.csv.lock").read_text() == ""
