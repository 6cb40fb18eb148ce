"""Batch order, and batches prepared on a helper thread while the model scores the last one.

Used by the training loop (:func:`prefetch`); :func:`in_background` (prediction on long
recordings, the embedding cache) lives in :mod:`.background`, which needs no torch, and is
re-exported here.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from .background import in_background

__all__ = ["Stopped", "batch_indices", "prefetch", "in_background"]


class Stopped(Exception):
    """Raised inside the training loop when a stop was asked for (never leaves ``fit``)."""


def batch_indices(n: int, batch_size: int, generator: torch.Generator | None) -> list[np.ndarray]:
    """Indices of each batch: shuffled with ``generator``, in order without one.

    A last batch of a single clip is folded into the previous one (BatchNorm cannot train on
    one clip).
    """
    order = torch.randperm(n, generator=generator).numpy() if generator else np.arange(n)
    out = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    if len(out) > 1 and len(out[-1]) == 1:
        out[-2] = np.concatenate([out[-2], out.pop()])
    return out


def prefetch(make: Callable[[Any], Any], items: Sequence[Any], depth: int = 2) -> Iterator[Any]:
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
