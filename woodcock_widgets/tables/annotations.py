"""Annotation readers: Raven Pro, Audacity and CSV events as one tidy events table.

Every reader returns an *events table*: a pandas DataFrame with the columns of
:data:`EVENT_COLUMNS`, in that order: ``file, start_time, end_time, label, low_freq,
high_freq, source_file, source_row``. ``file`` is the recording's stem or file name as the
table names it, until :func:`match_audio` resolves it to an audio path; ``low_freq`` and
``high_freq`` are NaN where the format has no frequencies; ``source_file`` and ``source_row``
(1-based line in the source file) say where each event came from, for error messages.

Each reader also records, in ``events.attrs["annotated_files"]``, the recordings its tables
covered, including tables with a header and no rows: such a recording was annotated and holds
no events, so :func:`match_audio` keeps it as an all-negative recording.
"""

from __future__ import annotations

import csv
import math
import os
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath

import pandas as pd

from woodcock_widgets.errors import AnnotationError
from woodcock_widgets.io_utils import atomic_write_text

__all__ = ["EVENT_COLUMNS", "AUDIO_EXTENSIONS", "MatchReport", "recording_stem", "read_raven"]
__all__ += ["read_audacity", "read_event_csv", "read_annotations", "write_raven", "match_audio"]

EVENT_COLUMNS = ["file", "start_time", "end_time", "label", "low_freq", "high_freq"]
EVENT_COLUMNS += ["source_file", "source_row"]
_DTYPES = dict(zip(EVENT_COLUMNS, [object, float, float, object, float, float, object, "int64"]))
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".aif", ".aiff")
BEGIN, END, LOW, HIGH = "Begin Time (s)", "End Time (s)", "Low Freq (Hz)", "High Freq (Hz)"
OFFSET = "File Offset (s)"
_TABLE_SUFFIX = re.compile(r"(\.table\.\d+)?(\.selections)?\.txt$", re.IGNORECASE)
_EMPTY_LABELS = ("warn", "drop", "error")


def _warn(message: str) -> None:
    """A UserWarning attributed to the first caller outside this package (the user's code)."""
    package = os.path.join(str(Path(__file__).resolve().parents[1]), "")
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, UserWarning, stacklevel=level)


def _read_lines(path: Path) -> list[str]:
    """The lines of a text file (UTF-8 with or without BOM, else Latin-1), no line ends."""
    if not path.is_file():
        raise AnnotationError(f"annotation file not found: {path}")
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError:
        return data.decode("latin-1").splitlines()


def _number(value, path, row: int, column: str, optional: bool = False) -> float:
    text = "" if value is None else str(value).strip()
    if optional and not text:
        return math.nan
    try:
        x = float(text)
    except ValueError:
        x = math.nan
    if not math.isfinite(x):
        raise AnnotationError(f"{path}, row {row}, column {column!r}: not a number: {value!r}")
    return x


def _check_times(start: float, end: float, path, row: int) -> None:
    if start < 0:
        raise AnnotationError(f"{path}, row {row}: start time {start} s is negative")
    if end < start:
        raise AnnotationError(f"{path}, row {row}: end time {end} s is before start time {start} s")


class _Events:
    """Collects event rows of one source file; empty labels handled by the chosen policy."""

    def __init__(self, path: Path, label_column: str, empty_labels: str):
        if empty_labels not in _EMPTY_LABELS:
            raise AnnotationError(f"empty_labels must be one of {_EMPTY_LABELS}: {empty_labels!r}")
        self.path, self.column, self.policy = path, label_column, empty_labels
        self.rows: list[tuple] = []
        self.empty: list[int] = []

    def add(self, row: int, file, start, end, label: str, low=math.nan, high=math.nan) -> None:
        _check_times(start, end, self.path, row)
        if not label:
            if self.policy == "error":
                raise AnnotationError(f"{self.path}, row {row}: empty label ({self.column!r})")
            self.empty.append(row)
            return
        self.rows.append((file, start, end, label, low, high, str(self.path), row))

    def frame(self, annotated) -> pd.DataFrame:
        if self.empty and self.policy == "warn":
            _warn(
                f"{self.path}: skipped {len(self.empty)} event(s) with an empty label "
                f"({self.column!r}) at row(s) {self.empty[:10]}"
            )
        return _frame(self.rows, annotated)


