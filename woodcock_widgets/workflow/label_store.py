"""A growing label table: an append-only log of answers, durable and safe to share.

File format: a UTF-8 CSV with the header :data:`LOG_COLUMNS`, one row per answer::

    seq,file,start_time,end_time,classes,present,status,round,strategy,score,labeled_at,labeler

``classes`` are the classes the answer covers and ``present`` those among them heard in the
window (both ``;``-separated, ``present`` empty for "absent"); ``status`` is ``labeled`` or
``skip`` (listened to, no answer: never proposed again for those classes, never trained on).
``round``, ``strategy`` and ``score`` say where the window came from (the labeling round, the
proposal strategy, the model's score when it was proposed); ``labeled_at`` is an ISO 8601 UTC
time and ``labeler`` who answered. ``file`` is written relative to the table's folder when the
recording lies under it (with ``/``), else absolute.

Rules:

- **Append-only.** An answer is never changed or removed; relabeling a window appends a new
  row. The *current* label of a (window, class) is the last answer covering that class
  (:meth:`LabelStore.current`); :meth:`LabelStore.history` gives every answer.
- **Durable.** :meth:`LabelStore.append` writes its rows in one ``write``, then flushes and
  ``fsync``\\ s before it returns, so a process killed afterwards keeps the answer. A process
  killed *during* the write can leave a torn last line (no newline): it is ignored when read
  and cut off when a writer next opens the table; it was never acknowledged.
- **One writer.** A writer holds an exclusive lock on ``<table>.lock`` (``flock`` on POSIX,
  ``msvcrt.locking`` on Windows) for as long as it is open; a second writer (another process,
  or another object in this one) is refused with :class:`LabelStoreLocked`, or waits up to
  ``timeout`` seconds, so two loops are serialized and never interleave rows. The lock is
  released by the operating system when its process dies, so a lock left by a killed process
  is stale and taken over (its holder's pid, host and time, written into the lock file, are
  kept in :attr:`LabelStore.stale_lock`). Readers (``lock=False``) need no lock.
"""

from __future__ import annotations

import contextlib
import csv
import getpass
import io
import logging
import math
import os
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from ..errors import LabelError
from .file_lock import FileLock, LockHeld

__all__ = ["LOG_COLUMNS", "LabelStore", "LabelStoreLocked", "window_key"]

log = logging.getLogger(__name__)

LOG_COLUMNS = [
    "seq", "file", "start_time", "end_time", "classes", "present", "status",
    "round", "strategy", "score", "labeled_at", "labeler",
]  # fmt: skip
STATUSES = ("labeled", "skip")


class LabelStoreLocked(LabelError):
    """Another open writer holds the label table's lock."""


def window_key(file, start_time: float, end_time: float) -> tuple[str, int, int]:
    """The identity of a window: (absolute normalized path, start µs, end µs)."""
    return (
        os.path.normpath(os.path.abspath(os.fspath(file))),
        int(round(float(start_time) * 1e6)),
        int(round(float(end_time) * 1e6)),
    )


def _split(text: str) -> list[str]:
    return [c for c in text.split(";") if c]


