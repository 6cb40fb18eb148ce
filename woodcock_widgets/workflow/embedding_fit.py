"""An embedding fit with a trainer's surface, so the CNN path's job runner and views serve it.

:class:`EmbeddingFit` wraps :func:`~woodcock_widgets.workflow.embedding_training.
fit_embedding_classifier` in what :class:`~woodcock_widgets.ml.jobs.TrainingJob` and the
training widget use of a :class:`~woodcock_widgets.ml.trainer.Trainer`: ``fit()``,
``stop()``, ``status``, ``history``, ``epoch``, ``config.epochs``, ``best_epoch``,
``best_score`` and trainer-style callbacks (``on_fit_start(trainer)``,
``on_epoch_end(trainer, record)``, ``on_fit_end(trainer, status)``). A logistic head is
fitted in one step, so the history has one epoch. After the fit, :meth:`EmbeddingFit.pr_curve`
gives the precision–recall curve of the validation windows.

:func:`embedding_factory` is :func:`~woodcock_widgets.workflow.pipeline.trainer_factory`'s
twin: ``factory(run_dir, config, callbacks=..., pretrained=...)`` builds an
:class:`EmbeddingFit` of a label table.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TrainingError
from ..ml.trainer import History
from .embedding_run import EmbeddingRun

__all__ = ["EMBEDDING_OPTIONS", "EmbeddingFit", "embedding_factory"]

#: Options of :func:`~woodcock_widgets.workflow.embedding_training.fit_embedding_classifier`
#: an :class:`EmbeddingFit` passes on.
EMBEDDING_OPTIONS = frozenset(
    {
        "embedder",
        "classes",
        "multi_label",
        "cache_dir",
        "train_fraction",
        "group_column",
        "split",
        "positive_class",
        "zero_shot_species",
        "zero_shot_threshold",
        "C",
        "class_weight",
        "max_iter",
        "filename_column",
        "extra_config",
    }
)


@dataclass(frozen=True)
class _OneStep:
    """The part of a training config the views read: one epoch."""

    epochs: int = 1


class EmbeddingFit:
    """A shallow head fitted on embeddings of ``table`` into ``run_dir``, trainer-shaped.

    Parameters
    ----------
    table : LabeledTable, pandas.DataFrame or path
        As :func:`~woodcock_widgets.workflow.embedding_training.fit_embedding_classifier`.
    run_dir : str or path-like
        The run folder.
    callbacks : sequence
        Trainer-style callbacks (each hook optional): ``on_fit_start(fit)``,
        ``on_epoch_end(fit, record)``, ``on_fit_end(fit, status)``.
    seed : int
        Split seed.
    batch_size : int
        Windows per embedder call.
    **options
        See :data:`EMBEDDING_OPTIONS`.

    Attributes
    ----------
    status : str
        ``idle``, ``running``, ``finished``, ``stopped`` (Stop before the fit began) or
        ``failed``.
    result : EmbeddingRun or None
        The outcome, once finished.
    error : BaseException or None
        What made the fit fail.
    """

    best_metric = "valid_f1"

    def __init__(
        self,
        table,
        run_dir: str | os.PathLike,
        callbacks: Sequence[Any] = (),
        seed: int = 0,
        batch_size: int = 32,
        **options,
    ) -> None:
        unknown = sorted(set(options) - EMBEDDING_OPTIONS)
        if unknown:
            raise TrainingError(
                f"unknown embedding option(s) {unknown}; use {sorted(EMBEDDING_OPTIONS)}"
            )
        self.table = table
        self.run_dir = Path(run_dir)
        self.callbacks = list(callbacks)
        self.seed = int(seed)
        self.batch_size = int(batch_size)
        self.options = options
        self.config = _OneStep()
        self.history = History()
        self.status = "idle"
        self.result: EmbeddingRun | None = None
        self.error: BaseException | None = None
        self._stop = False

    @property
    def epoch(self) -> int:
        """Epochs done: 1 after the fit, else 0."""
        return len(self.history)

    @property
    def best_epoch(self) -> int | None:
        """1 after the fit (the only step), else ``None``."""
        return 1 if self.result is not None else None

    @property
    def best_score(self) -> float:
        """Validation macro F1 (NaN before the fit)."""
        return self.result.best_score if self.result is not None else float("nan")

    def stop(self) -> None:
        """Stop before the fit begins; a fit under way takes seconds and is let finish."""
        self._stop = True

    def _emit(self, name: str, *args) -> None:
        for cb in self.callbacks:
            hook = getattr(cb, name, None)
            if hook is not None:
                hook(self, *args)

    def fit(self) -> History:
        """Embed (through the cache), fit the head, write the run folder; return the history.

        Raises
        ------
        Exception
            Whatever the fit raises (also kept in :attr:`error`; status ``failed``).
        """
        from .embedding_training import fit_embedding_classifier

        self._emit("on_fit_start")
        if self._stop:
            self.status = "stopped"
            self._emit("on_fit_end", "stopped")
            return self.history
        self.status = "running"
        try:
            self.result = fit_embedding_classifier(
                self.table,
                self.run_dir,
                seed=self.seed,
                batch_size=self.batch_size,
                progress=False,
                **self.options,
            )
        except BaseException as exc:
            self.error, self.status = exc, "failed"
            self._emit("on_fit_end", "failed")
            raise
        self.history.records.append(dict(self.result.record))
        self._emit("on_epoch_end", self.history.records[-1])
        self.status = "finished"
        self._emit("on_fit_end", "finished")
        return self.history

    def pr_curve(self, class_name: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Precision and recall of the validation windows over all thresholds of one class.

        Parameters
        ----------
        class_name : str, optional
            Default: the run's positive class.

        Returns
        -------
        (numpy.ndarray, numpy.ndarray)
            ``precision``, ``recall`` (see :func:`~woodcock_widgets.ml.evaluation.pr_curve`);
            empty before the fit, without validation windows, or for a class without
            positives.
        """
        from ..ml.evaluation import pr_curve

        run = self.result
        if run is None or run.valid_scores is None or not len(run.valid_scores):
            return np.zeros(0), np.zeros(0)
        classes = run.bundle.class_names
        name = class_name if class_name is not None else run.bundle.positive_class
        if name not in classes:
            raise TrainingError(f"class {name!r} is not one of {classes}")
        multi = bool(run.bundle.multi_label)
        precision, recall, _ = pr_curve(
            run.valid_truth, run.valid_scores, classes.index(name), multi_label=multi
        )
        return precision, recall


def embedding_factory(table, **options) -> Callable[..., EmbeddingFit]:
    """A function that fits a new embedding run of ``table`` in a given folder (for widgets).

    ``factory(run_dir, config, callbacks=..., pretrained=...)`` returns an
    :class:`EmbeddingFit` with ``options`` (see :data:`EMBEDDING_OPTIONS`); of ``config``
    (a :class:`~woodcock_widgets.ml.training_config.TrainingConfig`) it uses the seed and
    the batch size; ``pretrained`` does not apply.

    Raises
    ------
    TrainingError
        An unknown option.
    """
    unknown = sorted(set(options) - EMBEDDING_OPTIONS)
    if unknown:
        raise TrainingError(
            f"unknown embedding option(s) {unknown}; use {sorted(EMBEDDING_OPTIONS)}"
        )
    return functools.partial(_make, table, options)


def _make(table, options: dict, run_dir, config=None, callbacks=(), pretrained=None):
    seed = getattr(config, "seed", 0) if config is not None else 0
    batch_size = getattr(config, "batch_size", 32) if config is not None else 32
    return EmbeddingFit(table, run_dir, callbacks, seed=seed, batch_size=batch_size, **options)
