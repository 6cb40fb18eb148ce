"""Command line: ``woodcock-widgets COMMAND ...`` (also ``python -m woodcock_widgets``).

One module per command, each with ``register(subparsers)`` and ``run(args)``. User errors
print one line naming the file, row or column and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import WoodcockError
from . import evaluate, make_data, predict, train, tutorial, windows

COMMANDS = (make_data, windows, train, evaluate, predict, tutorial)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used by the docs and tests)."""
    p = argparse.ArgumentParser(prog="woodcock-widgets", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``woodcock-widgets`` and ``python -m woodcock_widgets``."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except WoodcockError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
