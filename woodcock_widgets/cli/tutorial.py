"""``tutorial``: run a notebook chain with papermill (``--chain``: classroom or own-recordings)."""

from __future__ import annotations

import argparse

#: The chains (``tutorial.parameters.CHAINS``, named here so that building the parser imports
#: no torch; a test checks that the two agree). The first is the default.
CHAINS = ("classroom", "own-recordings")


def run(args: argparse.Namespace) -> int:
    from ..tutorial.runner import parse_parameters, run_tutorial

    run_tutorial(
        args.run_dir, parse_parameters(args.parameter), resume=args.resume, chain=args.chain
    )
    return 0


def register(sub) -> None:
    """Add the command to the ``woodcock-widgets`` subparsers."""
    u = sub.add_parser(
        "tutorial",
        help="run a notebook chain with papermill",
        description="Run a notebook chain with papermill, every stage into one run folder: "
        "classroom (the tutorial on built-in data, the default) or own-recordings (your "
        "annotation tables and recordings → windows → model → evaluation → detections; "
        "needs -p audio_dir DIR -p annotations PATH).",
    )
    u.add_argument("--run-dir", required=True)
    u.add_argument(
        "--chain",
        choices=CHAINS,
        default=CHAINS[0],
        help="which notebook chain (default: classroom)",
    )
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
