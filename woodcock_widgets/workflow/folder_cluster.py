"""The local Dask cluster of folder prediction: sized for the machine, on 127.0.0.1 only."""

from __future__ import annotations

import os

__all__ = ["local_cluster"]

#: a MALLOC_TRIM_THRESHOLD_ the user set before we started any nanny (they set their own)
_USER_MALLOC_TRIM = os.environ.get("MALLOC_TRIM_THRESHOLD_")


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def local_cluster(n_workers: int | None = None, torch_threads: int | None = None, n_files: int = 0):
    """A :class:`distributed.LocalCluster` sized for this machine, on 127.0.0.1 only.

    Parameters
    ----------
    n_workers : int, optional
        Worker processes; default: cores / torch threads, at most one per file and one per
        1.5 GB of memory.
    torch_threads : int, optional
        Torch threads per worker; default: 1 below 8 cores, 2 from 8 (with ``n_workers``
        given: cores / workers).
    n_files : int
        Recordings to score (caps the default worker count when positive).

    Returns
    -------
    tuple
        ``(cluster, torch_threads)``.
    """
    import logging

    import dask
    import psutil
    from distributed import LocalCluster

    cpus = _cpus()
    if n_workers is None:
        threads = torch_threads or (1 if cpus < 8 else 2)
        n_workers = max(1, cpus // threads)
        n_workers = min(n_workers, max(1, int(psutil.virtual_memory().total // 1.5e9)))
        if n_files > 0:
            n_workers = min(n_workers, n_files)
    threads = torch_threads or max(1, cpus // n_workers)
    # Dask's nannies set MALLOC_TRIM_THRESHOLD_ in their workers, which turns off glibc's
    # adaptive mmap threshold: every batch's activations are then mapped and unmapped
    # afresh, and scoring costs ~40 % more CPU. Our workers start without it (unless it
    # was set before this module was imported); their memory is bounded by streaming.
    if _USER_MALLOC_TRIM is None:
        os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)  # a nanny started earlier set it
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        cluster = LocalCluster(
            n_workers=int(n_workers),
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            worker_dashboard_address=None,
            silence_logs=logging.ERROR,
        )
    return cluster, int(threads)
