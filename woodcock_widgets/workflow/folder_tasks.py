"""Running a folder's tasks on Dask: submit one per recording, record each as it ends.

The orchestration half of :func:`~woodcock_widgets.workflow.folder_predict.predict_folder`
(which decides what is pending and owns the outputs); the task itself is
:func:`~woodcock_widgets.workflow.folder_worker.score_file`.
"""

from __future__ import annotations

import time

from .folder_cluster import local_cluster
from .folder_worker import host_threads, score_file, workers_info

__all__ = ["run_tasks"]


def _reason(exc: BaseException) -> str:
    from ..errors import WoodcockError

    if isinstance(exc, WoodcockError):
        return str(exc)
    if type(exc).__name__ == "KilledWorker":
        return "the workers scoring it kept dying (out of memory, or a crash in a decoder)"
    return f"{type(exc).__name__}: {exc}"


def run_tasks(
    pending, settings, int8_observers, manifest, summary, workers, scheduler, client, progress, hook
):
    """Submit one task per pending file and record each as it finishes.

    ``pending`` holds ``(path, key, stat)`` of the files to score; the manifest entry of
    each goes to ``manifest`` and ``summary`` as its task ends (a local cluster is started
    and closed here when neither ``client`` nor ``scheduler`` is given).
    """
    import soundfile as sf
    from distributed import Client, as_completed
    from tqdm.auto import tqdm

    hours = {}
    for f, key, _st in pending:
        try:
            hours[key] = sf.info(str(f)).duration / 3600
        except Exception:  # unreadable: its task says why
            hours[key] = 0.0
    pending = sorted(pending, key=lambda p: -p[2].st_size)  # largest first: no long tail
    cluster = own_client = None
    if client is None:
        if scheduler:
            client = own_client = Client(scheduler, timeout="30s")
        else:
            cluster, threads = local_cluster(workers, settings.torch_threads, len(pending))
            settings = settings.with_threads(threads)
            client = own_client = Client(cluster)
    if settings.torch_threads is None:
        settings = settings.with_host_threads(host_threads(client))
    summary.workers = len(workers_info(client))
    futures, index = [], {}
    extra = ()
    if int8_observers is not None:  # one copy on every worker, not one per task
        extra = (client.scatter([int8_observers], broadcast=True)[0],)
    for f, key, st in pending:
        fut = client.submit(score_file, str(f), key, settings, *extra, pure=False)
        futures.append(fut)
        index[fut.key] = (str(f), key, st)
    bar = tqdm(
        total=round(sum(hours.values()), 4),
        unit="h",
        desc="audio",
        disable=not progress,
        bar_format="{l_bar}{bar}| {n:.2f}/{total:.2f} h [{elapsed}<{remaining}]",
    )
    try:
        for fut in as_completed(futures):
            path, key, st = index.pop(fut.key)
            if fut.status == "finished":
                entry = fut.result()
            else:  # the task itself failed: a bug, or its worker kept dying
                entry = {"file": key, "path": path, "status": "error"}
                entry["error"] = _reason(fut.exception())
            fut.release()
            entry.update(size=st.st_size, mtime=st.st_mtime, finished_at=round(time.time(), 3))
            manifest.append(entry)
            if entry["status"] == "done":
                summary.scored += 1
                summary.hours_scored += entry["seconds"] / 3600
            else:
                summary.failed += 1
                summary.errors.append((path, entry["error"]))
            bar.update(hours.get(key, 0.0))
            bar.set_postfix(failed=summary.failed, refresh=False)
            if hook is not None:
                hook(entry)
    finally:
        bar.close()
        client.cancel([f for f in futures if not f.done()])
        if own_client is not None:
            own_client.close()
        if cluster is not None:
            cluster.close()