class LabelStore:
    """The answers of a labeling loop, as an append-only CSV log (see the module docstring).

    Parameters
    ----------
    path : str or path-like
        The CSV; created (with its header) when missing.
    lock : bool
        Open for writing: take the table's lock (refuse or wait when another writer has it).
        ``False`` opens read-only (:meth:`append` then raises); :meth:`reload` re-reads.
    timeout : float
        Seconds to wait for the lock before refusing.
    labeler : str, optional
        Default ``labeler`` of appended rows; by default the login name.

    Attributes
    ----------
    stale_lock : dict or None
        ``pid``, ``host`` and ``since`` of a writer that died holding the lock, when this
        store took its lock over.
    dropped_torn_line : bool
        Whether opening cut off a torn last line (see the module docstring).

    Raises
    ------
    LabelStoreLocked
        Another writer has the table open.
    LabelError
        The file is not a label log (wrong header, unreadable row).
    """

    def __init__(self, path, *, lock: bool = True, timeout: float = 0.0, labeler=None) -> None:
        self.path = Path(path).absolute()
        self.folder = self.path.parent
        self.labeler = str(labeler) if labeler else _login()
        self.writable = bool(lock)
        self.dropped_torn_line = False
        self._lock = FileLock(self.path.with_name(self.path.name + ".lock")) if lock else None
        if self._lock is not None:
            try:
                self._lock.acquire(timeout)
            except LockHeld as exc:
                raise LabelStoreLocked(
                    f"label table {self.path} is open for writing by {exc.holder} (lock file "
                    f"{exc.path}); close that loop first (a lock of a process that has died is "
                    "released by the system and taken over)"
                ) from None
        try:
            if self.writable:
                self._prepare()
            self.reload()
        except BaseException:
            self.close()
            raise
        self.stale_lock = self._lock.previous if self._lock is not None else None

    # ----------------------------------------------------------------- file
    def _prepare(self) -> None:
        """Create the file with its header, or cut off a torn last line (writer only)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self.path.exists() or self.path.stat().st_size == 0:
            with open(self.path, "wb") as f:
                f.write((",".join(LOG_COLUMNS) + "\n").encode())
                f.flush()
                os.fsync(f.fileno())
            _fsync_dir(self.folder)
            return
        with open(self.path, "rb+") as f:
            data = f.read()
            if not data.endswith(b"\n"):
                keep = data.rfind(b"\n") + 1
                if keep == 0:
                    raise LabelError(f"{self.path}: not a label log (no complete header line)")
                f.truncate(keep)
                f.flush()
                os.fsync(f.fileno())
                self.dropped_torn_line = True
                log.warning("%s: dropped a torn last line (an unacknowledged answer)", self.path)

    def reload(self) -> None:
        """Read the file again (readers see the answers other processes appended since)."""
        self.rows: list[dict] = []
        self._latest: dict[tuple, int] = {}  # (window key, class) -> index into rows
        try:
            text = self.path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            if self.writable:
                raise
            return
        except (OSError, UnicodeDecodeError) as exc:
            raise LabelError(f"cannot read label log {self.path}: {exc}") from exc
        lines = text.split("\n")
        complete = lines[:-1]  # a last piece without newline is torn (or empty)
        if not complete or next(csv.reader([complete[0]]), []) != LOG_COLUMNS:
            raise LabelError(f"{self.path}: not a label log; its header must be {LOG_COLUMNS}")
        for lineno, cells in enumerate(csv.reader(complete[1:]), start=2):
            if cells:
                self._add(_parse_row(cells, lineno, self.path))

    def _add(self, row: dict) -> None:
        self.rows.append(row)
        key = window_key(row["file"], row["start_time"], row["end_time"])
        for c in _split(row["classes"]):
            self._latest[(key, c)] = len(self.rows) - 1

    def _relative(self, file: str) -> str:
        p = Path(os.path.abspath(file))
        return p.relative_to(self.folder).as_posix() if p.is_relative_to(self.folder) else str(p)

    # --------------------------------------------------------------- writing
    def append(self, answers) -> list[dict]:
        """Append answers, durably: rows are on disk (``fsync``\\ ed) when this returns.

        Parameters
        ----------
        answers : iterable of dict
            Each with ``file``, ``start_time``, ``end_time``, ``classes`` (list of str),
            ``present`` (list, a subset of ``classes``) and optionally ``status``
            (``labeled``, the default, or ``skip``), ``round``, ``strategy``, ``score``,
            ``labeler``.

        Returns
        -------
        list of dict
            The rows written (with ``seq`` and ``labeled_at``).

        Raises
        ------
        LabelError
            A read-only store, or a bad answer (unknown status, ``present`` not within
            ``classes``, a ``;`` or line break in a name); nothing is written then.
        """
        if not self.writable or self._lock is None or self._lock.fd is None:
            raise LabelError(f"label table {self.path} is not open for writing")
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        seq = self.rows[-1]["seq"] if self.rows else 0
        new, buf = [], io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        for a in answers:
            seq += 1
            row = _check_answer(a, seq, now, self.labeler)
            cells = dict(row, file=self._relative(row["file"]))
            cells["score"] = "" if math.isnan(row["score"]) else repr(row["score"])
            for name in ("start_time", "end_time"):
                cells[name] = repr(row[name])
            if any(ch in str(v) for v in cells.values() for ch in "\r\n"):
                raise LabelError(f"answer {seq}: a field holds a line break: {cells}")
            writer.writerow([cells[c] for c in LOG_COLUMNS])
            new.append(row)
        if not new:
            return []
        data = buf.getvalue().encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_BINARY", 0))
        try:
            done = 0
            while done < len(data):
                done += os.write(fd, data[done:])
            os.fsync(fd)
        finally:
            os.close(fd)
        for row in new:
            row["file"] = os.path.normpath(os.path.abspath(row["file"]))
            self._add(row)
        return new

    def close(self) -> None:
        """Release the lock (a read-only store has none); the answers stay on disk."""
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> LabelStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    # --------------------------------------------------------------- reading
    def log(self) -> pd.DataFrame:
        """Every answer, in order, as a DataFrame of :data:`LOG_COLUMNS` (absolute files)."""
        return pd.DataFrame(self.rows, columns=LOG_COLUMNS)

    def history(self, file, start_time: float, end_time: float) -> pd.DataFrame:
        """Every answer given for one window, oldest first."""
        key = window_key(file, start_time, end_time)
        keep = [
            r for r in self.rows if window_key(r["file"], r["start_time"], r["end_time"]) == key
        ]
        return pd.DataFrame(keep, columns=LOG_COLUMNS)

    def answered(self, class_name: str) -> set[tuple]:
        """Keys of the windows with a current answer (labeled or skipped) covering a class."""
        return {k for k, c in self._latest if c == class_name}

    def labels(self, class_name: str) -> dict[tuple, int]:
        """Current 0/1 label of each window labeled for a class (skips left out)."""
        out = {}
        for (key, c), i in self._latest.items():
            row = self.rows[i]
            if c == class_name and row["status"] == "labeled":
                out[key] = int(c in _split(row["present"]))
        return out

    def current(self) -> pd.DataFrame:
        """The current view: per (window, class), the last answer covering it.

        Returns
        -------
        pandas.DataFrame
            ``file, start_time, end_time, class, label`` (1, 0, or NaN for a skip) and the
            answer's ``status, round, strategy, score, labeled_at, labeler, seq``, in answer
            order.
        """
        out = []
        for (_, c), i in sorted(self._latest.items(), key=lambda kv: (kv[1], kv[0][1])):
            r = self.rows[i]
            label = math.nan if r["status"] == "skip" else float(c in _split(r["present"]))
            out.append({**r, "class": c, "label": label})
        cols = ["file", "start_time", "end_time", "class", "label", "status", "round"]
        cols += ["strategy", "score", "labeled_at", "labeler", "seq"]
        return pd.DataFrame(out, columns=cols)

    def window_table(self, classes) -> pd.DataFrame:
        """Windows with a current 0/1 answer for every one of ``classes``, as a window table.

        The result (``file, start_time, end_time`` and one int column per class) can be
        written with :func:`~woodcock_widgets.tables.windows.write_window_table` and trained
        on like any window table.
        """
        classes = [str(c) for c in classes]
        per = [self.labels(c) for c in classes]
        keys = set(per[0]).intersection(*per[1:]) if per else set()
        first = {}
        for i, r in enumerate(self.rows):
            first.setdefault(window_key(r["file"], r["start_time"], r["end_time"]), (i, r))
        rows = []
        for key in sorted(keys, key=lambda k: first[k][0]):
            r = first[key][1]
            rows.append([r["file"], r["start_time"], r["end_time"]] + [p[key] for p in per])
        return pd.DataFrame(rows, columns=["file", "start_time", "end_time", *classes])

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        mode = "writer" if self.writable else "reader"
        return f"LabelStore({str(self.path)!r}, {len(self.rows)} answers, {mode})"


def _parse_row(cells: list[str], lineno: int, path: Path) -> dict:
    """One CSV row of the log as a dict (``file`` made absolute from the log's folder)."""
    if len(cells) != len(LOG_COLUMNS):
        raise LabelError(f"{path}, row {lineno}: {len(cells)} fields, expected 12")
    r = dict(zip(LOG_COLUMNS, cells))
    try:
        out = {
            "seq": int(r["seq"]),
            "file": os.path.normpath(path.parent / r["file"]),
            "start_time": float(r["start_time"]),
            "end_time": float(r["end_time"]),
            "round": int(r["round"]) if r["round"] else -1,
            "score": float(r["score"]) if r["score"] else math.nan,
        }
    except ValueError as exc:
        raise LabelError(f"{path}, row {lineno}: {exc}") from exc
    if r["status"] not in STATUSES:
        raise LabelError(f"{path}, row {lineno}: status must be one of {STATUSES}")
    for name in ("classes", "present", "status", "strategy", "labeled_at", "labeler"):
        out[name] = r[name]
    return out


def _check_answer(a: dict, seq: int, now: str, labeler: str) -> dict:
    classes = [str(c) for c in a.get("classes", [])]
    present = [str(c) for c in a.get("present", [])]
    status = str(a.get("status", "labeled"))
    if status not in STATUSES:
        raise LabelError(f"answer {seq}: status must be one of {STATUSES}, got {status!r}")
    if not classes or any(not c or ";" in c for c in classes):
        raise LabelError(f"answer {seq}: classes must be non-empty names without ';': {classes}")
    stray = sorted(set(present) - set(classes))
    if stray:
        raise LabelError(f"answer {seq}: present classes {stray} are not among {classes}")
    score = a.get("score")
    start, end = float(a["start_time"]), float(a["end_time"])
    if not (math.isfinite(start) and math.isfinite(end) and 0 <= start < end):
        raise LabelError(f"answer {seq}: window [{start}, {end}] is not a span of seconds")
    return {
        "seq": seq,
        "file": os.fspath(a["file"]),
        "start_time": start,
        "end_time": end,
        "classes": ";".join(classes),
        "present": ";".join(c for c in classes if c in present),
        "status": status,
        "round": int(a.get("round", -1)),
        "strategy": str(a.get("strategy") or ""),
        "score": math.nan if score is None else float(score),
        "labeled_at": now,
        "labeler": str(a.get("labeler") or labeler),
    }


def _login() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (some containers)
        return "unknown"


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
