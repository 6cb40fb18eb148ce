"""``evaluate``: score a model bundle on a labeled table and print per-class metrics.

The table is either a clip table (``--filename-column`` plus a class column whose values are
the model's class names; ``--map VALUE=CLASS`` maps other values first; a run folder's
``valid.csv`` is read through its ``NumericLabels`` codes) or a window table (``file,
start_time, end_time`` plus one 0/1 column per class, as ``windows`` writes it; each window
is scored from its ``start_time``). A label or class column that is not a class of the model
is an error naming it, with the closest class.

Each class is judged one-vs-rest: a detection is ``score >= threshold`` of the class. The
thresholds are ``--threshold`` for every class, else the bundle's recorded per-class
thresholds, else 0.5. Printed and written per class: positives, precision, recall and F1 at
the threshold, average precision (AP), ROC AUC and the F1-optimal threshold; then the macro
mAP (mean AP over the classes with at least one positive; classes without positives have
NaN AP, recall and F1 and are left out).

The table (one row per class: ``class`` and the columns of
``woodcock_widgets.ml.evaluation.per_class_metrics``) is written atomically to ``--out``, by
default ``<LABELS stem>_evaluation.csv`` beside the labels table.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..errors import WoodcockError

#: Printed columns: (metrics column, header).
SHOWN = [
    ("positives", "positives"),
    ("threshold", "threshold"),
    ("precision", "precision"),
    ("recall", "recall"),
    ("f1", "F1"),
    ("ap", "AP"),
    ("roc_auc", "ROC AUC"),
    ("best_threshold", "best threshold"),
    ("best_f1", "best F1"),
]


def _check_arguments(args: argparse.Namespace) -> tuple[Path, Path]:
    """Everything that can be checked before loading anything (torch included)."""
    from ..ml.evaluation import default_output_path

    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:  # NaN too
        raise WoodcockError(f"--threshold must be in [0, 1] (a score), got {args.threshold}")
    if args.batch_size < 1:
        raise WoodcockError(f"--batch-size must be at least 1, got {args.batch_size}")
    labels = Path(args.labels)
    if not labels.is_file():
        raise WoodcockError(f"--labels: label table not found: {labels}")
    model = Path(args.model)
    if not model.is_file():
        raise WoodcockError(f"--model: model bundle not found: {model}")
    out = Path(args.out) if args.out else default_output_path(labels)
    if out.resolve() == labels.resolve():
        raise WoodcockError(f"--out {out} is the labels table itself; choose another file")
    if out.is_dir():
        raise WoodcockError(f"--out {out} is a folder; give a CSV file name")
    return labels, out


def _cell(value, column: str) -> str:
    if column == "positives":
        return str(int(value))
    value = float(value)
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def format_table(metrics) -> str:
    """The per-class table as aligned text (NaN as ``n/a``)."""
    header = ["class"] + [title for _, title in SHOWN]
    rows = [
        [str(name)] + [_cell(metrics.loc[name, col], col) for col, _ in SHOWN]
        for name in metrics.index
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]
        return "  ".join([first, *rest])

    return "\n".join(line(r) for r in [header, *rows])


def run(args: argparse.Namespace) -> int:
    from ..io_utils import atomic_write_csv
    from ..ml.bundle import ModelBundle
    from ..ml.evaluation import evaluate_bundle
    from ..tables.labeled import parse_mapping

    labels, out = _check_arguments(args)
    mapping = parse_mapping(args.map) or None
    bundle = ModelBundle.load(args.model)
    result = evaluate_bundle(
        bundle,
        labels,
        label_column=args.label_column,
        mapping=mapping,
        classes=args.classes,
        threshold=args.threshold,
        filename_column=args.filename_column,
        batch_size=args.batch_size,
        device=args.device,
    )
    rows = result.rows
    print(f"{len(rows.df)} {rows.kind} in {labels}, {len(rows.classes)} class(es)")
    for note in result.notes:
        print(f"note: {note}")
    print(format_table(result.metrics))
    kept = int((result.metrics["positives"] > 0).sum())
    mean = "n/a" if math.isnan(result.macro_map) else f"{result.macro_map:.3f}"
    print(f"macro mAP: {mean} (mean AP over {kept} class(es) with positives)")
    atomic_write_csv(out, result.metrics.reset_index())
    print(f"wrote {out}")
    return 0


def register(sub) -> None:
    """Add the command to the ``woodcock-widgets`` subparsers."""
    e = sub.add_parser(
        "evaluate",
        help="score a model on a labeled table; print and write per-class metrics",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    e.add_argument("--model", required=True, help="a model bundle (.pt)")
    e.add_argument(
        "--labels",
        required=True,
        help="clip table (filename + class column) or window table (file, start_time, "
        "end_time + 0/1 columns); paths relative to its folder",
    )
    e.add_argument(
        "--out", help="CSV of per-class metrics (default: <LABELS stem>_evaluation.csv beside it)"
    )
    e.add_argument(
        "--label-column",
        help="class column of a clip table (default: NumericLabels where present, else woodcock)",
    )
    e.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="VALUE=CLASS",
        help="map a label value to a model class before evaluating (repeatable)",
    )
    e.add_argument("--filename-column", default="filename", help="audio column of a clip table")
    e.add_argument(
        "--threshold",
        type=float,
        help="score threshold in [0, 1] for every class (default: the bundle's, else 0.5)",
    )
    e.add_argument(
        "--classes", nargs="+", metavar="CLASS", help="evaluate only these classes of the model"
    )
    e.add_argument("--batch-size", type=int, default=32, help="clips per forward pass")
    e.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    e.set_defaults(func=run)
