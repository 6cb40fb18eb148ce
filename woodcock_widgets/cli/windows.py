"""``windows``: cut annotated recordings into labelled windows (a window-table CSV).

Reads annotations (Raven selection tables, Audacity label tracks or a CSV of events), matches
them to the audio under ``--audio-dir``, cuts every annotated recording into windows of
``--clip-seconds`` every ``--step`` seconds, labels each window 0/1 for each class, writes the
window table and prints the per-class counts. No audio is cut to disk.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from ..errors import WoodcockError

FORMATS = ("raven", "audacity", "csv")
DEFAULT_LABEL_COLUMN = {"raven": "Annotation", "csv": "label"}


def per_class_value(values, option: str, classes: list[str], default):
    """``["0.1", "a=0.02"]`` → ``{class: value}`` (a bare number is every class's default).

    Returns the single number when no class is named, so the core gets a plain float.
    """
    if not values:
        return default
    base, named = default, {}
    for text in values:
        name, sep, number = str(text).rpartition("=")
        try:
            value = float(number)
        except ValueError:
            raise WoodcockError(f"{option}: not a number: {text!r}") from None
        if value < 0:
            raise WoodcockError(f"{option}: must be >= 0, got {text!r}")
        if not sep:
            base = value
        elif name not in classes:
            raise WoodcockError(f"{option}: unknown class {name!r} in {text!r}; classes: {classes}")
        else:
            named[name] = value
    if not named:
        return base
    return {c: named.get(c, base) for c in classes if named.get(c, base) is not None}


def _read_events(args: argparse.Namespace):
    from ..tables._events import _concat as concat_events
    from ..tables.annotations import read_annotations, read_audacity

    path = Path(args.annotations)
    if not path.exists():
        raise WoodcockError(f"--annotations: not found: {path}")
    if args.format == "audacity":
        if args.label_column is not None:
            raise WoodcockError(
                "--label-column does not apply to Audacity labels (the label is the 3rd field)"
            )
        if path.is_dir():  # one label track per recording, named after it
            tracks = sorted(p for p in path.rglob("*.txt") if not p.name.startswith("."))
            if not tracks:
                raise WoodcockError(f"no Audacity label files (*.txt) under {path}")
            return concat_events([read_audacity(p, empty_labels=args.empty_labels) for p in tracks])
        return read_audacity(path, empty_labels=args.empty_labels)
    label_column = args.label_column or DEFAULT_LABEL_COLUMN[args.format]
    options = {"label_column": label_column, "empty_labels": args.empty_labels}
    if args.format == "csv":
        options.update(
            file_column=args.file_column or "file",
            start_column=args.start_column or "start_time",
            end_column=args.end_column or "end_time",
        )
    return read_annotations(path, args.format, **options)


def _make(args: argparse.Namespace, audio_dir: Path, clip: float):
    """Read, match, cut and write; returns (windows, match report, path written)."""
    from ..tables.matching import match_audio
    from ..tables.windows import make_windows, write_window_table

    events = _read_events(args)
    report = match_audio(
        events,
        audio_dir,
        fully_annotated=True if args.fully_annotated else None,
        missing_audio=args.missing_audio,
    )
    labels = sorted(report.events["label"].astype(str).unique())
    classes = list(args.classes) if args.classes else labels
    unknown = sorted(set(args.classes or []) - set(labels))
    if unknown:
        print(f"warning: --classes names class(es) with no event: {unknown}", file=sys.stderr)
    windows = make_windows(
        report,
        report.events,
        clip_seconds=clip,
        step=args.step,
        min_overlap=per_class_value(args.min_overlap, "--min-overlap", classes, 0.0),
        min_fraction=per_class_value(args.min_fraction, "--min-fraction", classes, None),
        classes=classes,
        pad_short=args.pad_short,
    )
    if windows.empty:
        raise WoodcockError(f"no windows: no annotated recording found under {audio_dir}")
    out = write_window_table(windows, args.out)
    return windows, report, out


def run(args: argparse.Namespace) -> int:
    from ..audio.preprocessing import Preprocessing
    from ..tables.windows import class_counts

    if args.format != "csv":
        given = [o for o in ("file_column", "start_column", "end_column") if getattr(args, o)]
        if given:
            flags = ", ".join("--" + o.replace("_", "-") for o in given)
            raise WoodcockError(f"{flags} only apply to --format csv")
    audio_dir = Path(args.audio_dir)
    if not audio_dir.is_dir():
        raise WoodcockError(f"--audio-dir: audio folder not found: {audio_dir}")
    clip = Preprocessing().clip_seconds if args.clip_seconds is None else args.clip_seconds
    if not clip > 0 or (args.step is not None and not args.step > 0):
        raise WoodcockError(f"--clip-seconds and --step must be positive: {clip}, {args.step}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        try:
            windows, report, out = _make(args, audio_dir, clip)
        finally:  # shown also when an error follows them
            for w in caught:
                print(f"warning: {w.message}", file=sys.stderr)
    n_files = windows["file"].nunique()
    step = clip if args.step is None else args.step
    print(
        f"wrote {out} ({len(windows)} windows of {clip:g} s, step {step:g} s, "
        f"from {n_files} recording(s), {len(report.events)} event(s))"
    )
    if report.tables_without_audio:
        print(f"tables without audio (dropped): {report.tables_without_audio}")
    if report.audio_without_tables:
        print(
            f"audio without tables (not used; --fully-annotated keeps them as negatives): "
            f"{len(report.audio_without_tables)} file(s)"
        )
    print(class_counts(windows).to_string())
    return 0


def register(sub) -> None:
    """Add the command to the ``woodcock-widgets`` subparsers."""
    w = sub.add_parser(
        "windows",
        help="cut annotated recordings into labelled windows (a window-table CSV)",
        description=__doc__.splitlines()[0],
    )
    w.add_argument("--annotations", required=True, help="annotation file or folder of tables")
    w.add_argument("--audio-dir", required=True, help="folder searched for the recordings")
    w.add_argument("--out", required=True, help="window table CSV to write")
    w.add_argument("--format", choices=FORMATS, default="raven", help="annotation format")
    w.add_argument(
        "--label-column",
        help="label column (default: 'Annotation' for Raven, 'label' for CSV), e.g. Species",
    )
    w.add_argument(
        "--clip-seconds", type=float, help="window length in seconds (default: the model's, 2)"
    )
    w.add_argument("--step", type=float, help="seconds between window starts (default: a clip)")
    w.add_argument(
        "--min-overlap",
        nargs="+",
        metavar="S",
        help="least overlap in seconds of an event with a window; CLASS=S sets one class",
    )
    w.add_argument(
        "--min-fraction",
        nargs="+",
        metavar="F",
        help="least overlap as a fraction of the event (capped at the window); CLASS=F per class",
    )
    w.add_argument("--classes", nargs="+", metavar="CLASS", help="classes to keep, in order")
    w.add_argument(
        "--fully-annotated",
        action="store_true",
        help="audio with no table was annotated and holds no events (all windows negative)",
    )
    w.add_argument(
        "--missing-audio",
        choices=["error", "warn", "drop"],
        default="error",
        help="events whose recording is not found: fail (default), or drop them",
    )
    w.add_argument(
        "--empty-labels",
        choices=["warn", "drop", "error"],
        default="warn",
        help="events with an empty label: skip with a warning (default), skip, or fail",
    )
    w.add_argument("--pad-short", action="store_true", help="one padded window for short files")
    w.add_argument("--file-column", help="CSV format: recording column (default: file)")
    w.add_argument("--start-column", help="CSV format: start column (default: start_time)")
    w.add_argument("--end-column", help="CSV format: end column (default: end_time)")
    w.set_defaults(func=run)
