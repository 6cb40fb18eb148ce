"""``predict``: score audio files with a model bundle."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff"}


def _expand_audio(paths: Sequence[str]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.suffix.lower() in AUDIO_SUFFIXES))
        else:
            out.append(p)
    return out


def run(args: argparse.Namespace) -> int:
    from ..io_utils import atomic_write_csv
    from ..ml.bundle import ModelBundle
    from ..ml.predict import detections, predict, to_raven_table, write_raven_table

    bundle = ModelBundle.load(args.model)
    files = _expand_audio(args.audio)
    scores = predict(bundle, files, overlap=args.overlap, on_error=args.on_error)
    atomic_write_csv(args.out, scores)
    print(f"wrote {args.out} ({len(scores)} windows from {len(files)} file(s))")
    for f, reason in scores.attrs.get("skipped", []):
        print(f"skipped {f}: {reason}", file=sys.stderr)
    if args.raven:
        target = args.detect_class or bundle.class_names[-1]
        stems = [Path(f).stem for f in files]
        for i, f in enumerate(files):
            part = scores[scores["file"] == str(f)]
            if part.empty:
                continue
            dets = detections(part, target, args.threshold)
            # two inputs with one name (from different folders) must not overwrite each other
            stem = stems[i] if stems.count(stems[i]) == 1 else f"{stems[i]}_{i + 1}"
            out = Path(args.raven) / f"{stem}.selections.txt"
            write_raven_table(
                to_raven_table(dets, high_freq=bundle.preprocessing.sample_rate / 2), out
            )
        print(
            f"wrote Raven tables for class {target!r} (threshold {args.threshold}) in {args.raven}"
        )
    return 0


def register(sub) -> None:
    """Add the command to the ``woodcock-widgets`` subparsers."""
    r = sub.add_parser("predict", help="score audio files with a model bundle")
    r.add_argument("--model", required=True, help="a model bundle (.pt)")
    r.add_argument("audio", nargs="+", help="audio files or folders")
    r.add_argument("--out", required=True, help="CSV of scores")
    r.add_argument("--overlap", type=float, default=0.0, help="window overlap in seconds")
    r.add_argument("--raven", help="folder for Raven selection tables of detections")
    r.add_argument("--detect-class", help="class to detect (default: the last class)")
    r.add_argument("--threshold", type=float, default=0.5)
    r.add_argument("--on-error", choices=["raise", "skip"], default="raise")
    r.set_defaults(func=run)