def _frame(rows: list[tuple], annotated) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=EVENT_COLUMNS).astype(_DTYPES)
    df.attrs["annotated_files"] = list(dict.fromkeys(annotated))
    return df


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    annotated = [f for df in frames for f in df.attrs.get("annotated_files", [])]
    frames = [df for df in frames if len(df)]
    df = pd.concat(frames, ignore_index=True) if frames else _frame([], [])
    df.attrs = {"annotated_files": list(dict.fromkeys(annotated))}
    return df


def recording_stem(table_path) -> str:
    """The recording a Raven table is named after (``NAME.Table.1.selections.txt`` → ``NAME``)."""
    name = Path(table_path).name
    return _TABLE_SUFFIX.sub("", name) or name


def _is_spectrogram(row: dict) -> bool:
    return row["View"].strip().lower().startswith("spectrogram")


def _read_raven_file(path: Path, label_column: str, empty_labels: str) -> pd.DataFrame:
    lines = _read_lines(path)
    header = [c.strip() for c in lines[0].split("\t")] if lines else []
    named = [c for c in header if c]
    missing = [c for c in (BEGIN, END) if c not in header]
    if missing:
        raise AnnotationError(
            f"{path} is not a Raven selection table: missing column(s) {missing} (it has {named})"
        )
    if label_column not in header:
        raise AnnotationError(
            f"{path}: no label column {label_column!r}; available columns: {named}"
        )
    col = {name: i for i, name in reversed(list(enumerate(header))) if name}
    rows = []
    for lineno, line in enumerate(lines[1:], start=2):
        if line.strip():
            cells = line.split("\t")
            rows.append((lineno, {c: (cells[i] if i < len(cells) else "") for c, i in col.items()}))
    # a selection exported in several views (Waveform 1, Spectrogram 1) counts once:
    # keep its spectrogram row where it has one, else its first row
    if "View" in col and "Selection" in col:
        chosen: dict[str, tuple[int, dict]] = {}
        for lineno, r in rows:
            old = chosen.get(r["Selection"].strip())
            if old is None or (_is_spectrogram(r) and not _is_spectrogram(old[1])):
                chosen[r["Selection"].strip()] = (lineno, r)
        rows = sorted(chosen.values(), key=lambda item: item[0])
    if rows and not any(r[label_column].strip() for _, r in rows):
        raise AnnotationError(f"{path}: label column {label_column!r} is empty in every row")
    file_col = next((c for c in ("Begin File", "Begin Path") if c in col), None)
    if file_col and OFFSET not in col and len({r[file_col].strip() for _, r in rows}) > 1:
        raise AnnotationError(
            f"{path}: the table spans several recordings ({file_col!r} column) but has no "
            f"{OFFSET!r} column, so times within each recording are unknown"
        )
    events = _Events(path, label_column, empty_labels)
    for lineno, r in rows:
        start = _number(r[BEGIN], path, lineno, BEGIN)
        end = _number(r[END], path, lineno, END)
        _check_times(start, end, path, lineno)
        file = recording_stem(path)
        if file_col:
            file = r[file_col].strip()
            if not file:
                raise AnnotationError(f"{path}, row {lineno}: empty {file_col!r}")
            if OFFSET in col:
                offset = _number(r[OFFSET], path, lineno, OFFSET)
                start, end = offset, (end if offset == start else offset + (end - start))
        low = _number(r.get(LOW), path, lineno, LOW, optional=True)
        high = _number(r.get(HIGH), path, lineno, HIGH, optional=True)
        events.add(lineno, file, start, end, r[label_column].strip(), low, high)
    annotated = [e[0] for e in events.rows] if file_col else [recording_stem(path)]
    return events.frame(annotated)


