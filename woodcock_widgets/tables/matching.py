"""Matching annotation events to audio files, with a report of what did not match.

:func:`match_audio` resolves each event's recording (as a table names it: a path, a file name
or a stem) to one audio file under a folder, reads the recordings' durations, checks that no
event runs past its recording, and reports tables without audio and audio without tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath

import pandas as pd

from woodcock_widgets.errors import AnnotationError
from woodcock_widgets.tables._events import _warn
from woodcock_widgets.tables.annotations import AUDIO_EXTENSIONS

__all__ = ["MatchReport", "match_audio"]


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
