"""The worker side of folder prediction: one Dask task scores one recording.

Runs inside Dask worker processes (see :mod:`.folder_predict`). Each process keeps the model
it loaded in a module-level cache, so a bundle is read and prepared once per worker, and
sets its torch thread count inside every task (torch's thread setting belongs to the thread
that runs the model, and Dask runs tasks in its own threads).
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..errors import AudioLoadError
from .folder_outputs import write_scores

__all__ = [
    "TaskSettings",
    "score_file",
    "model_loads",
    "compile_seconds",
    "host_threads",
    "preload",
    "workers_info",
]

_LOCK = threading.Lock()
# (path, size, mtime_ns, device, precision, compiled batch or 0, int8 digest)
#   → (bundle, prepared)
_MODELS: dict[tuple, tuple] = {}
_LOADS = 0


@dataclass(frozen=True)
class TaskSettings:
    """What every task needs besides its file (small: sent with each task)."""

    bundle_path: str
    bundle_key: tuple[int, int]  # size, mtime_ns: a changed bundle is loaded again
    out_dir: str
    fmt: str
    overlap: float
    thresholds: dict[str, float]
    merge_gap: float | None
    high_freq: float
    batch_size: int = 32
    device: str = "cpu"
    precision: str = "auto"
    block_seconds: float = 60.0
    torch_threads: int | None = None
    #: compile the model once per worker (:func:`~woodcock_widgets.ml.scoring.compile_model`)
    compile: bool = False
    #: host → Dask threads of all workers there (shares a host's cores when threads unset)
    host_threads: dict[str, int] = field(default_factory=dict)
    #: digest of the int8 calibration the task's observers are (``precision="int8"``)
    int8_digest: str | None = None

    def with_threads(self, threads: int) -> TaskSettings:
        """A copy with ``torch_threads`` set."""
        return dataclasses.replace(self, torch_threads=int(threads))

    def with_host_threads(self, counts: dict[str, int]) -> TaskSettings:
        """A copy with the per-host thread counts."""
        return dataclasses.replace(self, host_threads=dict(counts))


def workers_info(client) -> dict[str, dict]:
    """Address → info of every worker of ``client``'s cluster."""
    try:
        info = client.scheduler_info(n_workers=-1)  # newer versions list 5 unless asked
    except TypeError:  # older versions list them all
        info = client.scheduler_info()
    return dict(info.get("workers", {}))


