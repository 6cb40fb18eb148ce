"""Training engine: fit, stop, resume; callbacks; per-epoch history; atomic run folders.

Run folder contract (other tools read it)::

    RUN_DIR/config.json        every setting needed to rerun
    RUN_DIR/history.csv        one row per finished epoch
    RUN_DIR/last.pt            bundle of the last finished epoch + optimizer state (resume;
                               a finished run keeps the hyper-parameters, not the momentum)
    RUN_DIR/best.pt            bundle of the epoch with the best validation macro F1
    RUN_DIR/checkpoints/epoch-NNNN.pt   every ``log_every`` epochs

Each file is replaced atomically. ``last.pt`` is written first and carries the whole
history, so a kill at any moment leaves a loadable folder, and resuming rewrites
``history.csv`` from it (no partial or duplicated rows).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..errors import BundleError, TrainingError
from ..io_utils import (
    atomic_link_or_copy,
    atomic_torch_save,
    atomic_write_csv,
    atomic_write_json,
    remove_temp_files,
)
from ..tables.labels import LabelMap
from .bundle import ModelBundle, read_bundle_payload, versions
from .datasets import AudioClipDataset
from .metrics import classification_metrics

__all__ = [
    "TrainingConfig",
    "Trainer",
    "Callback",
    "History",
    "TrainingJob",
    "train",
    "recalibrate_batchnorm",
    "pick_device",
    "pick_precision",
]


@dataclass
class TrainingConfig:
    """Training settings (all recorded in ``config.json``).

    Parameters
    ----------
    epochs : int
        Passes over the training clips.
    batch_size : int
        Clips per optimizer step.
    learning_rate, momentum, weight_decay : float
        SGD settings.
    seed : int
        Seeds model-independent randomness: batch order and augmentation per epoch.
    log_every : int
        Keep a checkpoint every this many epochs.
    device : str
        ``auto`` (cuda, then mps, then cpu) or a torch device name.
    precision : str
        ``auto`` (bf16 autocast where the hardware has it, else fp32), ``fp32``, ``bf16``,
        ``fp16``. Weights stay float32 either way.
    channels_last : str or bool
        ``auto`` uses the channels-last memory layout on cpu and cuda.
    bn_recalibration_batches : int
        Before each validation, recompute BatchNorm statistics from this many training
        batches (0 turns it off). Fast-moving weights leave running statistics behind; without
        this, a small run can predict one class only in eval mode. Two batches give the same
        validation F1 as a whole epoch's worth at a fraction of the cost (each batch costs
        a forward pass).
    num_threads : int, optional
        torch CPU threads; default torch's choice.
    """

    epochs: int = 5
    batch_size: int = 32
    learning_rate: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    seed: int = 0
    log_every: int = 5
    device: str = "auto"
    precision: str = "auto"
    channels_last: Any = "auto"
    bn_recalibration_batches: int = 2
    num_threads: int | None = None

    def validate(self) -> None:
        """Raise :class:`TrainingError` naming the first bad setting."""
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise TrainingError(f"epochs must be a positive integer, got {self.epochs!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise TrainingError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if not (
            isinstance(self.learning_rate, int | float)
            and self.learning_rate > 0
            and math.isfinite(self.learning_rate)
        ):
            raise TrainingError(
                f"learning_rate must be a positive number, got {self.learning_rate!r}"
            )
        if not isinstance(self.log_every, int) or self.log_every < 1:
            raise TrainingError(f"log_every must be a positive integer, got {self.log_every!r}")
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            raise TrainingError(
                f"precision must be auto, fp32, bf16 or fp16, got {self.precision!r}"
            )

    def to_dict(self) -> dict:
        """Plain JSON-ready settings."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainingConfig:
        """Inverse of :meth:`to_dict`; unknown keys ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


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


class _Stopped(Exception):
    pass


def _cpu_has_bf16() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` → cuda, then mps, then cpu; otherwise ``torch.device(name)``."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_precision(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """The autocast dtype for ``device`` (``None`` means float32, no autocast)."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        return torch.float16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and _cpu_has_bf16():
        return torch.bfloat16
    return None


