"""``python -m woodcock_widgets``: the command line (see :mod:`woodcock_widgets.cli`)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
