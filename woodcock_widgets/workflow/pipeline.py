"""The tutorial's steps as a few calls: label table → classes → split → datasets → trainer.

The command line, the notebooks and the widgets all go through these functions, so a run
from any of them with the same settings and seed gives the same result.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence

import pandas as pd
import torch

from ..audio.preprocessing import Preprocessing
from ..ml.datasets import AudioClipDataset
from ..ml.models import build_model
from ..ml.trainer import Callback, Trainer
from ..ml.training_config import TrainingConfig
from ..tables.labeled import CODE_COLUMN, LabeledTable, parse_mapping, prepare_labels
from ..tables.splits import SplitResult, split_train_valid
from .run_folder import RunFolder

__all__ = [
    "LabeledTable",
    "prepare_labels",
    "make_datasets",
    "new_trainer",
    "resume_trainer",
    "trainer_factory",
    "parse_mapping",
    "CODE_COLUMN",
]


def make_datasets(
    split: SplitResult | tuple[pd.DataFrame, pd.DataFrame],
    label_dict: Mapping[int, str],
    preprocessing: Preprocessing | None = None,
    augment: bool = False,
    seed: int = 0,
    filename_column: str = "filename",
) -> tuple[AudioClipDataset, AudioClipDataset]:
    """Training and validation datasets for a split (augmentation on training only)."""
    train_df, valid_df = split
    pre = preprocessing or Preprocessing()
    kw = dict(
        label_dict=label_dict,
        label_column=CODE_COLUMN,
        filename_column=filename_column,
        preprocessing=pre,
        seed=seed,
    )
    return (
        AudioClipDataset(train_df, augment=augment, **kw),
        AudioClipDataset(valid_df, augment=False, **kw),
    )


def new_trainer(
    table: LabeledTable,
    run_dir: str | os.PathLike,
    config: TrainingConfig | None = None,
    *,
    train_fraction: float = 0.8,
    group_column: str | None = None,
    arch: str = "resnet18",
    pretrained: bool = True,
    weights_path: str | None = None,
    on_missing_weights: str = "error",
    preprocessing: Preprocessing | None = None,
    augment: bool = False,
    callbacks: Sequence[Callback] = (),
    split: SplitResult | tuple[pd.DataFrame, pd.DataFrame] | None = None,
    extra_config: dict | None = None,
) -> Trainer:
    """Split, build datasets and the model, and return a :class:`Trainer` for a new run.

    The split is written into the run folder (:meth:`RunFolder.write_split`) so the run
    can be resumed and rerun with exactly the same clips.
    """
    config = config or TrainingConfig()
    config.validate()
    folder = RunFolder(run_dir)
    folder.check_new(hint="resume it")
    if split is None:
        split = split_train_valid(
            table.df, CODE_COLUMN, train_fraction, seed=config.seed, group_column=group_column
        )
    train_df, valid_df = split
    folder.write_split(train_df, valid_df)
    train_ds, valid_ds = make_datasets(
        (train_df, valid_df), table.label_dict, preprocessing, augment, config.seed
    )
    torch.manual_seed(config.seed)
    model = build_model(
        arch,
        len(table.label_dict),
        pretrained=pretrained,
        weights_path=weights_path,
        on_missing_weights=on_missing_weights,
        in_channels=(preprocessing or Preprocessing()).channels,
    )
    extra = {
        "class_column": table.class_column,
        "train_fraction": train_fraction,
        "group_column": group_column,
        "pretrained": bool(pretrained),
        "augment": bool(augment),
        **(extra_config or {}),
    }
    return Trainer(
        model,
        train_ds,
        valid_ds,
        folder.path,
        config,
        label_dict=table.label_dict,
        arch=arch,
        callbacks=callbacks,
        extra_config=extra,
    )


def resume_trainer(
    run_dir: str | os.PathLike,
    epochs: int | None = None,
    callbacks: Sequence[Callback] = (),
    **overrides,
) -> Trainer:
    """A :class:`Trainer` that continues the run in ``run_dir`` on its recorded split.

    ``overrides`` are :class:`TrainingConfig` fields to change (e.g. ``learning_rate``);
    ``config.json`` records the new values and the change.
    """
    folder = RunFolder(run_dir)
    recorded = folder.read_config_for_resume()
    train_df, valid_df = folder.read_split()
    train_ds, valid_ds = make_datasets(
        (train_df, valid_df),
        folder.read_label_dict(),
        Preprocessing.from_dict(recorded["preprocessing"]),
        bool(recorded.get("augment")),
        recorded["training"]["seed"],
    )
    return Trainer.resume(
        folder.path, train_ds, valid_ds, epochs=epochs, callbacks=callbacks, **overrides
    )


def trainer_factory(table: LabeledTable, **options) -> Callable[..., Trainer]:
    """A function that starts a new run of ``table`` in a given folder (for widgets).

    ``factory(run_dir, config, callbacks=..., pretrained=...)`` calls :func:`new_trainer`
    with ``options`` (``split``, ``preprocessing``, ``augment``, ...).
    """
    return functools.partial(new_trainer, table, **options)
