"""Helpers shared by the benchmark driver and both workers (ours and the peer's).

This file runs in two virtual environments (``.venv`` and ``.venv-peer``), so it imports
only the standard library and, inside functions, torch.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

#: Environment for worker processes: no network, no telemetry, a fixed thread count.
QUIET_ENV = {
    "WOODCOCK_OFFLINE": "1",
    "WANDB_MODE": "disabled",
    "WANDB_SILENT": "true",
    "HF_HUB_OFFLINE": "1",
    "TQDM_DISABLE": "1",
    "PYTHONWARNINGS": "ignore",
}


def thread_env(threads: int) -> dict[str, str]:
    """Environment variables that give numpy, torch and OpenMP ``threads`` threads."""
    t = str(int(threads))
    return {"OMP_NUM_THREADS": t, "MKL_NUM_THREADS": t, "OPENBLAS_NUM_THREADS": t}


def set_threads(threads: int) -> None:
    """Give torch ``threads`` intra-op threads (same on both sides of every figure)."""
    import torch

    torch.set_num_threads(int(threads))


def rss_bytes() -> int:
    """Current resident set size of this process (from ``/proc/self/statm``)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def folder_bytes(path: str | os.PathLike) -> int:
    """Bytes held by the files under ``path``, counting hard-linked files once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            st = os.lstat(os.path.join(root, name))
            key = (st.st_dev, st.st_ino)
            if key not in seen:
                seen.add(key)
                total += st.st_size
    return total


def state_dict_bytes(module) -> int:
    """Size of ``torch.save(module.state_dict())``: the raw weights file of a network."""
    import torch

    buf = io.BytesIO()
    torch.save(module.state_dict(), buf)
    return buf.tell()


class Clock:
    """``with Clock() as c: ...`` then ``c.seconds`` (wall) and ``c.cpu_seconds`` (process)."""

    def __enter__(self) -> Clock:
        self.start = time.perf_counter()
        self.cpu_start = time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.start
        self.cpu_seconds = time.process_time() - self.cpu_start


def serve(tasks: dict[str, Callable[..., dict]]) -> None:
    """Answer JSON task lines on stdin with JSON result lines, until stdin closes.

    Each request is ``{"task": name, "args": {...}}``; each answer is ``{"ok": true,
    "result": {...}}`` or ``{"ok": false, "error": text}``. Whatever libraries print goes to
    stderr, so stdout carries only answers.
    """
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            msg = json.loads(line)
            result = tasks[msg["task"]](**msg.get("args", {}))
            answer = {"ok": True, "result": result}
        except Exception:  # reported to the driver, which decides what to do
            answer = {"ok": False, "error": traceback.format_exc()}
        answers.write(json.dumps(answer, default=float) + "\n")


def here() -> Path:
    """The benchmarks folder."""
    return Path(__file__).resolve().parent
