"""``train``: train a classifier into a run folder.

Two kinds of ``--labels`` table:

* a **window table** (header ``file, start_time, end_time`` + one 0/1 column per class, as
  ``woodcock-widgets windows`` writes it): each window is read from its ``start_time``, the
  clip length defaults to the windows' length, and windows of one recording never straddle
  train and validation (``--group-column file``). Multi-label (one sigmoid per class) when a
  window can hold several classes or none, single-target otherwise; ``--multi-label`` /
  ``--single-target`` override. ``--classes`` keeps some class columns.
* a **clip table** (``filename`` + ``--label-column``, ``--map`` to remap): one class per
  clip, read from the start of each file. Clips shorter than ``--clip-seconds`` get a
  warning (they are zero-padded). Corrections from a review (``--corrections CSV``, by
  default ``corrections.csv`` in the run folder when there is one) are applied first, and
  the number of labels they change is printed. With ``--resume`` they relabel the run's
  recorded split (``train.csv``/``valid.csv``) before it continues.

Every epoch's ``history.csv`` row has ``valid_map`` and one ``valid_ap_<class>`` column; the
best epoch is chosen by ``valid_map`` (multi-label) or ``valid_f1`` (single-target). A class
with no positive in train or validation is kept, with a warning naming it.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from ..errors import WoodcockError
from ._progress import TqdmProgress

WINDOW_HEADER = ("file", "start_time", "end_time")


def _is_window_csv(path: Path) -> bool:
    import pandas as pd

    try:
        header = pd.read_csv(path, nrows=0, encoding="utf-8-sig")
    except Exception:  # the table's own reader gives the real error
        return False
    return set(WINDOW_HEADER) <= {str(c).strip() for c in header.columns}


def _check(args: argparse.Namespace) -> None:
    """Refuse bad option values before any work."""
    if args.clip_seconds is not None and not args.clip_seconds > 0:
        raise WoodcockError(f"--clip-seconds must be positive, got {args.clip_seconds}")
    for name in ("sample_rate", "image_size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise WoodcockError(f"--{name.replace('_', '-')} must be a positive integer")


def _table(args: argparse.Namespace, labels: Path):
    """The LabeledTable (clips) or WindowLabels (windows) of ``--labels``."""
    from ..workflow.pipeline import parse_mapping, prepare_labels, prepare_windows

    multi = True if args.multi_label else (False if args.single_target else None)
    if _is_window_csv(labels):
        if args.map:
            raise WoodcockError("--map applies to clip tables; a window table has class columns")
        return prepare_windows(labels, args.classes or None, multi)
    if args.classes:
        raise WoodcockError(
            "--classes chooses class columns of a window table (file, start_time, end_time, "
            "one 0/1 column per class); for a clip table use --map"
        )
    if multi:
        raise WoodcockError(
            "--multi-label needs a window table (one 0/1 column per class); a clip table has "
            "one class per clip"
        )
    return prepare_labels(labels, args.label_column, parse_mapping(args.map) or None)


def _corrections(args: argparse.Namespace, windows: bool) -> Path | None:
    from ..workflow.run_folder import RunFolder

    if args.corrections:
        path = Path(args.corrections)
        if not path.is_file():
            raise WoodcockError(f"--corrections: not found: {path}")
        if windows:
            raise WoodcockError(
                "--corrections names clips of a clip table; correct a window table's class "
                "columns in the table itself"
            )
        return path
    default = RunFolder(args.run_dir).corrections_csv
    if default.is_file():
        if windows:
            print(f"note: {default} is not applied to a window table", file=sys.stderr)
            return None
        return default
    return None


def _recorded_windows(run_dir) -> bool:
    """Whether the run in ``run_dir`` trains on windows (as its config.json records)."""
    from ..workflow.run_folder import RunFolder

    try:
        return RunFolder(run_dir).read_config().get("table") == "windows"
    except WoodcockError:
        return False  # resuming says what is wrong with the folder


def _say_corrections(trainer, corrections: Path | None) -> None:
    if corrections is not None:
        changed = trainer.extra_config["corrections"]["changed"]
        print(f"corrections: {changed} label(s) changed by {corrections}")


def _new(args: argparse.Namespace, progress):
    from ..audio.preprocessing import Preprocessing
    from ..ml.training_config import TrainingConfig
    from ..tables.labeled_windows import WindowLabels
    from ..workflow.pipeline import new_trainer, parse_mapping

    if not args.labels:
        raise WoodcockError("train needs --labels CSV (or --resume with an existing run)")
    labels = Path(args.labels)
    table = _table(args, labels)
    windows = isinstance(table, WindowLabels)
    corrections = _corrections(args, windows)
    config = TrainingConfig(
        epochs=5 if args.epochs is None else args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        seed=args.seed,
        log_every=args.log_every,
        device=args.device,
        precision=args.precision,
    )
    clip = args.clip_seconds
    if clip is None:
        clip = round(table.window_seconds(), 6) if windows else Preprocessing().clip_seconds
    pre = {"clip_seconds": clip, "image_shape": (args.image_size, args.image_size)}
    if args.sample_rate:
        pre["sample_rate"] = args.sample_rate
    extra = {"labels": str(labels.resolve())}
    if not windows:
        extra.update(label_column=args.label_column, mapping=parse_mapping(args.map))
    trainer = new_trainer(
        table,
        args.run_dir,
        config,
        train_fraction=args.train_fraction,
        group_column=args.group_column,
        arch=args.arch,
        pretrained=not args.no_pretrained,
        weights_path=args.weights,
        on_missing_weights=args.on_missing_weights,
        preprocessing=Preprocessing(**pre),
        augment=args.augment,
        callbacks=progress,
        extra_config=extra,
        pos_weight="balanced" if args.pos_weight_balanced else None,
        corrections=corrections,
    )
    _say_corrections(trainer, corrections)
    kind = "multi-label" if trainer.multi_label else "single-target"
    n_valid = len(trainer.valid_dataset) if trainer.valid_dataset is not None else 0
    print(
        f"{kind}, {len(trainer.class_names)} classes; {len(trainer.train_dataset)} train and "
        f"{n_valid} validation {'windows' if windows else 'clips'}"
    )
    return trainer


def run(args: argparse.Namespace) -> int:
    from ..ml.jobs import TrainingJob
    from ..workflow.pipeline import resume_trainer

    _check(args)
    if args.method == "embeddings":
        from ._train_embeddings import run_embeddings

        if not args.labels:
            raise WoodcockError("train --method embeddings needs --labels CSV")
        return run_embeddings(args, _table(args, Path(args.labels)))
    progress = [TqdmProgress()]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        if args.resume:
            corrections = _corrections(args, _recorded_windows(args.run_dir))
            trainer = resume_trainer(
                args.run_dir, epochs=args.epochs, callbacks=progress, corrections=corrections
            )
            _say_corrections(trainer, corrections)
        else:
            trainer = _new(args, progress)
    for w in caught:  # after an error only the error is printed (one line)
        print(f"warning: {w.message}", file=sys.stderr)
    import signal

    # Ctrl-C stops at the next batch and keeps the run folder consistent; the caller's
    # handler comes back afterwards (``main`` may run inside a longer-lived Python process)
    before = signal.signal(signal.SIGINT, lambda *_: trainer.stop())
    try:
        history = TrainingJob(trainer).wait()  # the runner the widgets and scripts use too
    finally:
        signal.signal(signal.SIGINT, before)
    last = history.last
    metric = trainer.best_metric
    print(
        f"{trainer.status}: {len(history)} epoch(s) in {args.run_dir}"
        + (
            f"; best {metric} {trainer.best_score:.3f} (epoch {trainer.best_epoch})"
            if last and metric in last
            else ""
        )
    )
    return 0 if trainer.status == "finished" else 1


def register(sub) -> None:
    """Add the command to the ``woodcock-widgets`` subparsers."""
    t = sub.add_parser("train", help="train a classifier into a run folder")
    t.add_argument(
        "--labels",
        help="label CSV: a window table (file, start_time, end_time, one 0/1 column per "
        "class) or a clip table (filename + --label-column); paths relative to its folder",
    )
    t.add_argument("--run-dir", required=True)
    t.add_argument("--label-column", default="woodcock", help="class column of a clip table")
    t.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="VALUE=CLASS",
        help="remap a label value to a class (repeatable), e.g. call=absent",
    )
    t.add_argument(
        "--classes", nargs="+", metavar="CLASS", help="window table: the class columns to train"
    )
    mode = t.add_mutually_exclusive_group()
    mode.add_argument(
        "--multi-label",
        action="store_true",
        help="one sigmoid per class (default for a window table whose windows hold 0 or 2+ "
        "classes)",
    )
    mode.add_argument(
        "--single-target",
        action="store_true",
        help="one softmax over the classes (every window must hold exactly one class)",
    )
    t.add_argument(
        "--pos-weight-balanced",
        action="store_true",
        help="multi-label: weigh each class's positives by its negatives/positives ratio",
    )
    t.add_argument(
        "--group-column",
        default=None,
        help="rows sharing this column's value stay on one side of the split (default: "
        "file for a window table, none for a clip table)",
    )
    t.add_argument(
        "--clip-seconds",
        type=float,
        default=None,
        help="clip length read per row (default: the windows' length, or 2 s for clips)",
    )
    t.add_argument("--sample-rate", type=int, default=None, help="resample to this rate (Hz)")
    t.add_argument("--image-size", type=int, default=224, help="model input height and width")
    t.add_argument(
        "--corrections",
        help="corrections CSV from a review, applied to a clip table (also on --resume; "
        "default: corrections.csv in the run folder, when present)",
    )
    t.add_argument("--epochs", type=int, default=None, help="default 5 (or the run's, on resume)")
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--log-every", type=int, default=5)
    t.add_argument("--train-fraction", type=float, default=0.8)
    t.add_argument("--arch", default="resnet18")
    t.add_argument("--augment", action="store_true")
    t.add_argument("--device", default="auto")
    t.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16", "fp16"],
        default="auto",
        help="autocast precision (fp32 gives bit-reproducible runs on one machine)",
    )
    t.add_argument("--no-pretrained", action="store_true", help="start from random weights")
    t.add_argument("--weights", help="ImageNet weights file for the architecture")
    t.add_argument("--on-missing-weights", choices=["error", "random"], default="error")
    t.add_argument("--resume", action="store_true", help="continue the run in --run-dir")
    t.add_argument(
        "--method",
        choices=["cnn", "embeddings"],
        default="cnn",
        help="cnn: train the CNN; embeddings: a small classifier on pretrained bird embeddings",
    )
    t.add_argument(
        "--embedder",
        default="birdnet",
        help="with --method embeddings: birdnet (the optional extra) or a model bundle's path",
    )
    t.add_argument(
        "--zero-shot-species",
        default="",
        help="with --method embeddings: report BirdNET's own score for this species beside it",
    )
    t.set_defaults(func=run)
