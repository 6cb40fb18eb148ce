"""Train a shallow classifier on pretrained embeddings: a label table in, a run folder out.

:func:`fit_embedding_classifier` is the ``embeddings`` method beside the CNN path
(:func:`~woodcock_widgets.workflow.pipeline.new_trainer`). It takes the same label tables:

* a clip table (:func:`~woodcock_widgets.tables.labeled.prepare_labels`): one row per file,
  one class per row; a row is its whole file (or ``start_time`` to ``end_time`` where the
  table has those columns);
* a window table (:mod:`woodcock_widgets.tables.windows`): ``file, start_time, end_time``
  and one 0/1 column per class. When every row has exactly one class it is single-label,
  otherwise multi-label (one sigmoid per class; all-zero rows are negatives).

It splits with :func:`~woodcock_widgets.tables.splits.split_train_valid` (or takes a given
split), embeds every window once through the :class:`~woodcock_widgets.ml.embedding_cache.
EmbeddingCache` (a refit with other labels, classes or split runs no model), fits a
:class:`~woodcock_widgets.ml.shallow.ShallowClassifier` (logistic regression, classes weighed
by their rarity), and writes the CNN path's run folder through
:class:`~woodcock_widgets.ml.run_folder.RunFolder`::

    RUN/config.json    method "embeddings", the embedder, the head and every setting
    RUN/train.csv      the rows trained on
    RUN/valid.csv      the rows validated on
    RUN/history.csv    one row, epoch 1: train/valid loss, accuracy, precision, recall, F1
                       (macro and per class), valid_map and valid_ap_<class>, zero_shot_*
    RUN/last.pt        the EmbeddingBundle (a logistic head has one step: last is best)
    RUN/best.pt        the same file (hard link)

so ``predict --model RUN/best.pt`` and the results review work unchanged. Windows whose
length differs from the embedder's follow the clip-length rule of
:mod:`woodcock_widgets.ml.embedders` (centre and pad, or average overlapping windows).

With BirdNET and a ``zero_shot_species``, BirdNET's own score for that species on the
validation windows is the zero-shot baseline (:mod:`woodcock_widgets.ml.zero_shot`): its AP and
F1 for the positive class are recorded beside the trained classifier's (``zero_shot_ap``,
``zero_shot_f1``, ...). The scores come from the same model run as the embeddings and are
cached for every window, so a refit on another split or other labels runs no model at all.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import EmbeddingError, TrainingError
from ..ml.embedders import Embedder
from ..ml.embedding_bundle import (
    EmbeddingBundle,
    embedder_info,
    embedding_preprocessing,
    embedding_versions,
)
from ..ml.embedding_cache import EmbeddingCache
from ..ml.run_folder import RunFolder
from ..ml.shallow import ShallowClassifier
from ..ml.shallow_selection import choose_C
from ..ml.zero_shot import (
    DEFAULT_ZERO_SHOT_THRESHOLD,
    SharedPass,
    has_species_scores,
    zero_shot_metrics,
    zero_shot_scores,
)
from .embedding_metrics import DEFAULT_THRESHOLD, evaluate_probabilities
from .embedding_rows import as_rows, clean, split_rows, targets, window_table
from .embedding_run import EmbeddingRun
from .embedding_setup import make_embedder, positive_class_of

__all__ = ["EmbeddingRun", "fit_embedding_classifier", "make_embedder", "METHOD"]

#: ``method`` recorded in ``config.json`` (the CNN path records none).
METHOD = "embeddings"


def _emit(callbacks: Sequence, name: str, *args) -> None:
    for cb in callbacks:
        hook = getattr(cb, name, None)
        if hook is not None:
            hook(*args)


# ----------------------------------------------------------------------------- the fit
def fit_embedding_classifier(
    table,
    run_dir: str | os.PathLike,
    embedder: str | os.PathLike | Embedder | Any = "birdnet",
    classes: Sequence[str] | None = None,
    multi_label: bool | None = None,
    cache_dir: str | os.PathLike | EmbeddingCache | None = None,
    train_fraction: float = 0.8,
    seed: int = 0,
    group_column: str | None = None,
    *,
    split: tuple[pd.DataFrame, pd.DataFrame] | None = None,
    positive_class: str | None = None,
    zero_shot_species: str | None = None,
    zero_shot_threshold: float = DEFAULT_ZERO_SHOT_THRESHOLD,
    C: float | str = 1.0,
    class_weight: Any = "balanced",
    max_iter: int = 1000,
    batch_size: int = 32,
    filename_column: str = "filename",
    progress: bool = True,
    callbacks: Sequence[Any] = (),
    extra_config: dict[str, Any] | None = None,
) -> EmbeddingRun:
    """Fit a logistic head on embeddings of a label table and write a run folder.

    Parameters
    ----------
    table : LabeledTable, pandas.DataFrame or path
        A clip table (:func:`~woodcock_widgets.tables.labeled.prepare_labels`), a window table,
        or the path of a window-table CSV (see the module docstring).
    run_dir : str or path-like
        The run folder (created; refused when it already holds a run).
    embedder : "birdnet", path, ModelBundle or Embedder
        See :func:`make_embedder`.
    classes : sequence of str, optional
        Train on these classes only (clip table: rows of these classes, coded in this order;
        window table: these class columns). Default: all.
    multi_label : bool, optional
        Window tables: default multi-label exactly when some window has no class or several.
        Clip tables are single-label.
    cache_dir : path or EmbeddingCache, optional
        The embedding cache (default: ``$WOODCOCK_CACHE/embeddings`` or
        ``~/.cache/woodcock_widgets/embeddings``); the bundle keeps using it for prediction.
    train_fraction, seed, group_column :
        As for :func:`~woodcock_widgets.tables.splits.split_train_valid`.
    split : (train, valid), optional
        A split made already (e.g. notebook 3's ``train.csv``/``valid.csv``), used as is.
    positive_class : str, optional
        The class detections and the zero-shot baseline are about (default: as
        :func:`~woodcock_widgets.ml.predict.default_detect_class` picks).
    zero_shot_species : str, optional
        A BirdNET species (e.g. ``"Scolopax minor_American Woodcock"``): record BirdNET's own
        score for it on the validation windows as a baseline. Needs the BirdNET embedder.
    zero_shot_threshold : float
        Score at which a zero-shot detection counts for its precision, recall and F1.
    C, class_weight, max_iter :
        The head's settings (:class:`~woodcock_widgets.ml.shallow.ShallowClassifier`).
        ``C="cv"`` chooses ``C`` by cross-validated log loss on the training rows alone
        (:func:`~woodcock_widgets.ml.shallow_selection.choose_C`); the history row records
        the choice (``head_C``).
    batch_size : int
        Windows per model call.
    filename_column : str
        Audio path column of a clip table.
    progress : bool
        Progress bars while embeddings are computed.
    callbacks : sequence
        Objects with any of ``on_fit_start(run_dir)``, ``on_epoch_end(run_dir, record)``,
        ``on_fit_end(run_dir, status)``.
    extra_config : dict, optional
        More entries for ``config.json`` (e.g. where the labels came from).

    Returns
    -------
    EmbeddingRun

    Raises
    ------
    TrainingError
        A bad table, classes or settings; a folder that holds a run already; an unwritable
        folder.
    SplitError
        A split that cannot be made.
    EmbeddingError
        A missing extra (with the install command), an unknown zero-shot species, a window
        outside its file.
    AudioLoadError
        A missing or unreadable audio file.
    """
    t_start = time.perf_counter()
    folder = RunFolder(run_dir)
    folder.check_new("an embedding run is not resumed: fit again into a new folder")
    rows = as_rows(table, classes, multi_label, filename_column)
    positive = positive_class_of(rows.classes, positive_class)
    model = make_embedder(embedder)
    species_label = None
    if zero_shot_species:
        if not has_species_scores(model):
            raise EmbeddingError(
                f"a zero-shot baseline needs BirdNET's species scores; {model.name} has none"
            )
        species_label = model.labels[model.species_index(zero_shot_species)]
    cache = cache_dir if isinstance(cache_dir, EmbeddingCache) else EmbeddingCache(cache_dir)
    train_df, valid_df, warnings = split_rows(rows, split, train_fraction, seed, group_column)
    if len(train_df) == 0:
        raise TrainingError("no training rows")
    train_w, valid_w = window_table(rows, train_df), window_table(rows, valid_df)
    clip_seconds = round(float(np.median(train_w["end_time"] - train_w["start_time"])), 3)
    head = ShallowClassifier(
        rows.classes,
        rows.multi_label,
        class_weight=class_weight,
        C=1.0 if C == "cv" else C,
        max_iter=max_iter,
    )
    thresholds = {c: DEFAULT_THRESHOLD for c in (rows.classes if rows.multi_label else [positive])}
    config = {
        "method": METHOD,
        "embedder": embedder_info(model),
        "head": {
            "type": "logistic",
            "C": "cv" if C == "cv" else head.C,
            "class_weight": head.class_weight,
            "max_iter": head.max_iter,
        },
        "multi_label": rows.multi_label,
        "table": rows.kind,
        "class_column": rows.class_column,
        "num_classes": len(rows.classes),
        "label_dict": {str(i): c for i, c in enumerate(rows.classes)},
        "positive_class": positive,
        "thresholds": thresholds,
        "clip_seconds": clip_seconds,
        "preprocessing": embedding_preprocessing(model, clip_seconds).to_dict(),
        "train_fraction": float(train_fraction),
        "group_column": group_column,
        "split_given": split is not None,
        "split_warnings": warnings,
        "n_train": int(len(train_df)),
        "n_valid": int(len(valid_df)),
        "zero_shot": (
            {"species": species_label, "threshold": float(zero_shot_threshold)}
            if species_label
            else None
        ),
        "cache_dir": str(cache.root),
        "training": {"epochs": 1, "seed": int(seed), "batch_size": int(batch_size)},
        **(extra_config or {}),
    }
    config["versions"] = embedding_versions()
    folder.prepare(config)
    folder.write_split(clean(train_df), clean(valid_df))
    _emit(callbacks, "on_fit_start", folder.path)
    status = "failed"
    try:
        # --- embeddings (and the zero-shot scores, in the same model run)
        t0 = time.perf_counter()
        shared = SharedPass(model) if species_label else None
        both = pd.concat([train_w, valid_w], ignore_index=True)
        zs_scores = None
        if shared is not None:
            # every window's scores are cached (not only validation's), so a refit on
            # another split runs no model either
            zs_all = zero_shot_scores(shared, both, species_label, cache, batch_size, progress)
            zs_scores = zs_all[len(train_w) :] if len(valid_w) else None
        view = shared.embeddings if shared is not None else model
        emb = cache.embed_windows(view, both, batch_size=batch_size, progress=progress)
        x_train, x_valid = emb[: len(train_w)], emb[len(train_w) :]
        t_embed = time.perf_counter() - t0

        # --- the head
        t0 = time.perf_counter()
        y_train, y_valid = targets(rows, train_df), targets(rows, valid_df)
        cv_losses = None
        if C == "cv":
            chosen, cv_losses = choose_C(
                x_train, y_train, rows.classes, rows.multi_label, class_weight, seed=seed
            )
            head = ShallowClassifier(rows.classes, rows.multi_label, class_weight, chosen, max_iter)
        head.fit(x_train, y_train)
        t_fit = time.perf_counter() - t0

        record: dict[str, Any] = {"epoch": 1}
        p_valid = None
        record.update(
            evaluate_probabilities(
                "train",
                y_train,
                head.predict_proba(x_train),
                rows.classes,
                rows.multi_label,
                False,
            )
        )
        if len(valid_w):
            p_valid = head.predict_proba(x_valid)
            record.update(
                evaluate_probabilities(
                    "valid", y_valid, p_valid, rows.classes, rows.multi_label, True
                )
            )
        zero_shot = None
        if zs_scores is not None:
            k = rows.classes.index(positive)
            truth = y_valid[:, k] if rows.multi_label else y_valid == k
            zero_shot = {
                "species": species_label,
                "positive_class": positive,
                **zero_shot_metrics(truth, zs_scores, zero_shot_threshold),
            }
            record.update(
                {
                    f"zero_shot_{key}": zero_shot[key]
                    for key in ("ap", "precision", "recall", "f1", "threshold")
                }
            )
        record["head_C"] = head.C
        if cv_losses:
            record.update({f"cv_log_loss_C{c:g}": v for c, v in cv_losses.items()})
        record["embed_seconds"] = t_embed
        record["fit_seconds"] = t_fit

        # --- the bundle and the run folder
        t0 = time.perf_counter()
        extra = {
            "method": METHOD,
            "epoch": 1,
            "run_dir": str(folder.path),
            "class_column": rows.class_column,
            "multi_label": rows.multi_label,
            "zero_shot": zero_shot,
        }
        bundle = EmbeddingBundle.create(
            head,
            model,
            clip_seconds,
            metrics={k: v for k, v in record.items() if k != "epoch"},
            extra=extra,
            thresholds=thresholds,
            positive_class=positive,
            cache=cache,
        )
        record["seconds"] = time.perf_counter() - t_start
        bundle.metrics["seconds"] = record["seconds"]
        folder.write_epoch(
            bundle,
            {},
            pd.DataFrame([record]),
            checkpoint=False,
            best=True,
            finished=False,
            best_was_previous=False,
        )
        t_save = time.perf_counter() - t0
        status = "finished"
    finally:
        if status != "finished":
            _emit(callbacks, "on_fit_end", folder.path, status)
    _emit(callbacks, "on_epoch_end", folder.path, record)
    _emit(callbacks, "on_fit_end", folder.path, status)
    stats = {
        "model_calls": cache.model_calls,
        "windows_computed": cache.windows_computed,
        "hits": cache.hits,
        "misses": cache.misses,
        "model_windows": shared.model_windows if shared is not None else cache.windows_computed,
    }
    return EmbeddingRun(
        folder.path,
        bundle,
        record,
        zero_shot,
        {
            "embed_seconds": t_embed,
            "fit_seconds": t_fit,
            "save_seconds": t_save,
            "seconds": time.perf_counter() - t_start,
        },
        stats,
        warnings,
        valid_truth=y_valid if p_valid is not None else None,
        valid_scores=p_valid,
    )
