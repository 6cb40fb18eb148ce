"""The training loop: fit, stop, callbacks and per-epoch history.

Where the model runs is :mod:`.runtime`'s policy; what one epoch does is :mod:`.epoch`'s
(validation goes through the one scoring pass, :func:`.predict.score_batches`); what is
recorded is :mod:`.trainer_state`'s and written :class:`~.run_folder.RunFolder`'s; how a run
continues is :mod:`.resume`'s.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..errors import TrainingError
from ..tables.labels import LabelMap
from .batching import Stopped
from .bundle import ModelBundle
from .datasets import AudioClipDataset
from .epoch import evaluate, run_epoch
from .multilabel import TargetSpec, default_loss
from .run_folder import RunFolder
from .runtime import Runtime
from .trainer_state import engine_config, epoch_bundle, record_epoch
from .training_config import TrainingConfig

if TYPE_CHECKING:
    from .jobs import TrainingJob

__all__ = ["Callback", "History", "Trainer"]


class Callback:
    """Hooks called by :class:`Trainer`; override the ones you need.

    They run on the training thread: keep them short.
    """

    def on_fit_start(self, trainer: Trainer) -> None:
        """Before the first epoch."""

    def on_batch_end(
        self, trainer: Trainer, epoch: int, batch: int, n_batches: int, loss: float
    ) -> None:
        """After each optimizer step (``batch`` counts from 1)."""

    def on_epoch_end(self, trainer: Trainer, record: dict[str, float]) -> None:
        """After an epoch's validation and checkpoint; ``record`` is its history row."""

    def on_fit_end(self, trainer: Trainer, status: str) -> None:
        """At the end: status is ``finished``, ``stopped`` or ``failed``."""


