"""The training state a bundle file carries: read it to resume, drop it to save space.

A run's ``last.pt`` is a model bundle plus a ``training_state`` (epoch, optimizer state,
history, best epoch). :class:`~.run_folder.RunFolder` decides which of its files these apply
to; the functions here only take a path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..errors import BundleError, TrainingError
from ..io_utils import atomic_torch_save
from .bundle import read_bundle_payload

__all__ = ["read_training_payload", "slim_bundle_file"]


def read_training_payload(path: str | os.PathLike) -> dict[str, Any]:
    """A bundle file's payload, with the training state a resume needs.

    Raises
    ------
    TrainingError
        No such file (no epoch finished yet), or an unreadable or foreign file, or one
        without a training state (each naming the file).
    """
    path = Path(path)
    if not path.exists():
        raise TrainingError(
            f"cannot resume: {path} does not exist (no epoch finished yet); start a new run instead"
        )
    try:
        payload = read_bundle_payload(path)
    except BundleError as exc:
        raise TrainingError(f"cannot resume from {path}: {exc}") from exc
    if payload.get("training_state") is None:
        raise TrainingError(f"cannot resume: {path} has no training state")
    return payload


def slim_bundle_file(path: str | os.PathLike) -> None:
    """Drop the optimizer state from a bundle file that no other name shares (see
    :meth:`~.run_folder.RunFolder.slim_best`)."""
    try:
        if os.stat(path).st_nlink != 1:
            return
        payload = torch.load(path, map_location="cpu", weights_only=True)
        state = payload.get("training_state")
        if not isinstance(state, dict) or "optimizer" not in state:
            return
        payload["training_state"] = {k: v for k, v in state.items() if k != "optimizer"}
        atomic_torch_save(payload, path)
    except (OSError, RuntimeError, EOFError):
        pass  # only a space saving: the file stays as it was
