"""Training settings: every value recorded in a run's ``config.json``."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..errors import TrainingError

__all__ = ["TrainingConfig"]


@dataclass
class TrainingConfig:
    """Training settings (all recorded in ``config.json``).

    Parameters
    ----------
    epochs : int
        Passes over the training clips (the run's total, counting resumed ones).
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
        known = cls.field_names()
        return cls(**{k: v for k, v in d.items() if k in known})

    @classmethod
    def field_names(cls) -> set[str]:
        """The settings' names."""
        return {f.name for f in fields(cls)}
