"""The tutorial's ``train(...)`` with its classic printed log, and the training names in one place.

The engine lives in smaller modules; they are re-exported here so that
``from woodcock_widgets.ml.training import Trainer, TrainingConfig`` keeps working:

* :mod:`.training_config` — :class:`TrainingConfig`
* :mod:`.trainer` — :class:`Trainer` (the loop), :class:`Callback`, :class:`History`
* :mod:`.jobs` — :class:`TrainingJob` (the one background runner)
* :mod:`.run_folder` — :class:`RunFolder` (every file of a run, resume)
* :mod:`.runtime` — device, precision and autocast (:func:`pick_device`, :func:`pick_precision`)
* :mod:`.batchnorm` — :func:`recalibrate_batchnorm`
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from torch import nn

from .batching import batch_indices as _batches  # noqa: F401 - kept for the benchmarks
from .batchnorm import recalibrate_batchnorm
from .datasets import AudioClipDataset
from .jobs import TrainingJob
from .run_folder import RunFolder
from .run_folder import slim_bundle_file as _slim_best  # noqa: F401 - kept for older tests
from .runtime import pick_device, pick_precision
from .trainer import Callback, History, Trainer
from .training_config import TrainingConfig

__all__ = [
    "TrainingConfig",
    "Trainer",
    "Callback",
    "History",
    "TrainingJob",
    "RunFolder",
    "ClassicLog",
    "train",
    "recalibrate_batchnorm",
    "pick_device",
    "pick_precision",
]

#: The metrics of the classic log, in its order; per-class ones print as a list.
CLASSIC_METRICS = (
    "train_loss",
    "train_accuracy",
    "train_precision",
    "train_recall",
    "train_f1",
    "valid_accuracy",
    "valid_precision",
    "valid_recall",
    "valid_f1",
)
_PER_CLASS = ("precision", "recall")


def _classic_value(value: Any) -> str:
    """A scalar as Python prints it; a per-class list bracketed and space-separated, as numpy
    prints an array (``[0.75 0.9]``)."""
    if isinstance(value, list):
        return "[" + " ".join(repr(float(v)) for v in value) + "]"
    return repr(float(value))


class ClassicLog(Callback):
    """Print the original tutorial's per-epoch log (what its last cell parses).

    At every logged epoch (``epoch % log_every == 0``, and the last one)::

        Epoch 3
          Validation results:
            train_loss: 0.41
            train_accuracy: 0.83
            train_precision: [0.8 0.86]
            ...
            valid_f1: 0.79

    Precision and recall are per class (in code order), the way the tutorial reads them
    (``valid_precision: [0.75 0.9]``, taking the second value); accuracy, loss and F1 (macro,
    as in ``history.csv``) are single numbers. ``Training complete.`` ends a finished run.

    Parameters
    ----------
    log_every : int
        Print every this many epochs (and the last).
    stream : file-like, optional
        Where to print; default: ``sys.stdout`` at the time of printing, so
        ``contextlib.redirect_stdout`` captures it.
    """

    def __init__(self, log_every: int = 1, stream: TextIO | None = None) -> None:
        self.log_every = max(int(log_every), 1)
        self.stream = stream

    def _print(self, text: str) -> None:
        print(text, file=self.stream or sys.stdout, flush=True)

    def values(self, trainer: Trainer, record: dict[str, float]) -> dict[str, Any]:
        """The classic metrics of one epoch (those the epoch has)."""
        parts = {"train": {**trainer.train_metrics, **_own(record, "train")}}
        parts["valid"] = _own(record, "valid")
        out: dict[str, Any] = {}
        for name in CLASSIC_METRICS:
            part, metric = name.split("_", 1)
            got = parts[part]
            if metric in _PER_CLASS:
                per_class = [got.get(f"{metric}_{c}") for c in trainer.class_names]
                if all(v is not None for v in per_class):
                    out[name] = per_class
            elif metric in got:
                out[name] = got[metric]
        return out

    def on_epoch_end(self, trainer: Trainer, record: dict[str, float]) -> None:
        epoch = int(record["epoch"])
        if epoch % self.log_every and epoch != trainer.config.epochs:
            return
        lines = [f"Epoch {epoch}", "  Validation results:"]
        lines += [f"    {k}: {_classic_value(v)}" for k, v in self.values(trainer, record).items()]
        self._print("\n".join(lines))

    def on_fit_end(self, trainer: Trainer, status: str) -> None:
        if status == "finished":
            self._print("Training complete.")
        elif status == "stopped":
            self._print(f"Training stopped after epoch {trainer.epoch}.")


def _own(record: dict[str, float], part: str) -> dict[str, float]:
    """``{"accuracy": …}`` from a history record's ``valid_accuracy`` (one part's keys)."""
    prefix = f"{part}_"
    return {k[len(prefix) :]: v for k, v in record.items() if k.startswith(prefix)}


def train(
    save_dir: str | os.PathLike,
    model: nn.Module,
    train_dataset: AudioClipDataset,
    valid_dataset: AudioClipDataset | None,
    optimizer: Any = None,
    loss_fn: Callable | None = None,
    epochs: int = 1,
    log_every: int = 1,
    batch_size: int = 32,
    num_workers: int = 0,
    print_logging: bool = True,
    arch: str = "resnet18",
    callbacks: Sequence[Callback] = (),
    **config: Any,
) -> History:
    """The tutorial's ``train(...)``: a thin function over :class:`Trainer`.

    Parameters
    ----------
    save_dir : str or path-like
        Run folder.
    model : torch.nn.Module
        The network.
    train_dataset, valid_dataset : AudioClipDataset
        Clips.
    optimizer : torch.optim.Optimizer, optional
        Default SGD (lr 1e-3).
    loss_fn : callable, optional
        Default cross-entropy.
    epochs, log_every, batch_size : int
        As in :class:`TrainingConfig`; ``log_every`` also paces the printed log.
    num_workers : int
        Accepted for the original tutorial's calls; batches are always prepared on one
        helper thread beside training.
    print_logging : bool
        Print the classic log (see :class:`ClassicLog`) at every logged epoch.
    arch : str
        Architecture name recorded in the bundles.
    callbacks : sequence of Callback
        Progress hooks.
    **config
        More :class:`TrainingConfig` fields.

    Returns
    -------
    History
    """
    del num_workers  # see the docstring
    cfg = TrainingConfig(epochs=epochs, log_every=log_every, batch_size=batch_size, **config)
    hooks = [*callbacks, *([ClassicLog(log_every)] if print_logging else [])]
    return Trainer(
        model,
        train_dataset,
        valid_dataset,
        save_dir,
        cfg,
        arch=arch,
        optimizer=optimizer,
        loss_fn=loss_fn,
        callbacks=hooks,
    ).fit()
