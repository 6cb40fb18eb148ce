"""``make-data``: write the built-in woodcock-like dataset.

The default is what notebook 01 makes: the ``tutorial`` size (150 song, 30 call, 120 absent
clips), ``field`` difficulty. ``--size original`` gives the original tutorial's 29 clips
(20/2/7), too few to train on but quick to look through; ``--n-song`` and friends override
single counts.
"""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from ..data.synthetic import DATASET_SIZES, make_woodcock_dataset

    counts = dict(DATASET_SIZES[args.size])
    for name in counts:
        if getattr(args, name) is not None:
            counts[name] = getattr(args, name)
    csv = make_woodcock_dataset(args.out_dir, seed=args.seed, difficulty=args.difficulty, **counts)
    print(f"wrote {csv} ({sum(counts.values())} clips, {args.difficulty})")
    return 0


def register(sub) -> None:
    """Add the command to the ``woodcock-widgets`` subparsers."""
    from ..data.synthetic import DATASET_SIZES, DIFFICULTIES

    d = sub.add_parser(
        "make-data",
        help="write the built-in woodcock-like dataset",
        description="Write generated woodcock-like clips and woodcock_labels.csv. The default "
        "is notebook 01's: 300 clips (150 song, 30 call, 120 absent), field difficulty.",
    )
    d.add_argument("out_dir")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument(
        "--size",
        choices=list(DATASET_SIZES),
        default="tutorial",
        help="clip counts: tutorial 150/30/120 (the notebooks'), original 20/2/7 (the original "
        "tutorial's 29 clips), smoke 8/4/8 (default: tutorial)",
    )
    d.add_argument(
        "--difficulty",
        choices=list(DIFFICULTIES),
        default="field",
        help="field: faint and cut songs, nighthawk look-alikes, choruses, rain, wind and ~3%% "
        "wrong labels; easy: clean clips any model gets right (default: field)",
    )
    d.add_argument("--n-song", type=int, default=None, help="clips with a song (overrides --size)")
    d.add_argument("--n-call", type=int, default=None, help="clips with only the call note")
    d.add_argument("--n-absent", type=int, default=None, help="clips without a woodcock")
    d.set_defaults(func=run)