def read_raven(
    path, label_column: str = "Annotation", audio_dir=None, empty_labels: str = "warn"
) -> pd.DataFrame:
    """Read one Raven Pro selection table, or every ``*.txt`` table under a folder.

    Parameters
    ----------
    path : str or path-like
        A tab-separated selection table, or a folder searched recursively for ``*.txt``
        (there, ``.txt`` files that are not tables at all, e.g. a licence, are skipped with a
        warning; a file with a ``Selection`` or ``Begin Time (s)`` header is a table).
    label_column : str
        The column holding the labels (e.g. ``"Annotation"``, ``"Species"``).
    audio_dir : str or path-like, optional
        When given, events are matched to audio under it (see :func:`match_audio`) and the
        matched events, with ``path`` and ``duration`` columns, are returned.
    empty_labels : {"warn", "drop", "error"}
        What to do with a selection whose label is empty: skip it with a warning naming the
        rows, skip it silently, or raise.

    Returns
    -------
    pandas.DataFrame
        The events table (see the module docstring). A selection shown in several views
        (``Waveform 1`` and ``Spectrogram 1`` rows with one ``Selection`` number) counts once.
        Without ``Begin File``/``Begin Path`` columns the recording is named after the table
        (``NAME.Table.1.selections.txt``, ``NAME.selections.txt`` or ``NAME.txt`` → ``NAME``);
        with them, each event's file comes from that column and its times from
        ``File Offset (s)``.

    Raises
    ------
    AnnotationError
        Not a Raven table, unknown or empty label column, bad numbers, end before start
        (all naming the file, and the row or column).
    """
    path = Path(path)
    if not path.is_dir():
        events = _read_raven_file(path, label_column, empty_labels)
    else:
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() == ".txt" and p.is_file())
        tables, skipped = [], []
        for p in (p for p in files if not p.name.startswith(".")):
            cells = [c.strip() for c in (_read_lines(p) or [""])[0].split("\t")]
            (tables if BEGIN in cells or "Selection" in cells else skipped).append(p)
        if skipped:
            names = ", ".join(str(p) for p in skipped[:5])
            _warn(f"skipped {len(skipped)} .txt file(s), not Raven tables: {names}")
        if not tables:
            raise AnnotationError(f"no Raven selection tables (*.txt) found under {path}")
        events = _concat([_read_raven_file(p, label_column, empty_labels) for p in tables])
    return events if audio_dir is None else match_audio(events, audio_dir).events


def read_audacity(path, audio_file=None, empty_labels: str = "warn") -> pd.DataFrame:
    """Read an Audacity label track (``start<TAB>end<TAB>label`` lines).

    Parameters
    ----------
    path : str or path-like
        The exported label file. A line starting with a backslash (``\\<TAB>low<TAB>high``)
        gives the frequency range of the label above it.
    audio_file : str, optional
        The recording the labels belong to; by default the label file's stem.
    empty_labels : {"warn", "drop", "error"}
        What to do with a label with no text (see :func:`read_raven`).

    Returns
    -------
    pandas.DataFrame
        The events table.

    Raises
    ------
    AnnotationError
        Bad numbers, missing fields, a frequency line with no label above it, end before start.
    """
    path = Path(path)
    file = str(audio_file) if audio_file is not None else path.stem
    events = _Events(path, "label", empty_labels)
    last = None  # line number of the last label line
    for lineno, line in enumerate(_read_lines(path), start=1):
        cells = line.split("\t")
        if not line.strip():
            continue
        if line.startswith("\\"):
            if last != lineno - 1 or len(cells) < 3:
                raise AnnotationError(
                    f"{path}, row {lineno}: a frequency line needs '\\<TAB>low<TAB>high' "
                    "right below a label line"
                )
            if events.rows and events.rows[-1][-1] == last:
                low = _number(cells[1], path, lineno, "low frequency")
                high = _number(cells[2], path, lineno, "high frequency")
                events.rows[-1] = events.rows[-1][:4] + (low, high) + events.rows[-1][6:]
            continue
        if len(cells) < 2:
            raise AnnotationError(f"{path}, row {lineno}: expected 'start<TAB>end<TAB>label'")
        start = _number(cells[0], path, lineno, "start")
        end = _number(cells[1], path, lineno, "end")
        events.add(lineno, file, start, end, "\t".join(cells[2:]).strip())
        last = lineno
    return events.frame([file])


