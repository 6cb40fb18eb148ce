"""A generator run on a helper thread, a few items ahead of its consumer (no torch needed).

Overlaps reading and preparing input with the model's work: block streaming
(:mod:`.streaming`) and the embedding cache (:mod:`.embedding_cache`) use it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["in_background"]


def in_background(make: Callable[[], Iterator[Any]], depth: int = 2) -> Iterator[Any]:
    """Run the iterator ``make()`` in a thread, ``depth`` items ahead of the consumer.

    Its exceptions reach the consumer; a consumer that stops early stops the thread.
    """
    q: queue.Queue = queue.Queue(maxsize=max(1, int(depth)))
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in make():
                if not put(("item", item)):
                    return
            put(("done", None))
        except BaseException as exc:  # handed to the consumer, which raises it
            put(("error", exc))

    thread = threading.Thread(target=work, name="woodcock-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            kind, item = q.get()
            if kind == "item":
                yield item
            elif kind == "error":
                raise item
            else:
                return
    finally:
        stop.set()
        thread.join(timeout=10)