def recalibrate_batchnorm(
    model: nn.Module,
    batches: Iterable[torch.Tensor],
    should_stop: Callable[[], bool] = lambda: False,
) -> int:
    """Recompute BatchNorm running statistics as the plain average over ``batches``.

    Parameters
    ----------
    model : torch.nn.Module
        Its BatchNorm layers are reset and refilled; weights are untouched.
    batches : iterable of torch.Tensor
        Inputs (already on the model's device and layout).
    should_stop : callable
        Checked between batches.

    Returns
    -------
    int
        Batches used (0 when the model has no BatchNorm).
    """
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    if not bns:
        return 0
    momenta = [m.momentum for m in bns]
    was_training = model.training
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    model.train()
    used = 0
    try:
        with torch.no_grad():
            for x in batches:
                if should_stop():
                    raise _Stopped
                model(x)
                used += 1
    finally:
        for m, mom in zip(bns, momenta):
            m.momentum = mom
        model.train(was_training)
    return used


def _prefetch(make: Callable[[Any], Any], items: Sequence[Any], depth: int = 2) -> Iterator[Any]:
    """Yield ``make(item)`` for each item, computing the next ones on a helper thread."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    cancel = threading.Event()

    def worker() -> None:
        try:
            for item in items:
                if cancel.is_set():
                    return
                q.put(make(item))
        except BaseException as exc:  # forwarded to the consumer
            q.put(exc)
            return
        q.put(done)

    t = threading.Thread(target=worker, daemon=True, name="woodcock-prefetch")
    t.start()
    try:
        while True:
            got = q.get()
            if got is done:
                return
            if isinstance(got, BaseException):
                raise got
            yield got
    finally:
        cancel.set()
        while t.is_alive():
            with contextlib.suppress(queue.Empty):
                q.get(timeout=0.05)


def _slim_best(best: Path) -> None:
    """Drop the optimizer state from ``best.pt`` once it no longer shares ``last.pt``'s file.

    ``best.pt`` only needs the weights; the optimizer state (as large as the weights again
    for SGD with momentum) is for resuming, which reads ``last.pt``. Together with the
    finished ``last.pt`` dropping its momentum buffers, this keeps a finished run folder at
    about 1x the weights when the best epoch is the last one and 2x otherwise. Skipped when a
    checkpoint shares the file (no space to gain); a failure leaves the complete copy in
    place.
    """
    try:
        if os.stat(best).st_nlink != 1:
            return
        payload = torch.load(best, map_location="cpu", weights_only=True)
        state = payload.get("training_state")
        if not isinstance(state, dict) or "optimizer" not in state:
            return
        payload["training_state"] = {k: v for k, v in state.items() if k != "optimizer"}
        atomic_torch_save(payload, best)
    except (OSError, RuntimeError, EOFError):
        pass  # only a space saving: best.pt stays as it was


def _batches(n: int, batch_size: int, generator: torch.Generator | None) -> list[np.ndarray]:
    order = torch.randperm(n, generator=generator).numpy() if generator else np.arange(n)
    out = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    if len(out) > 1 and len(out[-1]) == 1:
        # BatchNorm cannot train on a single clip; fold it into the previous batch
        out[-2] = np.concatenate([out[-2], out.pop()])
    return out


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
        Default: cross-entropy.
    callbacks : sequence of Callback
        Progress hooks (widgets, progress bars).
    extra_config : dict, optional
        More JSON-ready settings to record (e.g. the label table path).
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
    ) -> None:
        self.config = config or TrainingConfig()
        self.config.validate()
        if len(train_dataset) < 2:
            raise TrainingError(f"need at least 2 training clips, got {len(train_dataset)}")
        self.label_dict = dict(label_dict or train_dataset.label_dict or {})
        if not self.label_dict:
            raise TrainingError("no label_dict: pass one or give the dataset one")
        self.class_names = list(LabelMap.from_label_dict(self.label_dict).classes)
        self.model = model
        self.arch = arch
        self.train_dataset = train_dataset
        self.valid_dataset = valid_dataset
        self.run_dir = Path(run_dir)
        self.device = pick_device(self.config.device)
        self.autocast_dtype = pick_precision(self.device, self.config.precision)
        cl = self.config.channels_last
        self.channels_last = (self.device.type in ("cpu", "cuda")) if cl == "auto" else bool(cl)
        self.model.to(self.device)
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.optimizer = optimizer or torch.optim.SGD(
            self.model.parameters(),
            lr=self.config.learning_rate,
            momentum=self.config.momentum,
            weight_decay=self.config.weight_decay,
        )
        self.loss_fn = loss_fn or nn.CrossEntropyLoss()
        self.scaler = torch.amp.GradScaler(
            self.device.type,
            enabled=(self.autocast_dtype == torch.float16 and self.device.type == "cuda"),
        )
        self.callbacks = list(callbacks)
        self.extra_config = dict(extra_config or {})
        self.history = History()
        self.epoch = 0  # last finished epoch
        self.best_score = -math.inf
        self.best_epoch = 0
        self.status = "idle"
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._resumed = False

    # ----------------------------------------------------------------- control
    def stop(self) -> None:
        """Ask training to stop at the next batch (thread-safe; safe to call any time)."""
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stop.is_set()

    # -------------------------------------------------------------- run folder
    def config_dict(self) -> dict[str, Any]:
        """Everything ``config.json`` records."""
        opt = self.optimizer
        return {
            "training": self.config.to_dict(),
            "arch": self.arch,
            "num_classes": len(self.label_dict),
            "label_dict": {str(k): v for k, v in self.label_dict.items()},
            "preprocessing": self.train_dataset.preprocessing.to_dict(),
            "augmentation": (
                self.train_dataset.augmentation.to_dict()
                if self.train_dataset.augmentation
                else None
            ),
            "optimizer": {
                "name": type(opt).__name__,
                "defaults": {
                    k: v
                    for k, v in opt.defaults.items()
                    if isinstance(v, int | float | bool | str | type(None))
                },
            },
            "loss_fn": type(self.loss_fn).__name__,
            "n_train": len(self.train_dataset),
            "n_valid": len(self.valid_dataset) if self.valid_dataset is not None else 0,
            "device": str(self.device),
            "autocast": str(self.autocast_dtype).replace("torch.", "")
            if self.autocast_dtype
            else "fp32",
            "channels_last": self.channels_last,
            "versions": versions(),
            **self.extra_config,
        }

    def _bundle(self, metrics: dict) -> ModelBundle:
        return ModelBundle(
            self.model,
            self.arch,
            self.label_dict,
            self.train_dataset.preprocessing,
            metrics,
            extra={"epoch": self.epoch, "run_dir": str(self.run_dir)},
        )

    def _training_state(self) -> dict[str, Any]:
        optimizer = self.optimizer.state_dict()
        if self.epoch >= self.config.epochs:
            # a finished run drops the per-parameter state (SGD's momentum buffers, as large
            # as the weights) and keeps the hyper-parameters: the run folder stays at 1-2x
            # the weights; training it for more epochs restarts the momentum from zero
            optimizer = {**optimizer, "state": {}}
        return {
            "epoch": self.epoch,
            "optimizer": optimizer,
            "history_json": json.dumps(self.history.records),
            "best_score": float(self.best_score),
            "best_epoch": int(self.best_epoch),
        }

    def _write_epoch(self, record: dict[str, float]) -> None:
        """Persist a finished epoch: last.pt, then links, then history.csv (all atomic)."""
        rd = self.run_dir
        try:
            self._bundle(record).save(rd / "last.pt", training_state=self._training_state())
            if self.epoch % self.config.log_every == 0 or self.epoch == self.config.epochs:
                atomic_link_or_copy(
                    rd / "last.pt", rd / "checkpoints" / f"epoch-{self.epoch:04d}.pt"
                )
            if self.best_epoch == self.epoch:
                atomic_link_or_copy(rd / "last.pt", rd / "best.pt")
            atomic_write_csv(rd / "history.csv", self.history.to_frame())
        except OSError as exc:
            raise TrainingError(f"cannot write to run folder {rd}: {exc.strerror or exc}") from exc
        if self.best_epoch == self.epoch - 1:  # best.pt just stopped sharing last.pt's file
            _slim_best(rd / "best.pt")

    def _prepare_run_dir(self) -> None:
        rd = self.run_dir
        if not self._resumed and (rd / "last.pt").exists():
            raise TrainingError(
                f"run folder {rd} already holds a run; resume it (--resume / Trainer.resume) "
                "or choose a new folder"
            )
        try:
            rd.mkdir(parents=True, exist_ok=True)
            for folder in (rd, rd / "checkpoints"):
                remove_temp_files(folder)  # left by a run that was killed mid-write
            atomic_write_json(rd / "config.json", self.config_dict())
        except OSError as exc:
            raise TrainingError(f"cannot write to run folder {rd}: {exc.strerror or exc}") from exc

    # ---------------------------------------------------------------- training
    def _loader(self, dataset: AudioClipDataset) -> Callable:
        """``dataset.batch``, channels-last already when the model is (no copy per batch)."""
        if self.channels_last and isinstance(dataset, AudioClipDataset):
            return lambda indices: dataset.batch(indices, channels_last=True)
        return dataset.batch

    def _to_device(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def _emit(self, name: str, *args) -> None:
        for cb in self.callbacks:
            getattr(cb, name)(self, *args)

    def _train_epoch(self, epoch: int) -> dict[str, float]:
        ds = self.train_dataset
        ds.set_epoch(epoch)
        gen = torch.Generator().manual_seed(self.config.seed * 100_003 + epoch)
        batches = _batches(len(ds), self.config.batch_size, gen)
        self.model.train()
        total_loss, correct, seen = 0.0, 0, 0
        predicted, truth = [], []  # for the training F1 curve
        for b, (x, y) in enumerate(_prefetch(self._loader(ds), batches), start=1):
            if self._stop.is_set():
                raise _Stopped
            x, y = self._to_device(x), y.to(self.device)
            with self._autocast():
                out = self.model(x)
            loss = self.loss_fn(out.float(), y)
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"the loss became {loss.item()} at epoch {epoch}, batch {b}: the learning rate "
                    f"({self.config.learning_rate:g}) is probably too high. Training stopped; "
                    f"the run folder keeps epoch {self.epoch} (last.pt)."
                )
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            n = len(y)
            total_loss += loss.item() * n
            pred = out.argmax(1)
            correct += int((pred == y).sum())
            predicted.append(pred.cpu())
            truth.append(y.cpu())
            seen += n
            self._emit("on_batch_end", epoch, b, len(batches), loss.item())
        if self.config.bn_recalibration_batches > 0:
            k = self.config.bn_recalibration_batches
            with self._autocast():  # the statistics of the activations training computes
                recalibrate_batchnorm(
                    self.model,
                    (self._to_device(x) for x, _ in _prefetch(self._loader(ds), batches[:k])),
                    self._stop.is_set,
                )
        f1 = classification_metrics(
            torch.cat(truth).numpy(), torch.cat(predicted).numpy(), self.class_names
        )["f1"]
        return {"train_loss": total_loss / seen, "train_accuracy": correct / seen, "train_f1": f1}

    def evaluate(self, dataset: AudioClipDataset) -> tuple[np.ndarray, np.ndarray, float]:
        """Scores, true labels and mean loss of ``dataset`` in eval mode.

        Returns
        -------
        (numpy.ndarray, numpy.ndarray, float)
            Softmax scores ``(n, n_classes)``, labels ``(n,)`` and the mean loss.
        """
        self.model.eval()
        batches = _batches(len(dataset), max(self.config.batch_size * 2, 1), None)
        scores, labels, total = [], [], 0.0
        with torch.no_grad():
            for x, y in _prefetch(self._loader(dataset), batches):
                if self._stop.is_set():
                    raise _Stopped
                with self._autocast():
                    out = self.model(self._to_device(x)).float()
                total += float(self.loss_fn(out, y.to(self.device))) * len(y)
                scores.append(torch.softmax(out, 1).cpu().numpy())
                labels.append(y.numpy())
        return np.concatenate(scores), np.concatenate(labels), total / len(dataset)

    def _check_finite(self, epoch: int, record: dict[str, float]) -> None:
        """Refuse to save an epoch whose weights, statistics or validation loss blew up."""
        # the loss is checked per batch, but the last step of an epoch can still leave
        # inf/NaN weights (or BatchNorm statistics) that would become the "last good" epoch
        bad = [
            name
            for name, t in self.model.state_dict().items()
            if t.is_floating_point() and not bool(torch.isfinite(t).all())
        ]
        if not bad and math.isfinite(record.get("valid_loss", 0.0)):
            return
        what = f"model tensor {bad[0]!r}" if bad else "the validation loss"
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise TrainingError(
            f"{what}{more} became NaN or infinite at epoch {epoch}: the learning rate "
            f"({self.config.learning_rate:g}) is probably too high. Training stopped; the run "
            f"folder keeps epoch {self.epoch} (last.pt)."
        )

    def _run_epoch(self, epoch: int) -> dict[str, float]:
        t0 = time.perf_counter()
        torch.manual_seed(self.config.seed * 100_003 + epoch)
        record: dict[str, float] = {"epoch": epoch}
        record.update(self._train_epoch(epoch))
        if self.valid_dataset is not None and len(self.valid_dataset):
            scores, labels, loss = self.evaluate(self.valid_dataset)
            m = classification_metrics(labels, scores.argmax(1), self.class_names)
            record["valid_loss"] = loss
            record.update({f"valid_{k}": v for k, v in m.items()})
        record["seconds"] = time.perf_counter() - t0
        return record

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
        self.status = "running"
        self.error = None
        if self.config.num_threads:
            torch.set_num_threads(int(self.config.num_threads))
        try:
            self._prepare_run_dir()
            self._emit("on_fit_start")
            for epoch in range(self.epoch + 1, self.config.epochs + 1):
                if self._stop.is_set():
                    raise _Stopped
                record = self._run_epoch(epoch)
                self._check_finite(epoch, record)
                self.epoch = epoch
                self.history.records.append(record)
                score = record.get("valid_f1", -record["train_loss"])
                # ties go to the later epoch: same validation score, more training, and
                # best.pt can share last.pt's file (a smaller run folder)
                if score >= self.best_score or not math.isfinite(self.best_score):
                    self.best_score, self.best_epoch = score, epoch
                self._write_epoch(record)
                self._emit("on_epoch_end", record)
            self.status = "finished"
        except _Stopped:
            self.status = "stopped"
        except BaseException as exc:
            self.status = "failed"
            self.error = exc
            self._emit("on_fit_end", self.status)
            raise
        self._emit("on_fit_end", self.status)
        return self.history

    def fit_in_background(self) -> TrainingJob:
        """Start :meth:`fit` on a daemon thread and return at once."""
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
        """Rebuild a trainer from ``run_dir/last.pt`` to continue where it stopped.

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
            Other :class:`TrainingConfig` fields to change (e.g. ``device``).
        """
        from .models import build_model

        run_dir = Path(run_dir)
        try:
            cfg_all = json.loads((run_dir / "config.json").read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise TrainingError(
                f"cannot resume: {run_dir / 'config.json'} is missing or unreadable"
            ) from exc
        last = run_dir / "last.pt"
        if not last.exists():
            raise TrainingError(
                f"cannot resume: {last} does not exist (no epoch finished yet); "
                "start a new run instead"
            )
        try:
            payload = read_bundle_payload(last)
        except BundleError as exc:
            raise TrainingError(f"cannot resume from {last}: {exc}") from exc
        state = payload.get("training_state")
        if state is None:
            raise TrainingError(f"cannot resume: {last} has no training state")
        config = TrainingConfig.from_dict(cfg_all["training"])
        if epochs is not None:
            config.epochs = int(epochs)
        for k, v in config_overrides.items():
            setattr(config, k, v)
        label_dict = {int(k): v for k, v in cfg_all["label_dict"].items()}
        model = build_model(
            cfg_all["arch"],
            len(label_dict),
            pretrained=False,
            in_channels=int(cfg_all.get("preprocessing", {}).get("channels", 3)),
        )
        model.load_state_dict(payload["state_dict"])
        opt_info = cfg_all.get("optimizer", {"name": "SGD", "defaults": {}})
        opt_cls = getattr(torch.optim, opt_info["name"], torch.optim.SGD)
        optimizer = opt_cls(model.parameters(), **opt_info.get("defaults", {}))
        known = {
            k: v
            for k, v in cfg_all.items()
            if k
            not in {
                "training",
                "arch",
                "num_classes",
                "label_dict",
                "preprocessing",
                "augmentation",
                "optimizer",
                "loss_fn",
                "n_train",
                "n_valid",
                "device",
                "autocast",
                "channels_last",
                "versions",
            }
        }
        trainer = cls(
            model,
            train_dataset,
            valid_dataset,
            run_dir,
            config,
            label_dict=label_dict,
            arch=cfg_all["arch"],
            optimizer=optimizer,
            callbacks=callbacks,
            extra_config=known,
        )
        trainer.optimizer.load_state_dict(state["optimizer"])
        # load_state_dict brings back the saved hyper-parameters; overrides given here win
        hyper = {
            name: config_overrides[key]
            for key, name in (
                ("learning_rate", "lr"),
                ("momentum", "momentum"),
                ("weight_decay", "weight_decay"),
            )
            if key in config_overrides
        }
        for group in trainer.optimizer.param_groups:
            group.update({k: v for k, v in hyper.items() if k in group})
        defaults = trainer.optimizer.defaults
        defaults.update({k: v for k, v in hyper.items() if k in defaults})
        trainer.epoch = int(state["epoch"])
        trainer.history = History(json.loads(state["history_json"]))
        trainer.best_score = float(state["best_score"])
        trainer.best_epoch = int(state["best_epoch"])
        trainer._resumed = True
        # history.csv may lag last.pt by one epoch after a kill: rewrite it from last.pt
        try:
            atomic_write_csv(run_dir / "history.csv", trainer.history.to_frame())
        except OSError as exc:
            raise TrainingError(
                f"cannot write to run folder {run_dir}: {exc.strerror or exc}"
            ) from exc
        return trainer


class TrainingJob:
    """A :meth:`Trainer.fit` running on a background thread.

    Parameters
    ----------
    trainer : Trainer
        Started at once.
    """

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.error: BaseException | None = None
        # waiting uses this Event, not Thread.join(): in Python 3.11 a KeyboardInterrupt
        # during join() can mark the still-running thread as finished
        self._finished = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="woodcock-train")
        self._thread.start()

    def _run(self) -> None:
        try:
            self.trainer.fit()
        except BaseException as exc:  # kept for the waiting thread
            self.error = exc
        finally:
            self._finished.set()

    @property
    def done(self) -> bool:
        """Whether the training thread has ended."""
        return self._finished.is_set()

    def stop(self) -> None:
        """Ask training to stop (returns at once; use :meth:`wait` to wait)."""
        self.trainer.stop()

    def wait(self, timeout: float | None = None) -> History:
        """Block until training ends; re-raise its error; return the history.

        Raises
        ------
        TimeoutError
            If ``timeout`` passes first.
        """
        if not self._finished.wait(timeout):
            raise TimeoutError(f"training still running after {timeout} s")
        if self.error is not None:
            raise self.error
        return self.trainer.history


def train(
    save_dir: str | os.PathLike,
    model: nn.Module,
    train_dataset: AudioClipDataset,
    valid_dataset: AudioClipDataset | None,
    optimizer: torch.optim.Optimizer | None = None,
    loss_fn: Callable | None = None,
    epochs: int = 1,
    log_every: int = 1,
    batch_size: int = 32,
    arch: str = "resnet18",
    callbacks: Sequence[Callback] = (),
    **config: Any,
) -> History:
    """The tutorial's ``train(...)``: a thin function over :class:`Trainer`.

    Parameters
    ----------
    save_dir : str or path-like
        Run folder.
    model : torch.nn.Module
        The network.
    train_dataset, valid_dataset : AudioClipDataset
        Clips.
    optimizer : torch.optim.Optimizer, optional
        Default SGD (lr 1e-3).
    loss_fn : callable, optional
        Default cross-entropy.
    epochs, log_every, batch_size : int
        As in :class:`TrainingConfig`.
    arch : str
        Architecture name recorded in the bundles.
    callbacks : sequence of Callback
        Progress hooks.
    **config
        More :class:`TrainingConfig` fields.

    Returns
    -------
    History
    """
    cfg = TrainingConfig(epochs=epochs, log_every=log_every, batch_size=batch_size, **config)
    return Trainer(
        model,
        train_dataset,
        valid_dataset,
        save_dir,
        cfg,
        arch=arch,
        optimizer=optimizer,
        loss_fn=loss_fn,
        callbacks=callbacks,
    ).fit()