def read_event_csv(
    path,
    file_column: str = "file",
    start_column: str = "start_time",
    end_column: str = "end_time",
    label_column: str = "label",
    low_freq_column: str | None = None,
    high_freq_column: str | None = None,
    empty_labels: str = "warn",
) -> pd.DataFrame:
    """Read a CSV of events, one row per event, with configurable column names.

    Parameters
    ----------
    path : str or path-like
        The CSV file.
    file_column, start_column, end_column, label_column : str
        Columns of the recording (name, or path relative to the CSV or to the audio folder),
        start and end (seconds) and label.
    low_freq_column, high_freq_column : str, optional
        Columns of the frequency range (Hz), when the CSV has them.
    empty_labels : {"warn", "drop", "error"}
        What to do with an event with an empty label (see :func:`read_raven`).

    Returns
    -------
    pandas.DataFrame
        The events table; ``file`` is kept as written in the CSV.

    Raises
    ------
    AnnotationError
        Missing columns, bad numbers, an empty file name, end before start.
    """
    path = Path(path)
    reader = csv.reader(_read_lines(path))
    header = [c.strip() for c in next(reader, [])]
    wanted = [file_column, start_column, end_column, label_column]
    wanted += [c for c in (low_freq_column, high_freq_column) if c is not None]
    missing = [c for c in wanted if c not in header]
    if missing:
        raise AnnotationError(f"{path}: missing column(s) {missing}; it has {header}")
    events = _Events(path, label_column, empty_labels)
    for cells in reader:
        row = reader.line_num
        r = dict(zip(header, (c.strip() for c in cells)))
        if not any(r.values()):
            continue
        if not r.get(file_column):
            raise AnnotationError(f"{path}, row {row}: empty value in column {file_column!r}")
        start = _number(r.get(start_column), path, row, start_column)
        end = _number(r.get(end_column), path, row, end_column)
        low = _number(r.get(low_freq_column), path, row, str(low_freq_column), optional=True)
        high = _number(r.get(high_freq_column), path, row, str(high_freq_column), optional=True)
        events.add(row, r[file_column], start, end, r.get(label_column, ""), low, high)
    return events.frame([e[0] for e in events.rows])


_READERS = {"raven": read_raven, "audacity": read_audacity, "csv": read_event_csv}


def read_annotations(path, format: str = "raven", **options) -> pd.DataFrame:
    """Read annotations in any supported format.

    Parameters
    ----------
    path : str or path-like
        The annotation file (or, for Raven, a folder of tables).
    format : {"raven", "audacity", "csv"}
        The format.
    **options
        Passed to :func:`read_raven`, :func:`read_audacity` or :func:`read_event_csv`.

    Returns
    -------
    pandas.DataFrame
        The events table.

    Raises
    ------
    AnnotationError
        An unknown format, or anything the reader raises.
    """
    if format not in _READERS:
        raise AnnotationError(f"unknown annotation format {format!r}; use one of {list(_READERS)}")
    return _READERS[format](path, **options)


def _fmt(x) -> str:
    return "" if x is None or pd.isna(x) else repr(float(x))


