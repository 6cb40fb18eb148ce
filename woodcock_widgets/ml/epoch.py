"""One epoch's work for :class:`~.trainer.Trainer`: the training pass, validation, checks.

The trainer's loop calls :func:`run_epoch` once per epoch; validation scores go through the
one scoring pass prediction uses, :func:`.predict.score_batches`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..errors import TrainingError
from .batching import Stopped, batch_indices, prefetch
from .batchnorm import recalibrate_batchnorm
from .class_metrics import DEFAULT_THRESHOLD, per_class_metrics
from .datasets import AudioClipDataset
from .history_columns import history_columns
from .metrics import classification_metrics
from .multilabel import chosen_thresholds, logits_of, multilabel_metrics
from .predict import score_batches

if TYPE_CHECKING:
    from .trainer import Trainer

__all__ = ["run_epoch", "train_pass", "evaluate", "validation_record", "check_finite"]


def _loader(dataset: AudioClipDataset, channels_last: bool) -> Callable:
    """``dataset.batch``, channels-last already when asked (no copy per batch)."""
    if channels_last and isinstance(dataset, AudioClipDataset):
        return lambda indices: dataset.batch(indices, channels_last=True)
    return dataset.batch


def _blew_up(trainer: Trainer, what: str) -> TrainingError:
    return TrainingError(
        f"{what}: the learning rate ({trainer.config.learning_rate:g}) is probably too high. "
        f"Training stopped; the run folder keeps epoch {trainer.epoch} ({trainer.folder.LAST})."
    )


def train_pass(trainer: Trainer, epoch: int) -> dict[str, float]:
    """One pass over the training clips; sets ``trainer.train_metrics``.

    Returns
    -------
    dict
        ``train_loss``, ``train_accuracy`` and ``train_f1`` (macro; multi-label: at the 0.5
        threshold, see :mod:`.multilabel`).
    """
    ds, rt, cfg = trainer.train_dataset, trainer.runtime, trainer.config
    model, optimizer, scaler = trainer.model, trainer.optimizer, trainer.scaler
    ds.set_epoch(epoch)
    gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
    batches = batch_indices(len(ds), cfg.batch_size, gen)
    load = _loader(ds, rt.channels_last)
    model.train()
    multi = trainer.multi_label
    total_loss, correct, seen, predicted, truth = 0.0, 0, 0, [], []
    for b, (x, y) in enumerate(prefetch(load, batches), start=1):
        if trainer.stop_requested:
            raise Stopped
        x, y = rt.to_device(x), y.to(rt.device)
        with rt.autocast():
            out = model(x)
        loss = trainer.loss_fn(out.float(), y)
        if not torch.isfinite(loss):
            raise _blew_up(trainer, f"the loss became {loss.item()} at epoch {epoch}, batch {b}")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        total_loss += loss.item() * len(y)
        pred = (out.detach() > 0).to(y.dtype) if multi else out.argmax(1)
        correct += int((pred == y).sum())
        predicted.append(pred.cpu())
        truth.append(y.cpu())
        seen += len(y)
        trainer._emit("on_batch_end", epoch, b, len(batches), loss.item())
    if (k := cfg.bn_recalibration_batches) > 0:
        with rt.autocast():  # the statistics of the activations training computes
            inputs = (rt.to_device(x) for x, _ in prefetch(load, batches[:k]))
            recalibrate_batchnorm(model, inputs, lambda: trainer.stop_requested)
    y_true, y_pred = torch.cat(truth).numpy(), torch.cat(predicted).numpy()
    if multi:
        trainer.train_metrics = multilabel_metrics(y_true, y_pred, trainer.class_names)
    else:
        trainer.train_metrics = classification_metrics(y_true, y_pred, trainer.class_names)
    return {
        "train_loss": total_loss / seen,
        "train_accuracy": trainer.train_metrics["accuracy"] if multi else correct / seen,
        "train_f1": trainer.train_metrics["f1"],
    }


def evaluate(trainer: Trainer, dataset: AudioClipDataset) -> tuple[np.ndarray, np.ndarray, float]:
    """Scores, true labels and mean loss of ``dataset`` in eval mode.

    The scores come from :func:`~woodcock_widgets.ml.predict.score_batches` on the trainer's
    device and precision. The loss function gets the outputs that give those scores
    (:func:`.multilabel.logits_of`): the log-scores, which for cross-entropy is its value on
    the logits (a shift of the logits changes neither), or the sigmoid's logits.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, float)
        Scores ``(n, n_classes)`` (softmax, or one sigmoid per class), labels (codes
        ``(n,)``, or the 0/1 matrix ``(n, n_classes)``) and the mean loss.
    """
    labels: list[torch.Tensor] = []
    size = max(trainer.config.batch_size * 2, 1)
    batches = batch_indices(len(dataset), size, None)

    def inputs(channels_last: bool):
        for x, y in prefetch(_loader(dataset, channels_last), batches):
            if trainer.stop_requested:
                raise Stopped
            labels.append(y)
            yield x

    rt = trainer.runtime
    scores = score_batches(trainer.bundle({}), inputs, rt.device, rt.precision)
    if not rt.channels_last:  # scoring lays the weights out channels-last; undo it
        trainer.model.to(memory_format=torch.contiguous_format)
    y = torch.cat(labels)
    outputs = logits_of(scores, trainer.multi_label)
    with torch.no_grad():
        loss = float(trainer.loss_fn(outputs.to(rt.device), y.to(rt.device)))
    return scores, y.numpy(), loss


def check_finite(trainer: Trainer, epoch: int, record: dict[str, float]) -> None:
    """Refuse to save an epoch whose weights, statistics or validation loss blew up.

    The loss is checked per batch, but the last step of an epoch can still leave inf/NaN
    weights (or BatchNorm statistics) that would become the "last good" epoch.
    """
    bad = [
        name
        for name, t in trainer.model.state_dict().items()
        if t.is_floating_point() and not bool(torch.isfinite(t).all())
    ]
    if not bad and math.isfinite(record.get("valid_loss", 0.0)):
        return
    what = f"model tensor {bad[0]!r}" if bad else "the validation loss"
    more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
    raise _blew_up(trainer, f"{what}{more} became NaN or infinite at epoch {epoch}")


def validation_record(trainer: Trainer, scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """The validation columns of a history row; sets ``trainer.thresholds``.

    Accuracy, precision, recall and F1 (macro and per class: the arg-max for single-target,
    ``score >= 0.5`` for multi-label), then ``valid_map`` and one ``valid_ap_<class>``
    (:func:`~woodcock_widgets.ml.history_columns.history_columns`). Multi-label: the F1-optimal
    threshold of each target class on these scores becomes ``trainer.thresholds`` (the
    epoch's bundle records it).
    """
    names = trainer.class_names
    if trainer.multi_label:
        m = multilabel_metrics(labels, scores >= DEFAULT_THRESHOLD, names)
    else:
        m = classification_metrics(labels, scores.argmax(1), names)
    per_class = per_class_metrics(
        labels.astype(np.int64), scores, names, multi_label=trainer.multi_label
    )
    if trainer.multi_label:  # single-target models keep detecting at 0.5, as before
        trainer.thresholds = chosen_thresholds(per_class, trainer.threshold_classes)
    trainer.valid_metrics = per_class
    out = {f"valid_{k}": v for k, v in m.items()}
    out.update(history_columns(per_class))
    return out


def run_epoch(trainer: Trainer, epoch: int) -> dict[str, float]:
    """Train, validate and check one epoch; return its history row."""
    t0 = time.perf_counter()
    torch.manual_seed(trainer.config.seed * 100_003 + epoch)
    record: dict[str, float] = {"epoch": epoch}
    record.update(train_pass(trainer, epoch))
    if trainer.valid_dataset is not None and len(trainer.valid_dataset):
        scores, labels, loss = evaluate(trainer, trainer.valid_dataset)
        if np.isfinite(scores).all():
            record["valid_loss"] = loss
            record.update(validation_record(trainer, scores, labels))
        else:  # the weights blew up: check_finite refuses the epoch
            record["valid_loss"] = float("nan")
    record["seconds"] = time.perf_counter() - t0
    check_finite(trainer, epoch, record)
    return record
