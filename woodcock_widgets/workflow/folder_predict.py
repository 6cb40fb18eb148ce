"""Prediction at field scale: a folder of recordings on a Dask cluster, resumable, nothing lost.

:func:`predict_folder` (``woodcock-widgets predict --audio-dir DIR --out OUT_DIR``) finds the
recordings (:mod:`.discovery`), skips those the manifest (:mod:`.manifest`) lists as done,
and scores the rest as Dask tasks, one per recording, largest first. Each task streams its
file in blocks (:func:`~woodcock_widgets.ml.predict.stream_recording`: bounded memory,
decoding overlapped with scoring) and writes, atomically::

    OUT_DIR/scores/<relative path>.parquet       file, start_time, end_time, one column per class
    OUT_DIR/raven/<relative path>.selections.txt  Raven selection table of its detections

then the driver appends the file's line to ``OUT_DIR/manifest.jsonl``. At the end (also
after Ctrl-C) it writes ``OUT_DIR/detections.csv`` (``file, start_time, end_time,
annotation, score`` for every finished recording), ``OUT_DIR/errors.csv`` (``file, error``:
corrupt, empty, unreadable files; the run goes on without them) and ``OUT_DIR/run.json``
(model and settings; a rerun with another model or window overlap is refused, a rerun with
other detection settings redoes the detections of finished files from their scores).

The engine
----------
By default a :class:`distributed.LocalCluster` on 127.0.0.1 (no dashboard): worker
processes with one Dask thread each and ``torch.set_num_threads`` set inside each task so
that workers × torch threads = the cores this process may use (1 torch thread a worker
below 8 cores, 2 from 8). The model bundle is loaded once per worker process (a worker-local
cache keyed by the bundle's path, size and modification time), not once per file. A worker
that dies mid-file (out of memory, killed) has its file rescheduled by Dask on another
worker; a file that kills three workers is recorded in ``errors.csv``.

On an existing cluster, ``--scheduler ADDRESS`` (or ``client=`` in Python) submits there.
Workers need this package at the same version, and the audio, the bundle and ``OUT_DIR`` on a
shared file system under the same paths (workers read the audio and write the outputs).
Start them without the ``MALLOC_TRIM_THRESHOLD_`` that Dask's nannies set (Dask config
``distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_: null``): with it, scoring
takes about 40 % more CPU. For example:

- a lab server: ``dask scheduler --host 10.0.0.5`` and ``dask worker
  tcp://10.0.0.5:8786 --nworkers 16 --nthreads 1`` on each machine, then ``woodcock-widgets
  predict --model best.pt --audio-dir /data/season --out /data/out --scheduler
  tcp://10.0.0.5:8786``;
- an HPC queue: ``dask_jobqueue.SLURMCluster(cores=8, processes=8, memory="16GB")``,
  ``cluster.scale(jobs=10)``, then ``predict_folder(..., client=Client(cluster))``;
- Kubernetes: the Dask Kubernetes operator (``dask_kubernetes.operator.KubeCluster``) or the
  Dask Helm chart with an image that has this package, then ``client=`` or ``--scheduler``.

This module starts no cluster but the local one; a scheduler reachable beyond one machine
should be protected (TLS through ``distributed.security.Security``, or an SSH tunnel).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PredictionError
from ..io_utils import atomic_write_json, remove_temp_files
from .discovery import find_audio
from .folder_cluster import local_cluster
from .folder_outputs import check_run_settings, file_sha256, redo_detections, write_tables
from .folder_tasks import run_tasks
from .folder_worker import TaskSettings, model_loads
from .manifest import Manifest

__all__ = ["predict_folder", "FolderSummary", "local_cluster", "model_loads"]

FORMATS = ("parquet", "csv")


@dataclass
class FolderSummary:
    """What a :func:`predict_folder` run did (``str()`` prints it)."""

    out_dir: Path
    found: int = 0
    scored: int = 0
    skipped: int = 0
    failed: int = 0
    failed_before: int = 0
    hours_scored: float = 0.0
    hours_done: float = 0.0
    done: int = 0
    detections: dict[str, int] = field(default_factory=dict)
    errors: list[tuple[str, str]] = field(default_factory=list)
    workers: int = 0
    seconds: float = 0.0
    interrupted: bool = False

    def __str__(self) -> str:
        rate = self.hours_scored / (self.seconds / 3600) if self.seconds > 0 else 0.0
        dets = ", ".join(f"{c} {n}" for c, n in self.detections.items()) or "none"
        lines = [
            f"{self.found} recording(s) found: {self.scored} scored now, {self.skipped} already "
            f"done, {self.failed} failed"
            + (f", {self.failed_before} failed before (not retried)" if self.failed_before else "")
            + (" (interrupted)" if self.interrupted else ""),
            f"audio scored now: {self.hours_scored:.2f} h in {self.seconds:.0f} s "
            f"({rate:.1f} h of audio per hour, {self.workers} worker(s))",
            f"finished in {self.out_dir}: {self.done} recording(s), {self.hours_done:.2f} h",
            f"detections: {dets}",
        ]
        if self.failed or self.failed_before:
            lines.append(f"failures listed in {self.out_dir / 'errors.csv'}")
        return "\n".join(lines)


def predict_folder(
    model: str | os.PathLike,
    audio_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    client=None,
    fmt: str = "parquet",
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    overlap: float = 0.0,
    detect_classes: str | Sequence[str] | None = None,
    threshold: float | None = None,
    merge_gap: float | None = None,
    batch_size: int = 32,
    device: str = "cpu",
    precision: str = "auto",
    block_seconds: float = 60.0,
    torch_threads: int | None = None,
    compile: bool = False,  # the name torch users know
    progress: bool = True,
    retry_failed: bool = False,
    on_file_done: Callable[[dict[str, Any]], None] | None = None,
) -> FolderSummary:
    """Score every recording in a folder (or glob) into ``out_dir``, resuming a stopped run.

    Parameters
    ----------
    model : str or path-like
        A model bundle (``best.pt``).
    audio_dir : str or path-like
        A folder (searched recursively) or a glob.
    out_dir : str or path-like
        Output folder (see the module docstring for its contents).
    workers : int, optional
        Local worker processes (default: sized for the machine, see :func:`local_cluster`).
    scheduler : str, optional
        Address of an existing Dask scheduler to submit to instead.
    client : distributed.Client, optional
        An existing client to submit through (neither started nor closed here).
    fmt : {"parquet", "csv"}
        Format of the per-recording score files.
    include, exclude : sequence of str, optional
        File patterns (see :mod:`woodcock_widgets.workflow.discovery`).
    overlap : float
        Seconds shared by consecutive windows.
    detect_classes : str or sequence of str, optional
        Classes to detect; default: those with thresholds in the bundle, else its positive
        class (:func:`~woodcock_widgets.ml.predict.default_detect_class`).
    threshold : float, optional
        One threshold for all detected classes (default: the bundle's, else 0.5).
    merge_gap : float, optional
        Merge detections of a class at most this many seconds apart into one selection.
    batch_size : int
        Windows per forward pass.
    device : str
        ``cpu``, ``cuda`` or ``auto`` (on each worker).
    precision : {"auto", "fp32", "bf16", "fp16", "int8"}
        Autocast precision (``auto``: what training uses on the worker's hardware).
        ``int8`` (CPU workers, opt-in): the network quantized with activation ranges
        measured once on windows of the first recordings and kept in
        ``OUT_DIR/int8_calibration.pt`` (:mod:`.folder_int8`), so a resumed run quantizes
        identically; ``run.json`` records how far int8 scores landed from float32 ones.
    block_seconds : float
        Audio decoded at a time (bounds a worker's memory).
    torch_threads : int, optional
        Torch threads per task (default: cores shared out among the workers of a machine).
    compile : bool
        Compile the model once per worker (``torch.compile``: tens of seconds per worker,
        then less CPU per window; see :func:`~woodcock_widgets.ml.scoring.compile_model`).
    progress : bool
        Show a progress bar in hours of audio.
    retry_failed : bool
        Try again the files an earlier run recorded as failed (a failed file that has
        changed since is always tried again).
    on_file_done : callable, optional
        Called with each manifest entry as it is written.

    Returns
    -------
    FolderSummary

    Raises
    ------
    PredictionError
        No audio in the folder or glob (named), bad arguments, an output folder made with
        another model, or every recording failed.
    BundleError
        The model bundle cannot be loaded.
    """
    from ..ml.bundle import ModelBundle
    from ..ml.predict import check_threshold, detection_thresholds
    from .folder_int8 import folder_calibration

    t0 = time.perf_counter()
    if fmt not in FORMATS:
        raise PredictionError(f"format must be one of {FORMATS}, got {fmt!r}")
    if threshold is not None:
        threshold = check_threshold(threshold)
    if merge_gap is not None and not merge_gap >= 0:
        raise PredictionError(f"merge gap must be >= 0 seconds, got {merge_gap}")
    if workers is not None and int(workers) < 1:
        raise PredictionError(f"workers must be at least 1, got {workers}")
    if scheduler and client is not None:
        raise PredictionError("give a scheduler address or a client, not both")
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError as exc:
            raise PredictionError(
                "Parquet output needs pyarrow (pip install pyarrow); or use --format csv"
            ) from exc
    model = Path(model)
    bundle = ModelBundle.load(model)
    thresholds = detection_thresholds(bundle, detect_classes, threshold)
    if not 0 <= overlap < bundle.preprocessing.clip_seconds:
        raise PredictionError(
            f"overlap must be in [0, {bundle.preprocessing.clip_seconds}) seconds, got {overlap}"
        )
    found = find_audio(audio_dir, include, exclude)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise PredictionError(f"output folder is a file: {out_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)

    stat = model.stat()
    settings = TaskSettings(
        bundle_path=str(model.resolve()),
        bundle_key=(stat.st_size, stat.st_mtime_ns),
        out_dir=str(out_dir.resolve()),
        fmt=fmt,
        overlap=float(overlap),
        thresholds=thresholds,
        merge_gap=None if merge_gap is None else float(merge_gap),
        high_freq=bundle.preprocessing.sample_rate / 2,
        batch_size=int(batch_size),
        device=device,
        precision=precision,
        block_seconds=float(block_seconds),
        torch_threads=torch_threads,
        compile=bool(compile),
    )
    run_info = {
        "model": str(model.resolve()),
        "model_sha256": file_sha256(model),
        "classes": bundle.class_names,
        "preprocessing": bundle.preprocessing.to_dict(),
        "overlap": float(overlap),
        "format": fmt,
        "detection": {"thresholds": thresholds, "merge_gap": settings.merge_gap},
        "audio": os.fspath(audio_dir),
        "audio_root": str(found.root.resolve()),
    }
    run_info["precision"] = precision
    int8_observers = None
    if precision == "int8":
        int8_observers, run_info["int8_calibration"] = folder_calibration(
            out_dir, bundle, run_info["model_sha256"], found.files
        )
        settings = dataclasses.replace(settings, int8_digest=run_info["int8_calibration"]["digest"])
    redo = check_run_settings(out_dir, run_info)
    for folder in (out_dir, *(d for d in out_dir.rglob("*") if d.is_dir())):
        remove_temp_files(folder, min_age_s=60)  # left by writes that a crash cut short

    summary = FolderSummary(out_dir=out_dir, found=len(found.files))
    manifest = Manifest(out_dir)
    pending = []
    for f in found.files:
        key, st = found.key(f), f.stat()
        state = manifest.state(key, st.st_size, st.st_mtime)
        if state == "done":
            summary.skipped += 1
        elif state == "error" and not retry_failed:
            summary.failed_before += 1
        else:
            pending.append((f, key, st))
    try:
        if redo:
            redo_detections(manifest, thresholds, settings.merge_gap, settings.high_freq)
        atomic_write_json(out_dir / "run.json", run_info)
        if pending:
            run_tasks(
                pending,
                settings,
                int8_observers,
                manifest,
                summary,
                workers,
                scheduler,
                client,
                progress,
                on_file_done,
            )
    except KeyboardInterrupt:
        summary.interrupted = True
        raise
    finally:
        manifest.close()
        write_tables(manifest)
        done = manifest.done()
        summary.done = len(done)
        summary.hours_done = sum(float(e.get("seconds", 0)) for e in done.values()) / 3600
        totals = dict.fromkeys(thresholds, 0)
        for e in done.values():
            for c, n in (e.get("detections") or {}).items():
                totals[c] = totals.get(c, 0) + int(n)
        summary.detections = totals
        summary.seconds = time.perf_counter() - t0
    if pending and summary.scored == 0 and summary.skipped == 0 and summary.failed:
        first = summary.errors[0]
        raise PredictionError(
            f"all {summary.failed} recording(s) in {found.source} failed; the reasons are in "
            f"{out_dir / 'errors.csv'} (first: {first[0]}: {first[1]})"
        )
    return summary
