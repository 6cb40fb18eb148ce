"""What a :class:`~.trainer.Trainer` records, in the form its run folder writes it.

The trainer keeps the loop; these functions turn its state into what
:class:`~.run_folder.RunFolder` persists: the settings of ``config.json``
(:func:`engine_config`), an epoch's model bundle (:func:`epoch_bundle`), the training state
a resume reads back (:func:`training_state`), and a finished epoch: its history row, the
best-epoch bookkeeping and the files written (:func:`record_epoch`).
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from .bundle import ModelBundle, versions

if TYPE_CHECKING:
    from .trainer import Trainer

__all__ = ["engine_config", "epoch_bundle", "training_state", "record_epoch"]


def engine_config(trainer: Trainer) -> dict[str, Any]:
    """What the trainer itself records in ``config.json`` (see :meth:`.Trainer.engine_config`)."""
    opt, ds = trainer.optimizer, trainer.train_dataset
    plain = (int, float, bool, str, type(None))
    return {
        "training": trainer.config.to_dict(),
        "arch": trainer.arch,
        "num_classes": len(trainer.label_dict),
        "label_dict": {str(k): v for k, v in trainer.label_dict.items()},
        "preprocessing": ds.preprocessing.to_dict(),
        "augmentation": ds.augmentation.to_dict() if ds.augmentation else None,
        "optimizer": {
            "name": type(opt).__name__,
            "defaults": {k: v for k, v in opt.defaults.items() if isinstance(v, plain)},
        },
        "loss_fn": type(trainer.loss_fn).__name__,
        "multi_label": trainer.multi_label,
        "classes": list(trainer.class_names),
        "positive_class": trainer.positive_class,
        "pos_weight": trainer.pos_weight,
        "n_train": len(ds),
        "n_valid": len(trainer.valid_dataset) if trainer.valid_dataset is not None else 0,
        "device": str(trainer.device),
        "autocast": str(trainer.autocast_dtype).replace("torch.", "")
        if trainer.autocast_dtype
        else "fp32",
        "channels_last": trainer.channels_last,
        "versions": versions(),
    }


def epoch_bundle(trainer: Trainer, metrics: dict) -> ModelBundle:
    """The trainer's model as a bundle (weights shared, not copied), with ``metrics``."""
    return ModelBundle(
        trainer.model,
        trainer.arch,
        trainer.label_dict,
        trainer.train_dataset.preprocessing,
        metrics,
        extra={
            "epoch": trainer.epoch,
            "run_dir": str(trainer.run_dir),
            "multi_label": trainer.multi_label,
            "positive_class": trainer.positive_class,
            "thresholds": dict(trainer.thresholds),
        },
    )


def training_state(trainer: Trainer) -> dict[str, Any]:
    """What a resume needs besides the weights: epoch, optimizer state, history, best epoch."""
    return {
        "epoch": trainer.epoch,
        "optimizer": trainer.optimizer.state_dict(),
        "history_json": json.dumps(trainer.history.records),
        "best_score": float(trainer.best_score),
        "best_epoch": int(trainer.best_epoch),
    }


def record_epoch(trainer: Trainer, epoch: int, record: dict[str, float]) -> None:
    """Make ``epoch`` the trainer's last finished one and persist it.

    Appends ``record`` to the history, updates the best epoch (by
    :attr:`.Trainer.best_metric`, else the lowest training loss) and has the run folder
    write the epoch (:meth:`.RunFolder.write_epoch`).
    """
    trainer.epoch = epoch
    trainer.history.records.append(record)
    score = record.get(trainer.best_metric, -record["train_loss"])
    score = score if math.isfinite(score) else -math.inf
    # ties go to the later epoch: same validation score, more training, and
    # best.pt can share last.pt's file (a smaller run folder)
    if score >= trainer.best_score or not math.isfinite(trainer.best_score):
        trainer.best_score, trainer.best_epoch = score, epoch
    cfg = trainer.config
    trainer.folder.write_epoch(
        trainer.bundle(record),
        training_state(trainer),
        trainer.history.to_frame(),
        checkpoint=epoch % cfg.log_every == 0 or epoch == cfg.epochs,
        best=trainer.best_epoch == epoch,
        finished=epoch >= cfg.epochs,
        best_was_previous=trainer.best_epoch == epoch - 1,
    )
