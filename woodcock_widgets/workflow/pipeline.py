"""The tutorial's steps as a few calls: label table → classes → split → datasets → trainer.

The command line, the notebooks and the widgets all go through these functions, so a run
from any of them with the same settings and seed gives the same result.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import torch

from ..audio.preprocessing import Preprocessing
from ..errors import TrainingError
from ..io_utils import atomic_write_csv
from ..ml.datasets import AudioClipDataset
from ..ml.models import build_model
from ..ml.training import Callback, Trainer, TrainingConfig
from ..tables.labeled import CODE_COLUMN, LabeledTable, parse_mapping, prepare_labels
from ..tables.splits import SplitResult, split_train_valid

__all__ = [
    "LabeledTable",
    "prepare_labels",
    "make_datasets",
    "new_trainer",
    "resume_trainer",
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

    The split is written to ``run_dir/train.csv`` and ``run_dir/valid.csv`` so the run
    can be resumed and rerun with exactly the same clips.
    """
    config = config or TrainingConfig()
    config.validate()
    run_dir = Path(run_dir)
    if (run_dir / "last.pt").exists():
        raise TrainingError(
            f"run folder {run_dir} already holds a run; resume it or choose a new folder"
        )
    if split is None:
        split = split_train_valid(
            table.df, CODE_COLUMN, train_fraction, seed=config.seed, group_column=group_column
        )
    train_df, valid_df = split
    try:
        atomic_write_csv(run_dir / "train.csv", train_df)
        atomic_write_csv(run_dir / "valid.csv", valid_df)
    except OSError as exc:
        raise TrainingError(f"cannot write to run folder {run_dir}: {exc.strerror or exc}") from exc
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
        run_dir,
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
    """A :class:`Trainer` that continues the run in ``run_dir`` on its recorded split."""
    import json

    run_dir = Path(run_dir)
    try:
        cfg = json.loads((run_dir / "config.json").read_text())
        train_df = pd.read_csv(run_dir / "train.csv")
        valid_df = pd.read_csv(run_dir / "valid.csv")
    except (OSError, ValueError) as exc:
        raise TrainingError(f"cannot resume {run_dir}: {exc}") from exc
    label_dict = {int(k): v for k, v in cfg["label_dict"].items()}
    pre = Preprocessing.from_dict(cfg["preprocessing"])
    train_ds, valid_ds = make_datasets(
        (train_df, valid_df), label_dict, pre, bool(cfg.get("augment")), cfg["training"]["seed"]
    )
    return Trainer.resume(
        run_dir, train_ds, valid_ds, epochs=epochs, callbacks=callbacks, **overrides
    )