def host_threads(client) -> dict[str, int]:
    """Dask threads per host over the workers of ``client``'s cluster."""
    out: dict[str, int] = {}
    for addr, info in workers_info(client).items():
        host = info.get("host") or urlparse(addr).hostname or ""
        out[host] = out.get(host, 0) + int(info.get("nthreads", 1))
    return out


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _threads(settings: TaskSettings) -> int:
    if settings.torch_threads:
        return int(settings.torch_threads)
    share = 1
    try:
        from distributed import get_worker

        worker = get_worker()
        host = urlparse(worker.address).hostname or ""
        share = settings.host_threads.get(host, worker.state.nthreads)
    except (ImportError, ValueError):  # not inside a Dask worker
        pass
    return max(1, _cpus() // max(1, int(share)))


def model_loads() -> int:
    """How many times this process has loaded a bundle (for tests and benchmarks)."""
    return _LOADS


def compile_seconds() -> float | None:
    """How long compiling this worker's model took (``None``: not compiled, or it failed)."""
    with _LOCK:
        for _bundle, prepared in _MODELS.values():
            return getattr(prepared, "compile_seconds", None)
    return None


def _model(settings: TaskSettings, int8_observers: dict | None = None):
    global _LOADS
    from ..ml.bundle import ModelBundle
    from ..ml.predict import compile_model, prepare_model
    from ..ml.streaming import CPU_BATCH_MB, cpu_batch_size

    key = (settings.bundle_path, *settings.bundle_key, settings.device, settings.precision)
    key = (*key, settings.batch_size if settings.compile else 0, settings.int8_digest)
    with _LOCK:
        if key not in _MODELS:
            bundle = ModelBundle.load(settings.bundle_path)
            _MODELS.clear()  # one model at a time per worker
            # an embedding bundle scores through its own embedder: nothing to prepare
            prepared = (
                None
                if hasattr(bundle, "score_recording")
                else prepare_model(bundle, settings.device, settings.precision, int8_observers)
            )
            if prepared is not None and settings.compile:
                shape = bundle.preprocessing.image_shape
                # the batch stream_recording will make, so no batch is padded but the last
                batch = cpu_batch_size(settings.batch_size, prepared, shape, CPU_BATCH_MB)
                prepared = compile_model(prepared, shape, batch)
            if prepared is not None:
                # scoring needs only the prepared network (its convolutions are new tensors,
                # BatchNorms folded in): let the bundle's own weights go
                bundle = dataclasses.replace(bundle, model=None)
            _MODELS[key] = (bundle, prepared)
            _LOADS += 1
        return _MODELS[key]


def preload(
    bundle_path: str | os.PathLike,
    device: str = "cpu",
    precision: str = "auto",
    compile: bool = False,  # the name torch users know
    batch_size: int = 32,
    torch_threads: int | None = None,
    int8_observers: dict | None = None,
) -> int:
    """Load a bundle into this worker's cache and run one batch (``client.run(preload, path)``).

    What the first task on a worker would do anyway (import torch, load the bundle, warm the
    kernels; with ``compile``, compile the model for ``batch_size``), done ahead, e.g. so a
    benchmark times warm workers. A compiled model is compiled for the torch thread count
    (``torch_threads``, default: the share of the cores tasks get): give the tasks' count,
    or their first batch compiles again. ``precision="int8"`` needs the run's
    ``int8_observers`` (:func:`~woodcock_widgets.ml.int8.int8_calibration`).

    Returns
    -------
    int
        :func:`model_loads` after loading.
    """
    import torch

    from ..ml.int8 import observers_digest
    from ..ml.predict import score_batch

    path = Path(bundle_path)
    stat = path.stat()
    settings = TaskSettings(
        bundle_path=str(path.resolve()),
        bundle_key=(stat.st_size, stat.st_mtime_ns),
        out_dir="",
        fmt="csv",
        overlap=0.0,
        thresholds={},
        merge_gap=None,
        high_freq=0.0,
        batch_size=int(batch_size),
        device=device,
        precision=precision,
        torch_threads=torch_threads,
        compile=bool(compile),
        int8_digest=observers_digest(int8_observers) if int8_observers else None,
    )
    torch.set_num_threads(_threads(settings))
    bundle, prepared = _model(settings, int8_observers)
    if prepared is not None:
        h, w = bundle.preprocessing.image_shape
        x = torch.zeros(2, prepared.channels, h, w)
        if prepared.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        score_batch(prepared, x)
    return _LOADS


def _trim_heap() -> None:
    """Hand the heap a finished file freed back to the system (glibc; elsewhere nothing).

    glibc otherwise keeps freed heap up to its (adaptive, tens of MB) trim threshold.
    """
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def score_file(
    path: str, key: str, settings: TaskSettings, int8_observers: dict | None = None
) -> dict[str, Any]:
    """Score one recording, write its score file and Raven table; return its manifest entry.

    Parameters
    ----------
    path : str
        The recording.
    key : str
        Its name relative to the audio folder (names the output files).
    settings : TaskSettings
        Model, output and detection settings.
    int8_observers : dict, optional
        The run's int8 calibration (``settings.precision == "int8"``; scattered once to
        every worker, not sent with each task).

    Returns
    -------
    dict
        ``file`` (the key), ``path``, ``n_windows``, ``seconds`` (of audio), ``scores`` and
        ``raven`` (output paths relative to the output folder), ``detections`` (per class),
        ``compiled`` (whether the compiled model scored it), ``wall_seconds``, ``worker``
        and ``pid``.

        A recording that cannot be read (missing, empty, corrupt, truncated) gives
        ``status: "error"`` and the reason in ``error`` instead.
    """
    import torch

    from ..ml.predict import (
        detect,
        merge_detections,
        stream_recording,
        to_raven_table,
        write_raven_table,
    )

    t0 = time.perf_counter()
    torch.set_num_threads(_threads(settings))
    bundle, prepared = _model(settings, int8_observers)
    try:
        scores = stream_recording(
            bundle,
            path,
            overlap=settings.overlap,
            batch_size=settings.batch_size,
            block_seconds=settings.block_seconds,
            prepared=prepared,
        )
    except AudioLoadError as exc:  # this file's fault: recorded, and the run goes on
        return {"file": key, "path": path, "status": "error", "error": str(exc)}
    finally:
        _trim_heap()
    out = Path(settings.out_dir)
    score_rel = f"scores/{key}.{settings.fmt}"
    raven_rel = f"raven/{key}.selections.txt"
    write_scores(out / score_rel, scores, settings.fmt)
    dets = detect(scores, settings.thresholds)
    if settings.merge_gap is not None:
        dets = merge_detections(dets, settings.merge_gap)
    write_raven_table(to_raven_table(dets, high_freq=settings.high_freq), out / raven_rel)
    counts = dets["annotation"].value_counts().to_dict() if len(dets) else {}
    try:
        from distributed import get_worker

        worker = get_worker().address
    except (ImportError, ValueError):
        worker = ""
    return {
        "file": key,
        "path": path,
        "status": "done",
        "n_windows": len(scores),
        "seconds": float(scores.attrs.get("duration", 0.0)),
        "scores": score_rel,
        "raven": raven_rel,
        "detections": {c: int(counts.get(c, 0)) for c in settings.thresholds},
        "torch_threads": torch.get_num_threads(),
        "compiled": getattr(prepared, "batch_size", None) is not None,
        "int8": bool(getattr(prepared, "int8", False)),
        "wall_seconds": round(time.perf_counter() - t0, 3),
        "worker": worker,
        "pid": os.getpid(),
    }
