"""``predict``: score audio with a model bundle.

Two forms:

- ``predict --model BUNDLE AUDIO... --out SCORES.csv [--raven DIR]``: files and folders in
  this process, one CSV of scores;
- ``predict --model BUNDLE --audio-dir DIR --out OUT_DIR [--workers N] [--scheduler ADDRESS]
  [--format parquet|csv] [--include GLOB ...] [--exclude GLOB ...]``: a season of recordings
  on a Dask cluster, resumable (see :mod:`woodcock_widgets.workflow.folder_predict`).

Both check their arguments before any work: the threshold is a score in [0, 1], the detect
classes are classes of the model (with the closest name when one is misspelt). Detections
are of the classes the bundle has thresholds for, else of its positive class (see
:func:`~woodcock_widgets.ml.predict.default_detect_class`); ``--merge-gap`` joins
detections at most that many seconds apart into one Raven selection.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _expand_audio(paths: Sequence[str]) -> list[Path]:
    from ..workflow.discovery import find_audio

    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(find_audio(p).files)  # a folder without audio is an error naming it
        else:
            out.append(p)
    return out


def _check_arguments(args: argparse.Namespace) -> None:
    """Everything that can be checked before loading anything (torch included)."""
    from ..errors import PredictionError

    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:  # NaN too
        raise PredictionError(f"--threshold must be in [0, 1] (a score), got {args.threshold}")
    if args.merge_gap is not None and not args.merge_gap >= 0:
        raise PredictionError(f"--merge-gap must be >= 0 seconds, got {args.merge_gap}")
    if args.overlap < 0:
        raise PredictionError(f"--overlap must be >= 0 seconds, got {args.overlap}")
    if args.audio_dir is not None:
        if args.audio:
            raise PredictionError(
                f"give audio files or --audio-dir, not both (got {args.audio[0]} and "
                f"--audio-dir {args.audio_dir})"
            )
        if args.on_error == "raise":
            raise PredictionError(
                "--on-error raise does not apply to --audio-dir: failed files are listed in "
                "OUT_DIR/errors.csv and the run goes on"
            )
        if args.raven:
            raise PredictionError("with --audio-dir the Raven tables go to OUT_DIR/raven")
        if args.workers is not None and args.workers < 1:
            raise PredictionError(f"--workers must be at least 1, got {args.workers}")
        if args.workers is not None and args.scheduler:
            raise PredictionError("--workers sizes the local cluster: not with --scheduler")
        return
    if not args.audio:
        raise PredictionError("give audio files or folders, or --audio-dir DIR")
    folder_only = {
        "--workers": args.workers,
        "--scheduler": args.scheduler,
        "--format": args.format,
        "--include": args.include,
        "--exclude": args.exclude,
        "--retry-failed": args.retry_failed or None,
    }
    used = [flag for flag, value in folder_only.items() if value is not None]
    if used:
        raise PredictionError(f"{', '.join(used)} need(s) --audio-dir (the folder form)")


def _run_folder(args: argparse.Namespace) -> int:
    from ..workflow.folder_predict import predict_folder

    summary = predict_folder(
        args.model,
        args.audio_dir,
        args.out,
        workers=args.workers,
        scheduler=args.scheduler,
        fmt=args.format or "parquet",
        include=args.include,
        exclude=args.exclude,
        overlap=args.overlap,
        detect_classes=args.detect_class,
        threshold=args.threshold,
        merge_gap=args.merge_gap,
        batch_size=args.batch_size,
        precision=args.precision,
        compile=args.compile,
        progress=not args.no_progress,
        retry_failed=args.retry_failed,
    )
    print(summary)
    return 0


def _run_files(args: argparse.Namespace) -> int:
    files = _expand_audio(args.audio)  # before importing torch: a wrong folder fails fast

    from ..errors import PredictionError
    from ..io_utils import atomic_write_csv
    from ..ml.bundle import ModelBundle
    from ..ml.predict import (
        detect,
        detection_thresholds,
        merge_detections,
        predict,
        to_raven_table,
        write_raven_table,
    )

    bundle = ModelBundle.load(args.model)
    thresholds = detection_thresholds(bundle, args.detect_class, args.threshold)
    scores = predict(
        bundle,
        files,
        overlap=args.overlap,
        batch_size=args.batch_size,
        on_error=args.on_error or "raise",
        precision=args.precision,
        compile=args.compile,
    )
    skipped = scores.attrs.get("skipped", [])
    if files and len(skipped) == len(files):
        raise PredictionError(
            f"none of the {len(files)} file(s) could be read (first: {skipped[0][1]})"
        )
    atomic_write_csv(args.out, scores)
    scored = len(files) - len(skipped)
    note = f"; {len(skipped)} skipped" if skipped else ""
    print(f"wrote {args.out} ({len(scores)} windows from {scored} file(s){note})")
    for f, reason in skipped:
        print(f"skipped {f}: {reason}", file=sys.stderr)
    if args.raven:
        stems = [Path(f).stem for f in files]
        n_dets = 0
        for i, f in enumerate(files):
            part = scores[scores["file"] == str(f)]
            if part.empty:
                continue
            dets = detect(part, thresholds)
            if args.merge_gap is not None:
                dets = merge_detections(dets, args.merge_gap)
            n_dets += len(dets)
            # two inputs with one name (from different folders) must not overwrite each other
            stem = stems[i] if stems.count(stems[i]) == 1 else f"{stems[i]}_{i + 1}"
            out = Path(args.raven) / f"{stem}.selections.txt"
            write_raven_table(
                to_raven_table(dets, high_freq=bundle.preprocessing.sample_rate / 2), out
            )
        what = ", ".join(f"{c!r} at {t:g}" for c, t in thresholds.items())
        merged = f", merged within {args.merge_gap:g} s" if args.merge_gap is not None else ""
        print(f"wrote Raven tables ({n_dets} selection(s) of {what}{merged}) in {args.raven}")
    return 0


def run(args: argparse.Namespace) -> int:
    _check_arguments(args)
    return _run_folder(args) if args.audio_dir is not None else _run_files(args)


def register(sub) -> None:
    """Add the command to the ``woodcock-widgets`` subparsers."""
    r = sub.add_parser(
        "predict",
        help="score audio files, or a folder of recordings on a Dask cluster",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument("--model", required=True, help="a model bundle (.pt)")
    r.add_argument("audio", nargs="*", help="audio files or folders (the file list form)")
    r.add_argument(
        "--audio-dir",
        help="folder (searched recursively) or glob of recordings: the folder form",
    )
    r.add_argument(
        "--out", required=True, help="CSV of scores; with --audio-dir, the output folder"
    )
    r.add_argument("--overlap", type=float, default=0.0, help="window overlap in seconds")
    r.add_argument(
        "--detect-class",
        action="append",
        help="class to detect (repeatable; default: the classes the bundle has thresholds "
        "for, else its positive class)",
    )
    r.add_argument(
        "--threshold",
        type=float,
        help="score threshold in [0, 1] for every detected class (default: the bundle's, else 0.5)",
    )
    r.add_argument(
        "--merge-gap",
        type=float,
        metavar="SECONDS",
        help="merge detections at most this far apart into one selection (0: touching)",
    )
    r.add_argument("--batch-size", type=int, default=32, help="windows per forward pass")
    r.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16", "fp16", "int8"],
        default="auto",
        help="auto: as training runs on this hardware (bf16 where the CPU has it); int8 "
        "(CPU, opt-in): about twice as fast, scores within about 0.01 of float, calibrated "
        "on windows of the recordings (the folder form keeps it in OUT_DIR)",
    )
    r.add_argument(
        "--compile",
        action="store_true",
        help="compile the model once (per worker) with torch.compile: tens of seconds, then "
        "less CPU per window, for long runs; falls back to the plain model with a warning",
    )
    files = r.add_argument_group("file list form")
    files.add_argument("--raven", help="folder for Raven selection tables of detections")
    files.add_argument("--on-error", choices=["raise", "skip"], help="default: raise")
    folder = r.add_argument_group("folder form (--audio-dir)")
    folder.add_argument("--workers", type=int, help="local worker processes (default: sized)")
    folder.add_argument("--scheduler", metavar="ADDRESS", help="submit to this Dask scheduler")
    folder.add_argument("--format", choices=["parquet", "csv"], help="score files (parquet)")
    folder.add_argument("--include", action="append", metavar="GLOB", help="keep matches only")
    folder.add_argument("--exclude", action="append", metavar="GLOB", help="drop matches")
    folder.add_argument(
        "--retry-failed", action="store_true", help="try again files that failed before"
    )
    folder.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.set_defaults(func=run)
