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

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from ..errors import EmbeddingError, SplitError, TrainingError
from ..ml.embedders import Embedder
from ..ml.embedding_bundle import (
    EmbeddingBundle,
    embedder_info,
    embedding_preprocessing,
    embedding_versions,
)
from ..ml.embedding_cache import EmbeddingCache
from ..ml.metrics import classification_metrics, threshold_metrics
from ..ml.run_folder import RunFolder
from ..ml.shallow import ShallowClassifier
from ..ml.zero_shot import (
    DEFAULT_ZERO_SHOT_THRESHOLD,
    SharedPass,
    has_species_scores,
    zero_shot_metrics,
    zero_shot_scores,
)
from ..tables.labeled import CODE_COLUMN, LabeledTable
from ..tables.splits import split_train_valid
from ..tables.windows import WINDOW_COLUMNS, read_window_table

__all__ = ["EmbeddingRun", "fit_embedding_classifier", "make_embedder", "METHOD"]

#: ``method`` recorded in ``config.json`` (the CNN path records none).
METHOD = "embeddings"
#: Detection threshold recorded for the positive class (multi-label: every class).
DEFAULT_THRESHOLD = 0.5

_STRATUM = "_stratum"


@dataclass
class EmbeddingRun:
    """The outcome of :func:`fit_embedding_classifier`.

    Attributes
    ----------
    run_dir : pathlib.Path
        The run folder.
    bundle : EmbeddingBundle
        The saved classifier (``run_dir/best.pt``).
    record : dict
        The history row (epoch 1): losses and metrics, zero-shot figures, seconds.
    zero_shot : dict or None
        Species, threshold, AP, precision, recall and F1 of the zero-shot baseline.
    timings : dict of str to float
        ``embed_seconds``, ``fit_seconds``, ``save_seconds``, ``seconds`` (all of it).
    cache_stats : dict of str to int
        ``model_calls``, ``windows_computed``, ``hits``, ``misses`` of the embedding cache,
        and ``model_windows``: windows the model actually ran (0 on a refit).
    split_warnings : list of str
        What the split found worth saying (small classes, leakage).
    status : str
        ``finished``.
    """

    run_dir: Path
    bundle: EmbeddingBundle
    record: dict[str, Any]
    zero_shot: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    cache_stats: dict[str, int] = field(default_factory=dict)
    split_warnings: list[str] = field(default_factory=list)
    status: str = "finished"

    @property
    def history(self) -> pd.DataFrame:
        """The content of ``history.csv`` (one row)."""
        return pd.DataFrame([self.record])

    @property
    def best_epoch(self) -> int:
        """Always 1: a logistic head is fitted in one step."""
        return 1

    @property
    def best_score(self) -> float:
        """Validation macro F1 (as the CNN trainer's ``best_score``)."""
        return float(self.record.get("valid_f1", float("nan")))


def make_embedder(embedder: str | os.PathLike | Embedder | Any = "birdnet") -> Embedder:
    """An :class:`~woodcock_widgets.ml.embedders.Embedder` from a name, a bundle or itself.

    Parameters
    ----------
    embedder : str, path, ModelBundle or Embedder
        ``"birdnet"`` (the optional extra), the path of a CNN bundle of this kit (its layer
        before the classifier), a loaded CNN bundle, or an embedder.

    Raises
    ------
    EmbeddingError
        The ``birdnet`` extra is missing (with the install command), or an unknown name.
    """
    from ..ml.bundle import ModelBundle
    from ..ml.embedders import BirdNETEmbedder, BundleEmbedder

    if isinstance(embedder, Embedder):
        return embedder
    if isinstance(embedder, ModelBundle):
        return BundleEmbedder(embedder)
    if isinstance(embedder, str) and embedder.strip().lower() == "birdnet":
        return BirdNETEmbedder()
    path = Path(embedder)
    if path.suffix == ".pt" or path.is_file():
        return BundleEmbedder(path)
    raise EmbeddingError(
        f"unknown embedder {embedder!r}: use 'birdnet' or the path of a trained bundle (.pt)"
    )


# ----------------------------------------------------------------------------- the table
@dataclass
class _Rows:
    """A label table brought to one shape: rows, classes and how to read them."""

    df: pd.DataFrame  # the rows, with a stratum column for the split
    kind: str  # "clips" or "windows"
    classes: list[str]
    multi_label: bool
    class_column: str | None
    file_column: str


def _as_rows(table, classes, multi_label, filename_column: str) -> _Rows:
    if isinstance(table, str | os.PathLike):
        table = read_window_table(table)
    if isinstance(table, LabeledTable):
        return _clip_rows(table, classes, multi_label, filename_column)
    if isinstance(table, pd.DataFrame):
        missing = [c for c in WINDOW_COLUMNS if c not in table.columns]
        if missing:
            raise TrainingError(
                f"a label table must be a LabeledTable (prepare_labels) or a window table "
                f"with columns {WINDOW_COLUMNS}; this one lacks {missing}"
            )
        return _window_rows(table, classes, multi_label)
    raise TrainingError(
        f"cannot train on a {type(table).__name__}: give a LabeledTable (prepare_labels), a "
        "window table (make_windows / read_window_table) or a window-table CSV path"
    )


