"""``tutorial``: run the notebook chain with papermill."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from ..tutorial.runner import parse_parameters, run_tutorial

    run_tutorial(args.run_dir, parse_parameters(args.parameter), resume=args.resume)
    return 0


def register(sub) -> None:
    """Add the command to the ``woodcock-widgets`` subparsers."""
    u = sub.add_parser("tutorial", help="run the notebook chain with papermill")
    u.add_argument("--run-dir", required=True)
    u.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="set a notebook parameter (repeatable), e.g. -p epochs 3; -p preset smoke for a "
        "tiny run",
    )
    u.add_argument("--resume", action="store_true", help="rerun only the stages not yet done")
    u.set_defaults(func=run)