@dataclass
class History:
    """Per-epoch records (one dict per finished epoch)."""

    records: list[dict[str, float]] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        """The records as a DataFrame (the content of ``history.csv``)."""
        return pd.DataFrame(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def column(self, name: str) -> list[float]:
        """One metric over epochs."""
        return [r.get(name, float("nan")) for r in self.records]

    @property
    def last(self) -> dict[str, float] | None:
        """The latest record."""
        return self.records[-1] if self.records else None


class Trainer:
    """Train a classifier on :class:`AudioClipDataset` objects into a run folder.

    Parameters
    ----------
    model : torch.nn.Module
        The network; its last layer must output ``len(label_dict)`` scores.
    train_dataset, valid_dataset : AudioClipDataset
        Training and validation clips (``valid_dataset`` may be ``None``).
    run_dir : str or path-like
        The run folder (created; must not already hold another run).
    config : TrainingConfig, optional
        Settings.
    label_dict : dict, optional
        Code → class name; default: the training dataset's.
    arch : str
        Architecture name stored in bundles (to rebuild the model).
    optimizer : torch.optim.Optimizer, optional
        Default: SGD with the config's learning rate, momentum and weight decay.
    loss_fn : callable, optional
        Default: cross-entropy, or ``BCEWithLogitsLoss`` (with ``pos_weight``) for
        multi-label. Validation applies it to the outputs that give the scores (see
        :func:`.multilabel.logits_of`).
    callbacks : sequence of Callback
        Progress hooks (widgets, progress bars).
    extra_config : dict, optional
        More JSON-ready settings to record (e.g. the label table path).
    multi_label : bool, optional
        One sigmoid per class (targets: 0/1 rows) instead of one softmax (targets: codes);
        default: what the training dataset holds (:attr:`AudioClipDataset.multi_label`).
    pos_weight : sequence of float, optional
        Multi-label: the weight of each class's positives in the loss (see
        :func:`.multilabel.pos_weights`).
    positive_class : str, optional
        The class detections are about by default; default: the two-class rule of
        :func:`.multilabel.positive_class` (the tutorial's ``present``), else none.

    Notes
    -----
    ``config.json`` and every bundle record ``multi_label`` and ``positive_class``. A
    multi-label run's bundles also record ``thresholds``, the epoch's F1-optimal validation
    threshold of each target class (the positive class, else every class), which ``predict``
    and detections use; a single-target run records none and detects at 0.5 as before.
    The best epoch is the one with the highest ``valid_map`` for multi-label, the highest
    ``valid_f1`` for single-target (:attr:`best_metric`).
    """

    def __init__(
        self,
        model: nn.Module,
        train_dataset: AudioClipDataset,
        valid_dataset: AudioClipDataset | None,
        run_dir: str | os.PathLike,
        config: TrainingConfig | None = None,
        *,
        label_dict: dict[int, str] | None = None,
        arch: str = "resnet18",
        optimizer: torch.optim.Optimizer | None = None,
        loss_fn: Callable | None = None,
        callbacks: Sequence[Callback] = (),
        extra_config: dict | None = None,
        multi_label: bool | None = None,
        pos_weight: Sequence[float] | None = None,
        positive_class: str | None = None,
    ) -> None:
        self.config = config or TrainingConfig()
        self.config.validate()
        if len(train_dataset) < 2:
            raise TrainingError(f"need at least 2 training clips, got {len(train_dataset)}")
        self.label_dict = dict(label_dict or train_dataset.label_dict or {})
        if not self.label_dict:
            raise TrainingError("no label_dict: pass one or give the dataset one")
        self.class_names = list(LabelMap.from_label_dict(self.label_dict).classes)
        self._set_targets(train_dataset, valid_dataset, multi_label, pos_weight, positive_class)
        self.model, self.arch = model, arch
        self.train_dataset, self.valid_dataset = train_dataset, valid_dataset
        self.folder = RunFolder(run_dir)
        cfg = self.config
        self.runtime = Runtime.choose(cfg.device, cfg.precision, cfg.channels_last)
        self.runtime.place(self.model)
        self.optimizer = optimizer or torch.optim.SGD(
            self.model.parameters(),
            lr=cfg.learning_rate,
            momentum=cfg.momentum,
            weight_decay=cfg.weight_decay,
        )
        self.loss_fn = loss_fn or default_loss(self.multi_label, self.pos_weight, self.device)
        self.scaler = self.runtime.grad_scaler()
        self.callbacks = list(callbacks)
        self.extra_config = dict(extra_config or {})
        self.history = History()
        self.epoch = 0  # last finished epoch
        self.best_score, self.best_epoch = -math.inf, 0
        #: the full training metrics of the latest epoch (per class too; the record keeps F1)
        self.train_metrics: dict[str, float] = {}
        self.status = "idle"
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self.resumed = False  # set by resume: the folder holds this run already

    def _set_targets(self, train_ds, valid_ds, multi_label, pos_weight, positive) -> None:
        spec = TargetSpec.choose(
            self.class_names, train_ds, valid_ds, multi_label, pos_weight, positive
        )
        self.multi_label, self.pos_weight = spec.multi_label, spec.pos_weight
        self.positive_class, self.threshold_classes = spec.positive_class, spec.threshold_classes
        #: the latest validation's F1-optimal threshold per target class (bundles record it)
        self.thresholds: dict[str, float] = {}
        #: the latest validation's per-class metrics (a per_class_metrics table)
        self.valid_metrics: pd.DataFrame | None = None

    @property
    def best_metric(self) -> str:
        """The history column the best epoch is chosen by: ``valid_map`` or ``valid_f1``."""
        return "valid_map" if self.multi_label else "valid_f1"

    @property
    def run_dir(self) -> Path:
        """The run folder's path."""
        return self.folder.path

    @property
    def device(self) -> torch.device:
        """Where the model runs."""
        return self.runtime.device

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        """Autocast dtype (``None``: float32)."""
        return self.runtime.autocast_dtype

    @property
    def channels_last(self) -> bool:
        """Whether the channels-last memory layout is used."""
        return self.runtime.channels_last

    def stop(self) -> None:
        """Ask training to stop at the next batch (thread-safe; safe to call any time)."""
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stop.is_set()

    # ------------------------------------------------------------------ settings
    def engine_config(self) -> dict[str, Any]:
        """What the trainer itself records in ``config.json`` (without ``extra_config``)."""
        return engine_config(self)

    def config_dict(self) -> dict[str, Any]:
        """Everything ``config.json`` records."""
        return {**self.engine_config(), **self.extra_config}

    # ------------------------------------------------------------------ one epoch
    def bundle(self, metrics: dict) -> ModelBundle:
        """The model as a bundle (weights shared, not copied), with ``metrics``."""
        return epoch_bundle(self, metrics)

    def _emit(self, name: str, *args) -> None:
        for cb in self.callbacks:
            getattr(cb, name)(self, *args)

    def evaluate(self, dataset: AudioClipDataset) -> tuple[np.ndarray, np.ndarray, float]:
        """Scores, true labels and mean loss of ``dataset`` (see :func:`.epoch.evaluate`)."""
        return evaluate(self, dataset)

    # ------------------------------------------------------------------ the loop
    def fit(self) -> History:
        """Train until ``config.epochs`` are done or :meth:`stop` is called.

        Returns
        -------
        History
            All finished epochs (also in ``history.csv``).

        Raises
        ------
        TrainingError
            Bad settings, an unwritable run folder, or a NaN loss. The run folder keeps the
            last finished epoch.
        """
        self.status, self.error = "running", None
        if self.config.num_threads:
            torch.set_num_threads(int(self.config.num_threads))
        try:
            self.folder.prepare(self.config_dict(), resumed=self.resumed)
            self._emit("on_fit_start")
            for epoch in range(self.epoch + 1, self.config.epochs + 1):
                if self._stop.is_set():
                    raise Stopped
                record = run_epoch(self, epoch)
                record_epoch(self, epoch, record)
                self._emit("on_epoch_end", record)
            self.status = "finished"
        except Stopped:
            self.status = "stopped"
        except BaseException as exc:
            self.status, self.error = "failed", exc
            self._emit("on_fit_end", self.status)
            raise
        self._emit("on_fit_end", self.status)
        return self.history

    def fit_in_background(self) -> TrainingJob:
        """Start :meth:`fit` on a daemon thread and return at once."""
        from .jobs import TrainingJob

        return TrainingJob(self)

    # ------------------------------------------------------------------ resume
    @classmethod
    def resume(
        cls,
        run_dir: str | os.PathLike,
        train_dataset: AudioClipDataset,
        valid_dataset: AudioClipDataset | None,
        epochs: int | None = None,
        callbacks: Sequence[Callback] = (),
        **config_overrides: Any,
    ) -> Trainer:
        """Rebuild a trainer from the run folder to continue where it stopped.

        Parameters
        ----------
        run_dir : str or path-like
            A run folder written by :meth:`fit`.
        train_dataset, valid_dataset : AudioClipDataset
            The same clips as before.
        epochs : int, optional
            New total number of epochs (default: the recorded one).
        callbacks : sequence of Callback
            Progress hooks.
        **config_overrides
            Other :class:`TrainingConfig` fields to change (e.g. ``learning_rate``); the
            changes are recorded in ``config.json`` (``setting_changes``).
        """
        from .resume import resume

        return resume(
            run_dir, train_dataset, valid_dataset, epochs, callbacks, cls, **config_overrides
        )