def _clip_rows(table: LabeledTable, classes, multi_label, filename_column: str) -> _Rows:
    if multi_label:
        raise TrainingError(
            "a clip table has one class per clip (single-label); use a window table with "
            "one 0/1 column per class for multi-label training"
        )
    df = table.df.copy()
    for col in (filename_column, CODE_COLUMN):
        if col not in df.columns:
            raise TrainingError(f"the label table lacks column {col!r}")
    names = {int(k): str(v) for k, v in table.label_dict.items()}
    df[_STRATUM] = [names[int(c)] for c in df[CODE_COLUMN]]
    if classes is None:
        classes = [names[k] for k in sorted(names)]
    else:
        classes = [str(c) for c in classes]
        unknown = sorted(set(classes) - set(names.values()))
        if unknown:
            raise TrainingError(f"classes {unknown} are not in the table ({list(names.values())})")
        df = df[df[_STRATUM].isin(classes)].copy()
        order = {c: i for i, c in enumerate(classes)}
        df[CODE_COLUMN] = df[_STRATUM].map(order).astype(int)
    return _Rows(df, "clips", classes, False, table.class_column, filename_column)


def _window_rows(table: pd.DataFrame, classes, multi_label) -> _Rows:
    df = table.copy()
    if classes is None:
        classes = [c for c in df.columns if c not in WINDOW_COLUMNS and c != _STRATUM]
    classes = [str(c) for c in classes]
    missing = [c for c in classes if c not in df.columns]
    if missing or not classes:
        raise TrainingError(f"the window table has no class column(s) {missing or classes}")
    values = df[classes].to_numpy()
    if not np.isin(values, (0, 1)).all():
        raise TrainingError("class columns of a window table must hold 0 or 1")
    y = values.astype(np.int64)
    one = (y.sum(axis=1) == 1).all()
    if multi_label is None:
        multi_label = not one
    if not multi_label and not one:
        raise TrainingError(
            "single-label training needs exactly one class per window, but some windows have "
            "none or several: train multi-label (multi_label=True) or add a class column "
            "for the windows without a sound"
        )
    if multi_label:
        df[_STRATUM] = ["+".join(c for c, v in zip(classes, row) if v) or "none" for row in y]
    else:
        df[_STRATUM] = np.asarray(classes)[y.argmax(axis=1)]
    return _Rows(df, "windows", classes, bool(multi_label), None, "file")


def _window_table(rows: _Rows, part: pd.DataFrame) -> pd.DataFrame:
    """``file, start_time, end_time`` of each row of ``part``."""
    from ..audio.clip import audio_info

    files = [str(f) for f in part[rows.file_column]]
    if {"start_time", "end_time"} <= set(part.columns):
        starts = part["start_time"].to_numpy(float)
        ends = part["end_time"].to_numpy(float)
    else:
        starts = np.zeros(len(files))
        infos = [audio_info(f) for f in files]
        ends = np.array([i.frames / i.samplerate if i.samplerate else 0.0 for i in infos])
    return pd.DataFrame({"file": files, "start_time": starts, "end_time": ends})


def _targets(rows: _Rows, part: pd.DataFrame) -> np.ndarray:
    """Single-label: codes ``(n,)``; multi-label: the 0/1 matrix ``(n, k)``."""
    if rows.multi_label:
        return part[rows.classes].to_numpy().astype(np.int64)
    if rows.kind == "clips":
        return part[CODE_COLUMN].to_numpy().astype(np.int64)
    return part[rows.classes].to_numpy().astype(np.int64).argmax(axis=1)


def _split(rows: _Rows, split, train_fraction: float, seed: int, group_column):
    if split is not None:
        train, valid = split
        train, valid = train.copy(), valid.copy()
        for part in (train, valid):
            # the split's own codes, where it has them (the class column may hold the values
            # before the label dictionary named them, e.g. "present" for "...-present")
            if rows.kind == "clips" and CODE_COLUMN in part.columns:
                continue
            if rows.kind == "clips" and rows.class_column in part.columns:
                names = part[rows.class_column].astype(str)
                unknown = sorted(set(names) - set(rows.classes))
                if unknown:
                    raise TrainingError(f"the given split has classes {unknown} not in the table")
                part[CODE_COLUMN] = names.map({c: i for i, c in enumerate(rows.classes)})
        if rows.kind == "windows":
            train = _window_rows(train, rows.classes, rows.multi_label).df
            valid = _window_rows(valid, rows.classes, rows.multi_label).df
        return train, valid, []
    kw = dict(seed=seed, group_column=group_column or None, filename_column=rows.file_column)
    try:
        result = split_train_valid(rows.df, _STRATUM, train_fraction, **kw)
    except SplitError:
        if not rows.multi_label:
            raise
        # rare combinations of classes cannot be stratified; split without stratifying
        result = split_train_valid(rows.df, _STRATUM, train_fraction, stratify=False, **kw)
    return result.train, result.valid, list(result.warnings)