def write_raven(events: pd.DataFrame, path, label_column: str = "Annotation") -> Path:
    """Write events as a Raven Pro selection table, atomically.

    Parameters
    ----------
    events : pandas.DataFrame
        An events table (``file, start_time, end_time, label`` and optionally
        ``low_freq, high_freq``).
    path : str or path-like
        The ``.txt`` to write; name it ``NAME.Table.1.selections.txt`` for recording ``NAME``.
    label_column : str
        The name of the label column in the table.

    Returns
    -------
    pathlib.Path
        The path written. Numbers are written with full precision, so :func:`read_raven`
        gives the same events back. When the events span several recordings, or their one
        recording is not the one the table's name gives, ``Begin File`` and
        ``File Offset (s)`` columns keep each event's recording.

    Raises
    ------
    AnnotationError
        Missing columns, or a tab or newline in a label or file name.
    """
    path = Path(path)
    missing = [c for c in ("file", "start_time", "end_time", "label") if c not in events.columns]
    if missing:
        raise AnnotationError(f"cannot write {path}: events lack column(s) {missing}")
    files = [str(f) for f in events["file"]]
    with_file = len(set(files)) > 1 or (files and files[0] != recording_stem(path))
    header = ["Selection", "View", "Channel", BEGIN, END, LOW, HIGH]
    lines = ["\t".join(header + ["Begin File", OFFSET] * with_file + [label_column])]
    nan = pd.Series(math.nan, index=events.index)
    cols = [events["start_time"], events["end_time"], events.get("low_freq", nan)]
    cols += [events.get("high_freq", nan), events["label"]]
    for i, (file, start, end, low, high, label) in enumerate(zip(files, *cols), start=1):
        if any(ch in str(label) + file for ch in "\t\r\n"):
            raise AnnotationError(f"cannot write {path}: event {i} has a tab or newline in it")
        cells = [str(i), "Spectrogram 1", "1"] + [_fmt(x) for x in (start, end, low, high)]
        lines.append("\t".join(cells + [file, _fmt(start)] * with_file + [str(label)]))
    return atomic_write_text(path, "\n".join(lines) + "\n")


@dataclass(frozen=True)
class MatchReport:
    """Events matched to audio files (see :func:`match_audio`).

    Attributes
    ----------
    events : pandas.DataFrame
        The events table plus ``path`` (absolute audio path) and ``duration`` (seconds).
    recordings : pandas.DataFrame
        One row per annotated recording: ``path, duration, n_events``, including recordings
        annotated with no events (an empty table, or listed in ``fully_annotated``).
    tables_without_audio : list of str
        Recordings named by the tables for which no audio was found.
    audio_without_tables : list of str
        Audio files under the folder that no table mentions.
    """

    events: pd.DataFrame
    recordings: pd.DataFrame
    tables_without_audio: list = field(default_factory=list)
    audio_without_tables: list = field(default_factory=list)


def _duration(path) -> float:
    import soundfile

    try:
        return float(soundfile.info(str(path)).duration)
    except Exception as exc:  # libsndfile raises several types
        raise AnnotationError(f"cannot read the audio file {path}: {exc}") from exc


