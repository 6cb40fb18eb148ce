"""Command line: ``python -m woodcock_widgets {make-data,train,predict,tutorial} ...``.

User errors print one line naming the file, row or column and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import WoodcockError

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff"}


def _cmd_make_data(args: argparse.Namespace) -> int:
    from .data.synthetic import make_woodcock_dataset

    csv = make_woodcock_dataset(
        args.out_dir, n_song=args.n_song, n_call=args.n_call, n_absent=args.n_absent, seed=args.seed
    )
    print(f"wrote {csv} ({args.n_song + args.n_call + args.n_absent} clips)")
    return 0


class _TqdmProgress:
    """A terminal progress bar over batches, with the epoch's metrics when it ends."""

    def __init__(self) -> None:
        from tqdm.auto import tqdm

        self._tqdm = tqdm
        self.bar = None

    def on_fit_start(self, trainer) -> None:
        pass

    def on_batch_end(self, trainer, epoch, batch, n_batches, loss) -> None:
        if self.bar is None:
            self.bar = self._tqdm(
                total=n_batches,
                desc=f"epoch {epoch}/{trainer.config.epochs}",
                unit="batch",
                leave=False,
            )
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{loss:.3f}")

    def on_epoch_end(self, trainer, record) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        f1 = record.get("valid_f1", float("nan"))
        acc = record.get("valid_accuracy", float("nan"))
        print(
            f"epoch {record['epoch']}: train_loss {record['train_loss']:.4f}  "
            f"valid_accuracy {acc:.3f}  valid_f1 {f1:.3f}  ({record['seconds']:.1f} s)",
            flush=True,
        )

    def on_fit_end(self, trainer, status) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _cmd_train(args: argparse.Namespace) -> int:
    from .audio.preprocessing import Preprocessing
    from .ml.training import TrainingConfig
    from .workflow.pipeline import new_trainer, parse_mapping, prepare_labels, resume_trainer

    progress = [_TqdmProgress()]
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
    history = trainer.fit()
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


def _expand_audio(paths: Sequence[str]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.suffix.lower() in AUDIO_SUFFIXES))
        else:
            out.append(p)
    return out


def _cmd_predict(args: argparse.Namespace) -> int:
    from .io_utils import atomic_write_csv
    from .ml.bundle import ModelBundle
    from .ml.predict import detections, predict, to_raven_table, write_raven_table

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


def _cmd_tutorial(args: argparse.Namespace) -> int:
    from .tutorial.runner import parse_parameters, run_tutorial

    run_tutorial(args.run_dir, parse_parameters(args.parameter), resume=args.resume)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used by the docs and tests)."""
    p = argparse.ArgumentParser(prog="woodcock-widgets", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("make-data", help="write the built-in woodcock-like dataset")
    d.add_argument("out_dir")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--n-song", type=int, default=20)
    d.add_argument("--n-call", type=int, default=2)
    d.add_argument("--n-absent", type=int, default=7)
    d.set_defaults(func=_cmd_make_data)

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
    t.set_defaults(func=_cmd_train)

    r = sub.add_parser("predict", help="score audio files with a model bundle")
    r.add_argument("--model", required=True, help="a model bundle (.pt)")
    r.add_argument("audio", nargs="+", help="audio files or folders")
    r.add_argument("--out", required=True, help="CSV of scores")
    r.add_argument("--overlap", type=float, default=0.0, help="window overlap in seconds")
    r.add_argument("--raven", help="folder for Raven selection tables of detections")
    r.add_argument("--detect-class", help="class to detect (default: the last class)")
    r.add_argument("--threshold", type=float, default=0.5)
    r.add_argument("--on-error", choices=["raise", "skip"], default="raise")
    r.set_defaults(func=_cmd_predict)

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
    u.set_defaults(func=_cmd_tutorial)
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


if __name__ == "__main__":
    sys.exit(main())