def _clean(part: pd.DataFrame) -> pd.DataFrame:
    return part.drop(columns=[_STRATUM], errors="ignore")


# ----------------------------------------------------------------------------- metrics
def _ap(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    if y.all() or not y.any():
        return float("nan")  # undefined without both positives and negatives
    return float(average_precision_score(y, p))


def _evaluate(
    prefix: str, y: np.ndarray, p: np.ndarray, classes: list[str], multi_label: bool, full: bool
) -> dict[str, float]:
    """Loss, accuracy, precision/recall/F1 (macro and per class) and AP of probabilities."""
    eps = 1e-7
    p = np.clip(np.asarray(p, np.float64), eps, 1 - eps)
    out: dict[str, float] = {}
    if multi_label:
        loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
        hit = (p >= DEFAULT_THRESHOLD).astype(np.int64)
        per = {
            c: threshold_metrics(y[:, i], p[:, i], 1, DEFAULT_THRESHOLD)
            for i, c in enumerate(classes)
        }
        m = {
            "accuracy": float((hit == y).all(axis=1).mean()),  # every class right
            "precision": float(np.mean([v["precision"] for v in per.values()])),
            "recall": float(np.mean([v["recall"] for v in per.values()])),
            "f1": float(np.mean([v["f1"] for v in per.values()])),
        }
        for c, v in per.items():
            m.update({f"precision_{c}": v["precision"], f"recall_{c}": v["recall"]})
            m[f"f1_{c}"] = v["f1"]
        truth = y.astype(bool)
    else:
        loss = -np.mean(np.log(p[np.arange(len(y)), y]))
        m = classification_metrics(y, p.argmax(axis=1), classes)
        truth = np.eye(len(classes), dtype=bool)[y]
    out[f"{prefix}_loss"] = float(loss)
    keys = m if full else ("accuracy", "f1")
    out.update({f"{prefix}_{k}": float(m[k]) for k in keys})
    if full:
        aps = {c: _ap(truth[:, i], p[:, i]) for i, c in enumerate(classes)}
        defined = [v for v in aps.values() if not math.isnan(v)]
        out[f"{prefix}_map"] = float(np.mean(defined)) if defined else float("nan")
        out.update({f"{prefix}_ap_{c}": v for c, v in aps.items()})
    return out


def _positive(classes: list[str], positive_class: str | None) -> str:
    from ..ml.predict import default_detect_class

    if positive_class is not None:
        if str(positive_class) not in classes:
            raise TrainingError(f"positive class {positive_class!r} is not one of {classes}")
        return str(positive_class)
    return default_detect_class(SimpleNamespace(class_names=classes, extra={}))


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
    C: float = 1.0,
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
    rows = _as_rows(table, classes, multi_label, filename_column)
    positive = _positive(rows.classes, positive_class)
    model = make_embedder(embedder)
    species_label = None
    if zero_shot_species:
        if not has_species_scores(model):
            raise EmbeddingError(
                f"a zero-shot baseline needs BirdNET's species scores; {model.name} has none"
            )
        species_label = model.labels[model.species_index(zero_shot_species)]
    cache = cache_dir if isinstance(cache_dir, EmbeddingCache) else EmbeddingCache(cache_dir)
    train_df, valid_df, warnings = _split(rows, split, train_fraction, seed, group_column)
    if len(train_df) == 0:
        raise TrainingError("no training rows")
    train_w, valid_w = _window_table(rows, train_df), _window_table(rows, valid_df)
    clip_seconds = round(float(np.median(train_w["end_time"] - train_w["start_time"])), 3)
    head = ShallowClassifier(
        rows.classes, rows.multi_label, class_weight=class_weight, C=C, max_iter=max_iter
    )
    thresholds = {c: DEFAULT_THRESHOLD for c in (rows.classes if rows.multi_label else [positive])}
    config = {
        "method": METHOD,
        "embedder": embedder_info(model),
        "head": {
            "type": "logistic",
            "C": head.C,
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
    folder.write_split(_clean(train_df), _clean(valid_df))
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
        y_train, y_valid = _targets(rows, train_df), _targets(rows, valid_df)
        head.fit(x_train, y_train)
        t_fit = time.perf_counter() - t0

        record: dict[str, Any] = {"epoch": 1}
        record.update(
            _evaluate(
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
                _evaluate("valid", y_valid, p_valid, rows.classes, rows.multi_label, True)
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
    )
