"""Annotation readers: Raven Pro, Audacity and CSV events as one tidy events table.

Every reader returns an *events table*: a pandas DataFrame with the columns of
:data:`EVENT_COLUMNS`, in that order: ``file, start_time, end_time, label, low_freq,
high_freq, source_file, source_row``. ``file`` is the recording's stem or file name as the
table names it, until :func:`~woodcock_widgets.tables.matching.match_audio` resolves it to an
audio path; ``low_freq`` and ``high_freq`` are NaN where the format has no frequencies;
``source_file`` and ``source_row`` (1-based line in the source file) say where each event came
from, for error messages.

Each reader also records, in ``events.attrs["annotated_files"]``, the recordings its tables
covered, including tables with a header and no rows: such a recording was annotated and holds
no events, so ``match_audio`` keeps it as an all-negative recording.
"""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path

import pandas as pd

from woodcock_widgets.errors import AnnotationError
from woodcock_widgets.io_utils import atomic_write_text
from woodcock_widgets.tables._events import (
    EVENT_COLUMNS,
    _check_times,
    _concat,
    _Events,
    _number,
    _read_lines,
    _warn,
)

__all__ = ["EVENT_COLUMNS", "AUDIO_EXTENSIONS", "recording_stem", "read_raven"]
__all__ += ["read_audacity", "read_event_csv", "read_annotations", "write_raven"]
__all__ += ["read_raven_selections"]

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".aif", ".aiff")
BEGIN, END, LOW, HIGH = "Begin Time (s)", "End Time (s)", "Low Freq (Hz)", "High Freq (Hz)"
OFFSET = "File Offset (s)"
_TABLE_SUFFIX = re.compile(r"(\.table\.\d+)?(\.selections)?\.txt$", re.IGNORECASE)


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
        When given, events are matched to audio under it (see
        :func:`~woodcock_widgets.tables.matching.match_audio`) and the matched events, with
        ``path`` and ``duration`` columns, are returned.
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
    if audio_dir is None:
        return events
    from woodcock_widgets.tables.matching import match_audio

    return match_audio(events, audio_dir).events


def read_raven_selections(path) -> pd.DataFrame:
    """One Raven selection table as it is: its own columns, one row per line, numbers typed.

    The raw table (no view de-duplication, no events table), for the round trip of a table
    written by :func:`woodcock_widgets.tables.raven.write_raven_table`; read with the same
    decoding as :func:`read_raven` (UTF-8 with or without BOM, else Latin-1). The empty
    column a trailing tab makes is dropped.

    Raises
    ------
    AnnotationError
        A missing or empty file, or a table without ``Begin Time (s)`` / ``End Time (s)``.
    """
    path = Path(path)
    lines = _read_lines(path)
    if not "".join(lines).strip():
        raise AnnotationError(f"Raven table is empty: {path}")
    table = pd.read_csv(io.StringIO("\n".join(lines)), sep="\t")
    table = table.loc[:, [c for c in table.columns if not str(c).startswith("Unnamed:")]]
    missing = [c for c in (BEGIN, END) if c not in table.columns]
    if missing:
        raise AnnotationError(f"{path} is not a Raven selection table: missing column(s) {missing}")
    return table


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


def __getattr__(name: str):
    # match_audio and MatchReport moved to tables.matching; old imports keep working
    if name in ("match_audio", "MatchReport"):
        from woodcock_widgets.tables import matching

        return getattr(matching, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
