"""``train``: train a classifier into a run folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import WoodcockError
from ._progress import TqdmProgress


def run(args: argparse.Namespace) -> int:
    from ..audio.preprocessing import Preprocessing
    from ..ml.jobs import TrainingJob
    from ..ml.training_config import TrainingConfig
    from ..workflow.pipeline import new_trainer, parse_mapping, prepare_labels, resume_trainer

    progress = [TqdmProgress()]
    if args.resume:
        trainer = resume_trainer(args.run_dir, epochs=args.epochs, callbacks=progress)
    else:
        if not args.labels:
            raise WoodcockError("train needs --labels CSV (or --resume with an existing run)")
        table = prepare_labels(args.labels, args.label_column, parse_mapping(args.map) or None)
        config = TrainingConfig(
            epochs=5 if args.epochs is None else args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.lr,
            seed=args.seed,
            log_every=args.log_every,
            device=args.device,
            precision=args.precision,
        )
        pre = Preprocessing(image_shape=(args.image_size, args.image_size))
        trainer = new_trainer(
            table,
            args.run_dir,
            config,
            train_fraction=args.train_fraction,
            arch=args.arch,
            pretrained=not args.no_pretrained,
            weights_path=args.weights,
            on_missing_weights=args.on_missing_weights,
            preprocessing=pre,
            augment=args.augment,
            callbacks=progress,
            extra_config={
                "labels": str(Path(args.labels).resolve()),
                "label_column": args.label_column,
                "mapping": parse_mapping(args.map),
            },
        )
    import signal

    # Ctrl-C stops at the next batch and keeps the run folder consistent
    signal.signal(signal.SIGINT, lambda *_: trainer.stop())
    history = TrainingJob(trainer).wait()  # the runner the widgets and scripts use too
    last = history.last
    print(
        f"{trainer.status}: {len(history)} epoch(s) in {args.run_dir}"
        + (
            f"; best valid_f1 {trainer.best_score:.3f} (epoch {trainer.best_epoch})"
            if last and "valid_f1" in last
            else ""
        )
    )
    return 0 if trainer.status == "finished" else 1


def register(sub) -> None:
    """Add the command to the ``woodcock-widgets`` subparsers."""
    t = sub.add_parser("train", help="train a classifier into a run folder")
    t.add_argument("--labels", help="label CSV (file paths relative to its folder)")
    t.add_argument("--run-dir", required=True)
    t.add_argument("--label-column", default="woodcock")
    t.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="VALUE=CLASS",
        help="remap a label value to a class (repeatable), e.g. call=absent",
    )
    t.add_argument("--epochs", type=int, default=None, help="default 5 (or the run's, on resume)")
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--log-every", type=int, default=5)
    t.add_argument("--train-fraction", type=float, default=0.8)
    t.add_argument("--arch", default="resnet18")
    t.add_argument("--image-size", type=int, default=224)
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
    t.set_defaults(func=run)
