"""``make-data``: write the built-in woodcock-like dataset."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from ..data.synthetic import make_woodcock_dataset

    csv = make_woodcock_dataset(
        args.out_dir, n_song=args.n_song, n_call=args.n_call, n_absent=args.n_absent, seed=args.seed
    )
    print(f"wrote {csv} ({args.n_song + args.n_call + args.n_absent} clips)")
    return 0


def register(sub) -> None:
    """Add the command to the ``woodcock-widgets`` subparsers."""
    d = sub.add_parser("make-data", help="write the built-in woodcock-like dataset")
    d.add_argument("out_dir")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--n-song", type=int, default=20)
    d.add_argument("--n-call", type=int, default=2)
    d.add_argument("--n-absent", type=int, default=7)
    d.set_defaults(func=run)
