"""Continue a run: a :class:`~.trainer.Trainer` rebuilt from what its run folder recorded.

Everything comes from the folder (:class:`~.run_folder.RunFolder`): the settings from
``config.json`` as written (every key the trainer does not write itself is kept as extra
settings, so no list of keys has to mirror the trainer's), and the weights, optimizer state,
history and best epoch from ``last.pt``. A stopped or killed run continues bit-identically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import torch

from .datasets import AudioClipDataset
from .models import build_model
from .run_folder import RunFolder, int_keys
from .trainer import Callback, History, Trainer
from .training_config import TrainingConfig

__all__ = ["resume"]

#: Optimizer hyper-parameters a resume may change: TrainingConfig name → param-group key.
_HYPER = {"learning_rate": "lr", "momentum": "momentum", "weight_decay": "weight_decay"}


def resume(
    run_dir: str | os.PathLike,
    train_dataset: AudioClipDataset,
    valid_dataset: AudioClipDataset | None,
    epochs: int | None = None,
    callbacks: Sequence[Callback] = (),
    trainer_class: type[Trainer] = Trainer,
    **config_overrides: Any,
) -> Trainer:
    """A trainer that continues the run in ``run_dir`` (see :meth:`Trainer.resume`).

    Raises
    ------
    TrainingError
        No ``config.json``, no finished epoch, or an unreadable ``last.pt``.
    """
    folder = RunFolder(run_dir)
    recorded = folder.read_config_for_resume()
    payload = folder.read_checkpoint()
    label_dict = int_keys(recorded["label_dict"])
    model = build_model(
        recorded["arch"],
        len(label_dict),
        pretrained=False,
        in_channels=int(recorded.get("preprocessing", {}).get("channels", 3)),
    )
    model.load_state_dict(payload["state_dict"])
    info = recorded.get("optimizer", {"name": "SGD", "defaults": {}})
    opt_cls = getattr(torch.optim, info["name"], torch.optim.SGD)
    optimizer = opt_cls(model.parameters(), **info.get("defaults", {}))
    config = TrainingConfig.from_dict(recorded["training"])
    before = config.to_dict()
    if epochs is not None:
        config.epochs = int(epochs)
    for k, v in config_overrides.items():
        setattr(config, k, v)
    trainer = trainer_class(
        model,
        train_dataset,
        valid_dataset,
        folder.path,
        config,
        label_dict=label_dict,
        arch=recorded["arch"],
        optimizer=optimizer,
        callbacks=callbacks,
        multi_label=bool(recorded.get("multi_label", False)),
        pos_weight=recorded.get("pos_weight"),
        positive_class=recorded.get("positive_class"),
    )
    own = trainer.engine_config()
    trainer.extra_config = {k: v for k, v in recorded.items() if k not in own}
    state = payload["training_state"]
    trainer.optimizer.load_state_dict(state["optimizer"])  # once the model is placed
    # load_state_dict brings back the saved hyper-parameters; overrides given here win
    hyper = {_HYPER[k]: v for k, v in config_overrides.items() if k in _HYPER}
    for group in [*trainer.optimizer.param_groups, trainer.optimizer.defaults]:
        group.update({k: v for k, v in hyper.items() if k in group})
    trainer.epoch = int(state["epoch"])
    trainer.history = History(json.loads(state["history_json"]))
    trainer.best_score = float(state["best_score"])
    trainer.best_epoch = int(state["best_epoch"])
    trainer.resumed = True
    changed = {k: [before[k], v] for k, v in config.to_dict().items() if before.get(k) != v}
    if changed:  # config.json keeps what changed, and when
        log = list(trainer.extra_config.get("setting_changes", []))
        log.append({"after_epoch": trainer.epoch, "changed": changed})
        trainer.extra_config["setting_changes"] = log
    # history.csv may lag last.pt by one epoch after a kill: rewrite it from last.pt
    folder.write_history(trainer.history.to_frame())
    return trainer
