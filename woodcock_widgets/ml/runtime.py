"""Where and how a model runs: device, autocast precision and memory layout.

One policy for training and prediction, so a model is scored the way it was trained
(``auto`` picks bf16 autocast where the hardware has it, else float32; weights stay float32).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["Runtime", "pick_device", "pick_precision", "precision_name"]


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


def precision_name(dtype: torch.dtype | None) -> str:
    """``fp32``, ``bf16`` or ``fp16``: the precision setting that gives ``dtype``."""
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


@dataclass(frozen=True)
class Runtime:
    """A resolved device, autocast dtype and memory layout.

    Attributes
    ----------
    device : torch.device
        Where the model runs.
    autocast_dtype : torch.dtype or None
        Autocast dtype (``None``: float32, no autocast).
    channels_last : bool
        Whether inputs and weights use the channels-last memory layout.
    """

    device: torch.device
    autocast_dtype: torch.dtype | None
    channels_last: bool

    @classmethod
    def choose(
        cls, device: str = "auto", precision: str = "auto", channels_last: object = "auto"
    ) -> Runtime:
        """Resolve the settings (``auto`` channels-last: on cpu and cuda)."""
        dev = pick_device(device)
        if channels_last == "auto":
            layout = dev.type in ("cpu", "cuda")
        else:
            layout = bool(channels_last)
        return cls(dev, pick_precision(dev, precision), layout)

    @property
    def precision(self) -> str:
        """The precision setting that reproduces :attr:`autocast_dtype`."""
        return precision_name(self.autocast_dtype)

    def place(self, model: nn.Module) -> nn.Module:
        """Move ``model`` to the device (and layout), in place; returns it."""
        model.to(self.device)
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        return model

    def to_device(self, x: torch.Tensor) -> torch.Tensor:
        """An input batch on the device, in the layout."""
        x = x.to(self.device, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def autocast(self):
        """The autocast context (a no-op in float32)."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A gradient scaler, enabled only for fp16 on cuda (where it is needed)."""
        return torch.amp.GradScaler(
            self.device.type,
            enabled=(self.autocast_dtype == torch.float16 and self.device.type == "cuda"),
        )
