"""The tutorial's steps as a few calls: label table → classes → split → datasets → trainer.

The command line, the notebooks and the widgets all go through these functions, so a run
from any of them with the same settings and seed gives the same result.

Two kinds of label table train here:

* a clip table (:func:`~woodcock_widgets.tables.labeled.prepare_labels`): one file per row,
  one class per row, read from the file's start (single-target softmax);
* a window table (:func:`~woodcock_widgets.tables.labeled.prepare_windows`): ``file,
  start_time, end_time`` and one 0/1 column per class, each window read from its
  ``start_time``; single-target when each window holds exactly one class, else multi-label
  (one sigmoid per class). Windows of one recording never straddle train and validation
  (``group_column="file"`` unless another is given).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from ..audio.preprocessing import Preprocessing
from ..errors import TrainingError
from ..ml.datasets import AudioClipDataset
from ..ml.models import build_model
from ..ml.multilabel import pos_weights, set_prior_bias
from ..ml.trainer import Callback, Trainer
from ..ml.training_config import TrainingConfig
from ..tables.annotations import _warn
from ..tables.labeled import CODE_COLUMN, LabeledTable, parse_mapping, prepare_labels
from ..tables.labeled_windows import WindowLabels, prepare_windows
from ..tables.splits import SplitResult, split_multilabel, split_train_valid
from .label_checks import (
    SHORT_CLIP_TOLERANCE,
    correct_labels,
    correct_split,
    short_clip_warning,
)
from .run_folder import RunFolder

__all__ = [
    "LabeledTable",
    "WindowLabels",
    "prepare_labels",
    "prepare_windows",
    "make_datasets",
    "new_trainer",
    "resume_trainer",
    "trainer_factory",
    "parse_mapping",
    "short_clip_warning",
    "correct_labels",
    "CODE_COLUMN",
]


def make_datasets(
    split: SplitResult | tuple[pd.DataFrame, pd.DataFrame],
    label_dict: Mapping[int, str],
    preprocessing: Preprocessing | None = None,
    augment: bool = False,
    seed: int = 0,
    filename_column: str = "filename",
    offset_column: str | None = None,
    target_columns: Sequence[str] | None = None,
) -> tuple[AudioClipDataset, AudioClipDataset]:
    """Training and validation datasets for a split (augmentation on training only).

    ``offset_column`` is where each clip starts in its file (windows: ``start_time``);
    ``target_columns`` makes multi-label datasets of those 0/1 columns.
    """
    train_df, valid_df = split
    pre = preprocessing or Preprocessing()
    kw = dict(
        label_dict=label_dict,
        label_column=CODE_COLUMN,
        filename_column=filename_column,
        preprocessing=pre,
        seed=seed,
        offset_column=offset_column,
        target_columns=target_columns,
    )
    return (
        AudioClipDataset(train_df, augment=augment, **kw),
        AudioClipDataset(valid_df, augment=False, **kw),
    )


def _window_table(table: LabeledTable, multi_label: bool | None) -> WindowLabels | None:
    if not isinstance(table, WindowLabels):
        if multi_label:
            raise TrainingError(
                "a clip table has one class per clip (single-target); train multi-label on a "
                "window table with one 0/1 column per class (prepare_windows)"
            )
        return None
    if multi_label is None or bool(multi_label) == table.multi_label:
        return table
    return prepare_windows(table.df, table.classes, multi_label)


def _split(table, windows, train_fraction, seed, group_column) -> SplitResult:
    if windows is None:
        return split_train_valid(
            table.df,
            CODE_COLUMN,
            train_fraction,
            seed=seed,
            group_column=group_column,
            class_names=table.label_dict,
        )
    if windows.multi_label:
        return split_multilabel(
            windows.df,
            windows.classes,
            train_fraction,
            seed=seed,
            group_column=group_column,
            filename_column=windows.filename_column,
        )
    return split_train_valid(
        windows.df,
        windows.class_column,
        train_fraction,
        seed=seed,
        group_column=group_column,
        filename_column=windows.filename_column,
    )


def _say_split(result: SplitResult) -> list[str]:
    """Warn about classes missing from a part (they are kept); return every warning."""
    said = list(getattr(result, "warnings", []) or [])
    for message in said:
        if "has no clips in" in message or "has no positive window in" in message:
            _warn(message)
    return said


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
    multi_label: bool | None = None,
    pos_weight: str | Sequence[float] | Mapping[str, float] | None = None,
    positive_class: str | None = None,
    corrections: str | os.PathLike | None = None,
) -> Trainer:
    """Split, build datasets and the model, and return a :class:`Trainer` for a new run.

    The split is written into the run folder (:meth:`RunFolder.write_split`) so the run
    can be resumed and rerun with exactly the same clips.

    Parameters
    ----------
    table : LabeledTable or WindowLabels
        A clip table (:func:`prepare_labels`) or a window table (:func:`prepare_windows`).
    run_dir : path
        The run folder (new).
    config : TrainingConfig, optional
        Settings.
    train_fraction : float
        Share of rows for training.
    group_column : str, optional
        Rows sharing a value stay on one side of the split; windows default to ``file``.
    arch, pretrained, weights_path, on_missing_weights
        The model (see :func:`~woodcock_widgets.ml.models.build_model`).
    preprocessing : Preprocessing, optional
        Default: the tutorial's; for windows, with ``clip_seconds`` the windows' length.
    augment : bool
        Augment training images.
    callbacks : sequence of Callback
        Progress hooks.
    split : SplitResult or (train, valid), optional
        A split to use instead of making one.
    extra_config : dict, optional
        More settings for ``config.json``.
    multi_label : bool, optional
        Override the window table's mode (see :func:`prepare_windows`); ``True`` is refused
        for a clip table.
    pos_weight : "balanced", sequence or mapping, optional
        Multi-label: weigh each class's positives in the loss
        (:func:`~woodcock_widgets.ml.multilabel.pos_weights`, from the training rows).
    positive_class : str, optional
        The class detections are about by default (see :class:`Trainer`).
    corrections : path, optional
        A corrections CSV applied to a clip table first (:func:`correct_labels`);
        ``config.json`` records it and how many labels changed.

    Warns
    -----
    UserWarning
        Clips shorter than the clip length (zero-padded), windows whose length is not the
        clip length, a class with no clip (or positive window) in train or validation (the
        class is kept).
    """
    config = config or TrainingConfig()
    config.validate()
    folder = RunFolder(run_dir)
    folder.check_new(hint="resume it")
    extra: dict = {}
    if corrections is not None:
        table, changed = correct_labels(table, corrections)
        extra["corrections"] = {"path": str(corrections), "changed": int(changed)}
    windows = _window_table(table, multi_label)
    if windows is not None:
        table = windows
        group_column = "file" if group_column is None else group_column
        if preprocessing is None:
            preprocessing = Preprocessing(clip_seconds=round(windows.window_seconds(), 6))
    pre = preprocessing or Preprocessing()
    said: list[str] = []
    if split is None:
        split = _split(table, windows, train_fraction, config.seed, group_column)
        said = _say_split(split)
    train_df, valid_df = split
    if windows is None:
        message = short_clip_warning(table.df, pre.clip_seconds)
    else:
        seconds = windows.window_seconds()
        message = None
        if abs(seconds - pre.clip_seconds) > SHORT_CLIP_TOLERANCE:
            message = (
                f"windows are {seconds:g} s (median) but the clip length is "
                f"{pre.clip_seconds:g} s: each window is read for {pre.clip_seconds:g} s from "
                "its start_time"
            )
    if message:
        _warn(message)
    multi = windows is not None and windows.multi_label
    targets = windows.target_columns if multi else None
    weights = None
    if pos_weight is not None:
        if not multi:
            raise TrainingError("pos_weight is for multi-label training (a window table)")
        weights = pos_weights(train_df[targets].to_numpy(np.int64), targets, pos_weight)
    folder.write_split(train_df, valid_df)
    kw = {}
    if windows is not None:
        kw = dict(filename_column=windows.filename_column, offset_column=windows.offset_column)
    train_ds, valid_ds = make_datasets(
        (train_df, valid_df),
        table.label_dict,
        pre,
        augment,
        config.seed,
        target_columns=targets,
        **kw,
    )
    torch.manual_seed(config.seed)
    model = build_model(
        arch,
        len(table.label_dict),
        pretrained=pretrained,
        weights_path=weights_path,
        on_missing_weights=on_missing_weights,
        in_channels=pre.channels,
    )
    if multi:  # each sigmoid starts at its class's training rate
        set_prior_bias(model, train_df[targets].to_numpy(np.float64).mean(axis=0))
        extra["output_bias"] = "prior"
    extra = {
        "class_column": table.class_column,
        "train_fraction": train_fraction,
        "group_column": group_column,
        "pretrained": bool(pretrained),
        "augment": bool(augment),
        **({"table": "windows", **kw} if windows is not None else {}),
        **({"split_warnings": said} if said else {}),
        **extra,
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
        multi_label=multi,
        pos_weight=weights,
        positive_class=positive_class,
    )


def resume_trainer(
    run_dir: str | os.PathLike,
    epochs: int | None = None,
    callbacks: Sequence[Callback] = (),
    corrections: str | os.PathLike | None = None,
    **overrides,
) -> Trainer:
    """A :class:`Trainer` that continues the run in ``run_dir`` on its recorded split.

    ``overrides`` are :class:`TrainingConfig` fields to change (e.g. ``learning_rate``);
    ``config.json`` records the new values and the change. A multi-label run (or a run on
    windows) reads its windows and classes as it recorded them. ``corrections`` (a
    corrections CSV, e.g. the run folder's own) relabels clips of the recorded split first
    (:func:`correct_split`); ``config.json`` records how many labels changed.
    """
    folder = RunFolder(run_dir)
    recorded = folder.read_config_for_resume()
    train_df, valid_df = folder.read_split()
    changed = None
    if corrections is not None:
        if recorded.get("table") == "windows":
            raise TrainingError(
                f"corrections ({corrections}) name clips of a clip table; this run trains on "
                "windows"
            )
        train_df, valid_df, changed = correct_split(folder, train_df, valid_df, corrections)
    label_dict = folder.read_label_dict()
    kw = {}
    if recorded.get("table") == "windows":
        kw = dict(
            filename_column=recorded.get("filename_column", "file"),
            offset_column=recorded.get("offset_column", "start_time"),
        )
    if recorded.get("multi_label"):
        kw["target_columns"] = [label_dict[k] for k in sorted(label_dict)]
    train_ds, valid_ds = make_datasets(
        (train_df, valid_df),
        label_dict,
        Preprocessing.from_dict(recorded["preprocessing"]),
        bool(recorded.get("augment")),
        recorded["training"]["seed"],
        **kw,
    )
    trainer = Trainer.resume(
        folder.path, train_ds, valid_ds, epochs=epochs, callbacks=callbacks, **overrides
    )
    if changed is not None:
        trainer.extra_config["corrections"] = {"path": str(corrections), "changed": changed}
    return trainer


def trainer_factory(table: LabeledTable, **options) -> Callable[..., Trainer]:
    """A function that starts a new run of ``table`` in a given folder (for widgets).

    ``factory(run_dir, config, callbacks=..., pretrained=...)`` calls :func:`new_trainer`
    with ``options`` (``split``, ``preprocessing``, ``augment``, ...).
    """
    return functools.partial(new_trainer, table, **options)
