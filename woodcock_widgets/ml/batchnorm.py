"""BatchNorm re-estimation: running statistics recomputed from training batches."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from .batching import Stopped

__all__ = ["recalibrate_batchnorm"]


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
        Checked between batches; when it returns true, :class:`~.batching.Stopped` is raised.

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
                    raise Stopped
                model(x)
                used += 1
    finally:
        for m, mom in zip(bns, momenta):
            m.momentum = mom
        model.train(was_training)
    return used