def match_audio(
    events: pd.DataFrame,
    audio_dir,
    audio_extensions=AUDIO_EXTENSIONS,
    fully_annotated=None,
    missing_audio: str = "error",
    tolerance: float = 0.05,
) -> MatchReport:
    """Resolve each event's recording to an audio file under ``audio_dir``.

    A recording name matches, in this order: an existing path relative to ``audio_dir`` or to
    the annotation file's folder; an audio file of that file name anywhere under
    ``audio_dir``; an audio file of that stem (name without extension).

    Parameters
    ----------
    events : pandas.DataFrame
        An events table from one of the readers.
    audio_dir : str or path-like
        Folder searched recursively for audio (hidden files skipped).
    audio_extensions : tuple of str
        Audio file extensions (any case).
    fully_annotated : bool or list of str, optional
        Recordings with no events that were nevertheless annotated (all their windows are
        negatives). ``True`` means every audio file under ``audio_dir``; a list names files
        (by path, name or stem). By default only recordings with events, or with an empty
        table, count as annotated; other audio is only reported in ``audio_without_tables``.
    missing_audio : {"error", "warn", "drop"}
        What to do with events whose recording is not found: raise (naming the table and row),
        or drop them with or without a warning.
    tolerance : float
        Seconds an event may run past the end of its recording.

    Returns
    -------
    MatchReport
        Matched events, annotated recordings and both kinds of mismatch.

    Raises
    ------
    AnnotationError
        Missing audio (by default), a name matching several audio files, an event ending past
        the end of its recording (naming the table and row), an unreadable audio file.
    """
    if missing_audio not in ("error", "warn", "drop"):
        raise AnnotationError(f"missing_audio must be 'error', 'warn' or 'drop': {missing_audio!r}")
    missing_cols = [c for c in ("file", "start_time", "end_time") if c not in events.columns]
    if missing_cols:
        raise AnnotationError(f"events lack column(s) {missing_cols}")
    if "source_file" not in events.columns:  # events built by hand
        events = events.assign(source_file="", source_row=0)
    audio_dir = Path(audio_dir).resolve()
    if not audio_dir.is_dir():
        raise AnnotationError(f"audio folder not found: {audio_dir}")
    exts = {e.lower() if e.startswith(".") else "." + e.lower() for e in audio_extensions}
    audio = sorted(
        p.resolve()
        for p in audio_dir.rglob("*")
        if p.suffix.lower() in exts and not p.name.startswith(".") and p.is_file()
    )
    by_name: dict[str, list[Path]] = {}
    for p in audio:
        by_name.setdefault(p.name, []).append(p)
        by_name.setdefault("stem:" + p.stem, []).append(p)

    def where(name: str, source_dir) -> list[Path]:
        for base in (audio_dir, source_dir):
            if base is not None and name and (base / name).is_file():
                return [(base / name).resolve()]
        short = PureWindowsPath(name).name  # the file name, with / or \ separators
        stem = Path(short).stem if Path(short).suffix.lower() in exts else short
        return by_name.get(short) or by_name.get("stem:" + stem, [])

    resolved: dict[tuple, str | None] = {}
    missing: dict[str, tuple[str, int]] = {}
    for file, src, row in zip(events["file"], events["source_file"], events["source_row"]):
        if (file, src) not in resolved:
            found = where(str(file), Path(src).parent if src else None)
            if len(found) > 1:
                raise AnnotationError(
                    f"{src}, row {row}: recording {file!r} matches several audio files: "
                    + ", ".join(str(p) for p in found[:5])
                )
            resolved[(file, src)] = str(found[0]) if found else None
            if not found:
                missing.setdefault(str(file), (src, int(row)))
    if missing and missing_audio == "error":
        detail = "; ".join(f"{f!r} ({src}, row {r})" for f, (src, r) in list(missing.items())[:5])
        raise AnnotationError(
            f"no audio under {audio_dir} for {len(missing)} recording(s): {detail}"
        )
    if missing and missing_audio == "warn":
        _warn(f"dropped the events of recordings with no audio: {list(missing)}")

    out = events.copy()
    out["path"] = [resolved[key] for key in zip(events["file"], events["source_file"])]
    out = out[out["path"].notna()].reset_index(drop=True)
    recs = dict.fromkeys(out["path"])
    for name in events.attrs.get("annotated_files", []):  # an empty table: annotated, no events
        found = where(str(name), None)
        if len(found) == 1:
            recs.setdefault(str(found[0]))
    mentioned = set(recs)
    if fully_annotated is True:
        recs.update((str(p), None) for p in audio if str(p) not in recs)
    elif fully_annotated:
        for name in fully_annotated:
            found = where(str(name), None)
            if len(found) != 1:
                raise AnnotationError(
                    f"fully_annotated names {name!r}, which matches {len(found)} audio file(s) "
                    f"under {audio_dir}"
                )
            recs.setdefault(str(found[0]))
    durations = {p: _duration(p) for p in recs}
    out["duration"] = out["path"].map(durations).astype(float)
    late = out[out["end_time"] > out["duration"] + tolerance]
    if len(late):
        r = late.iloc[0]
        raise AnnotationError(
            f"{r['source_file']}, row {r['source_row']}: event ends at {r['end_time']} s, past "
            f"the end of {r['path']} ({r['duration']:.3f} s); {len(late)} such event(s) in all"
        )
    counts = out["path"].value_counts()
    recordings = pd.DataFrame(
        {"path": list(recs), "duration": [durations[p] for p in recs]}
    ).assign(n_events=lambda d: [int(counts.get(p, 0)) for p in d["path"]])
    out.attrs = dict(events.attrs)
    return MatchReport(
        events=out,
        recordings=recordings,
        tables_without_audio=list(missing),
        audio_without_tables=[str(p) for p in audio if str(p) not in mentioned],
    )
