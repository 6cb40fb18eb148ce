"""Prediction at field scale: throughput, scaling and memory of ``predict --audio-dir``.

Run with our environment's python::

    .venv/bin/python benchmarks/predict_scale.py            # 20 min of audio, a 1-hour file
    .venv/bin/python benchmarks/predict_scale.py --quick    # a smoke run

Figures, each printed with its ratio:

- throughput in hours of audio per CPU-hour (CPU-hours = wall time x cores given to the
  workers; the CPU time the workers really used is shown beside it) of
  :func:`~woodcock_widgets.workflow.folder_predict.predict_folder` on a generated folder, for
  the tutorial's model (resnet18, 3x128x128) and a 3x224x224 resnet18 (random weights: the
  speed does not depend on them), with warm workers (bundle loaded, as in a long run);
- scaling from 1 to 2 workers (one torch thread each) as efficiency: throughput with 2 over
  twice the throughput with 1 (goal >= 0.8 where the machine has the cores), with what
  explains the rest: the cores the workers really used (a worker's decoding thread runs
  beside its torch thread, so one worker uses a little over one core) and the CPU of the
  client and the local scheduler (same cores);
- peak memory of a worker scoring a 1-hour file (goal < 1 GB): RSS (which counts every
  shared library page the process touched, torch's CUDA build included), PSS (shared pages
  divided among the processes that map them) and USS (pages of its own); what the file
  added over the warm worker; and the peak of numpy/Python allocations during the file
  (tracemalloc: audio blocks, spectrograms, image batches, scores);
- with ``.venv-peer`` present (``make bench`` creates it), OpenSoundscape 0.13.2's
  ``CNN.predict`` on a recording of the same folder with the same single thread (goal: ours
  >= 3x the peer), per CPU-hour of wall time x threads and per CPU-hour used; without it,
  the figures are printed without the peer ratio;
- the same 1-worker run with int8 scoring (``predict_folder(precision="int8")``,
  ``--precision int8``; rows marked ``(q)``): the calibration is measured on the client
  before the clock (its time printed apart), its ratio to the peer and to the default pass;
- the same 1-worker run with the compiled scoring pass (``predict_folder(compile=True)``,
  ``--compile``; rows marked ``(c)``), its ratio to the peer and to the eager pass, and the
  compile time per worker (paid once, before the timed run, with an empty inductor cache;
  ``--no-compile`` skips it).

The client, the local scheduler and this script's samplers share the cores with the
workers; the table shows their CPU time (``client+sched CPU s``).

Results also go to ``benchmarks/results/predict_scale.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import common  # the script's folder is first on sys.path

ROOT = Path(__file__).resolve().parents[1]
PEER_PY = ROOT / ".venv-peer" / "bin" / "python"
SR = 22050
MODELS = {"tutorial 3x128x128": [3, 128, 128], "resnet18 3x224x224": [3, 224, 224]}


def write_recording(path: Path, seconds: float, seed: int, sr: int = SR) -> Path:
    """A field-like recording (noise, a hum, chirps), written in one-minute chunks."""
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    total, done = int(seconds * sr), 0
    with sf.SoundFile(str(path), "w", sr, 1, subtype="PCM_16") as f:
        while done < total:
            n = min(60 * sr, total - done)
            t = (done + np.arange(n)) / sr
            x = 0.03 * rng.standard_normal(n) + 0.02 * np.sin(2 * np.pi * 60 * t)
            chirp = (np.sin(2 * np.pi * (2000 + 800 * (t % 1.0)) * t)) * ((t % 7.0) < 0.6)
            f.write((x + 0.2 * chirp).astype(np.float32))
            done += n
    return path


def make_bundle(shape: list[int], path: Path) -> Path:
    """A resnet18 bundle with random weights and the tutorial's preprocessing at ``shape``."""
    import torch

    from woodcock_widgets.audio.preprocessing import Preprocessing
    from woodcock_widgets.ml.bundle import ModelBundle
    from woodcock_widgets.ml.models import build_model

    torch.manual_seed(0)
    channels, h, w = shape
    model = build_model("resnet18", 2, pretrained=False, in_channels=channels)
    pre = Preprocessing(image_shape=(h, w), channels=channels)
    return ModelBundle(model, "resnet18", {0: "absent", 1: "present"}, pre).save(path)


class MemorySampler:
    """Largest RSS and USS (unique pages) of some processes, sampled in a thread.

    USS and PSS (``full``) read ``/proc/PID/smaps``: ~15 ms of CPU for a worker with torch
    loaded, a tenth of a core at 5 samples a second per worker, taken from the workers on
    a small machine. Timed runs sample RSS only (microseconds).
    """

    def __init__(self, pids: list[int], every: float = 0.2, full: bool = True) -> None:
        import psutil

        self.procs = [psutil.Process(p) for p in pids]
        self.rss = {p.pid: 0 for p in self.procs}
        self.uss = {p.pid: 0 for p in self.procs}
        self.pss = {p.pid: 0 for p in self.procs}
        self.every = every
        self.full = full
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for p in self.procs:
                try:
                    m = p.memory_full_info() if self.full else p.memory_info()
                except Exception:  # a process that ended
                    continue
                self.rss[p.pid] = max(self.rss[p.pid], m.rss)
                self.uss[p.pid] = max(self.uss[p.pid], getattr(m, "uss", 0))
                self.pss[p.pid] = max(self.pss[p.pid], getattr(m, "pss", 0))
            self._stop.wait(self.every)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _cpu_seconds(pids: list[int]) -> float:
    import psutil

    total = 0.0
    for pid in pids:
        t = psutil.Process(pid).cpu_times()
        total += t.user + t.system
    return total


def _trace_start() -> None:
    import tracemalloc

    tracemalloc.start()


def _trace_stop() -> int:
    import tracemalloc

    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def run_folder(
    client,
    bundle: Path,
    audio: Path,
    out: Path,
    trace: bool = False,
    compile: bool = False,
    precision: str = "auto",
) -> dict:
    """One timed ``predict_folder`` on warm workers (bundle loaded, kernels warmed).

    ``trace``: also the peak of numpy/Python allocations in the workers (tracemalloc, which
    slows Python a little) and USS/PSS (which cost the sampler CPU); otherwise RSS only.
    ``compile``: the compiled scoring pass; the workers compile while warming (timed apart:
    ``compile_s``, the slowest worker's compile).
    """
    from woodcock_widgets.workflow.folder_predict import predict_folder
    from woodcock_widgets.workflow.folder_worker import compile_seconds, preload

    pids = list(client.run(os.getpid).values())
    observers, calibration, calibrate_s = None, None, None
    if precision == "int8":  # measured on the client before the clock, as a run does first
        from woodcock_widgets.ml.bundle import ModelBundle
        from woodcock_widgets.workflow.discovery import find_audio
        from woodcock_widgets.workflow.folder_int8 import folder_calibration
        from woodcock_widgets.workflow.folder_outputs import file_sha256

        t0 = time.perf_counter()
        out.mkdir(parents=True, exist_ok=True)
        observers, calibration = folder_calibration(
            out, ModelBundle.load(bundle), file_sha256(bundle), find_audio(audio).files
        )
        calibrate_s = time.perf_counter() - t0
    # every worker, not just the first one free
    base = client.run(
        preload,
        str(bundle),
        compile=compile,
        torch_threads=1,
        precision=precision,
        int8_observers=observers,
    )
    assert all(v >= 1 for v in base.values())
    compile_s = [v for v in client.run(compile_seconds).values()]
    if compile and None in compile_s:
        raise RuntimeError("compiling failed on a worker (see its warning): no compiled row")
    rss0 = max(_rss(pids).values())
    if trace:
        client.run(_trace_start)
    cpu0 = _cpu_seconds(pids)
    own0 = _cpu_seconds([os.getpid()])  # the client and, in a local cluster, the scheduler
    with MemorySampler(pids, full=trace) as mem, common.Clock() as c:
        s = predict_folder(
            bundle,
            audio,
            out,
            client=client,
            progress=False,
            torch_threads=1,
            compile=compile,
            precision=precision,
        )
    cpu = _cpu_seconds(pids) - cpu0
    own = _cpu_seconds([os.getpid()]) - own0
    traced = max(client.run(_trace_stop).values()) if trace else 0
    if s.failed or s.scored == 0:
        raise RuntimeError(f"benchmark run failed: {s}")
    cores = len(pids)  # one torch thread per worker
    return {
        "workers": len(pids),
        "wall_s": c.seconds,
        "audio_h": s.hours_scored,
        "files": s.scored,
        "h_per_wall_h": s.hours_scored / (c.seconds / 3600),
        "h_per_cpu_h": s.hours_scored / (c.seconds * cores / 3600),
        "h_per_used_cpu_h": s.hours_scored / (cpu / 3600) if cpu > 0 else None,
        "worker_cpu_s": cpu,
        "client_scheduler_cpu_s": own,
        "rss_before_mb": rss0 / 2**20,
        "peak_rss_mb": max(mem.rss.values()) / 2**20,
        "peak_uss_mb": max(mem.uss.values()) / 2**20,
        "peak_pss_mb": max(mem.pss.values()) / 2**20,
        "traced_peak_mb": traced / 2**20 if trace else None,
        "compile_s": max(compile_s) if compile else None,
        "calibrate_s": calibrate_s,
        "int8_calibration": calibration,
    }


def _rss(pids: list[int]) -> dict[int, int]:
    import psutil

    return {p: psutil.Process(p).memory_info().rss for p in pids}


def peer_throughput(recording: Path, shape: list[int], batch_size: int) -> dict | None:
    """OpenSoundscape 0.13.2 ``CNN.predict`` on one recording, one thread (or None)."""
    if not PEER_PY.exists():
        return None
    import bench  # the driver's worker class (same folder)

    env = bench.worker_env(1)
    log = Path(tempfile.gettempdir()) / "predict_scale_peer.log"
    peer = bench.Worker("peer", PEER_PY, common.here() / "peer_opso.py", env, log)
    try:
        peer.call("setup", threads=1, timeout=600)
        r = peer.call("predict", recording=str(recording), shape=shape, batch_size=batch_size,
                      repeats=1, timeout=3600)  # fmt: skip
    finally:
        peer.close()
    audio_s = r["clips"] * 2.0  # back-to-back 2 s clips
    used = r.get("cpu_seconds") or 0
    return {
        "clips_per_s": r["clips_per_s"],
        "h_per_cpu_h": audio_s / r["seconds"],  # one thread: wall time is the CPU time given
        "h_per_used_cpu_h": audio_s / used if used > 0 else None,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=20.0, help="audio in the folder")
    p.add_argument("--files", type=int, default=8, help="recordings in the folder")
    p.add_argument("--hour-minutes", type=float, default=60.0, help="the long file's length")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument(
        "--hour-models",
        nargs="+",
        choices=list(MODELS),
        default=list(MODELS),
        help="models measured on the long file",
    )
    p.add_argument("--quick", action="store_true", help="2 min of audio, a 5-min long file")
    p.add_argument("--no-hour", action="store_true", help="skip the long-file memory runs")
    p.add_argument("--no-peer", action="store_true", help="skip OpenSoundscape")
    p.add_argument("--no-compile", action="store_true", help="skip the compiled (--compile) row")
    p.add_argument("--no-int8", action="store_true", help="skip the int8 (--precision int8) row")
    p.add_argument("--keep", action="store_true", help="keep the generated audio and outputs")
    p.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "predict_scale.json"
    )
    args = p.parse_args(argv)
    if args.quick:
        args.minutes, args.files, args.hour_minutes = 2.0, 3, 5.0

    import logging

    import torch
    from distributed import Client

    from woodcock_widgets.workflow.folder_predict import local_cluster

    logging.getLogger("distributed").setLevel(logging.ERROR)
    work = Path(tempfile.mkdtemp(prefix="predict_scale_"))
    # an empty inductor cache (inherited by the workers): the compile time of a first run
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(work / "inductor_cache")
    audio = work / "season"
    per_file = args.minutes * 60 / args.files
    for i in range(args.files):
        write_recording(audio / f"site{i % 2}" / f"rec{i:02d}.wav", per_file, i)
    hour = write_recording(work / "hour" / "long.wav", args.hour_minutes * 60, 7)
    bundles = {name: make_bundle(shape, work / f"m{shape[1]}.pt") for name, shape in MODELS.items()}
    cpus = len(os.sched_getaffinity(0))
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(
        f"predict_scale: {args.minutes:g} min of audio in {args.files} files; {cpus} cores "
        f"(load average {load} before the runs); torch {torch.__version__}; {platform.machine()}"
    )

    results: dict = {
        "machine": {"cores": cpus, "torch": torch.__version__, "loadavg": os.getloadavg()},
        "models": {},
    }
    for n_workers in (1, 2):
        cluster, _ = local_cluster(n_workers, torch_threads=1)
        with cluster, Client(cluster) as client:
            for name, bundle in bundles.items():
                r = run_folder(client, bundle, audio, work / f"out_{n_workers}_{bundle.stem}")
                results["models"].setdefault(name, {})[f"{n_workers}w"] = r
                if n_workers == 1 and not args.no_int8:
                    out = work / f"out_q_{bundle.stem}"
                    r = run_folder(client, bundle, audio, out, precision="int8")
                    results["models"][name]["1w int8"] = r
                if n_workers == 1 and not args.no_compile:
                    out = work / f"out_c_{bundle.stem}"
                    r = run_folder(client, bundle, audio, out, compile=True)
                    results["models"][name]["1w compiled"] = r
    results["hour_file"] = {}
    for name in [] if args.no_hour else args.hour_models:
        cluster, _ = local_cluster(1, torch_threads=1)  # a fresh worker: its own peak only
        with cluster, Client(cluster) as client:
            r = run_folder(
                client, bundles[name], hour.parent, work / f"hour_{name[-3:]}", trace=True
            )
        results["hour_file"][name] = {**r, "minutes": args.hour_minutes}

    peer_note = None if PEER_PY.exists() else f"{PEER_PY} not found (`make bench` creates it)"
    peer_note = "skipped (--no-peer)" if args.no_peer else peer_note
    first = sorted(audio.rglob("*.wav"))[0]
    print(f"\n{'model ((c) compiled, (q) int8)':30} {'wkr':>3} {'wall s':>7} {'h/wall-h':>9} "
          f"{'h/CPU-h':>8} {'h/used CPU-h':>12} {'peer h/CPU-h':>12} {'ratio':>6} "
          f"{'cores used':>10} {'client+sched CPU s':>18}")  # fmt: skip
    for name, runs in results["models"].items():
        peer = peer_throughput(first, MODELS[name], args.batch_size) if not peer_note else None
        runs["peer"] = peer
        for key in ("1w", "1w compiled", "1w int8", "2w"):
            if key not in runs:
                continue
            r = runs[key]
            one = key.startswith("1w")
            ratio = r["h_per_cpu_h"] / peer["h_per_cpu_h"] if peer and one else None
            r["peer_ratio"] = ratio
            nan = float("nan")
            peer_v = peer["h_per_cpu_h"] if peer and one else nan
            label = f"{name} (c)" if key.endswith("compiled") else name
            label = f"{name} (q)" if key.endswith("int8") else label
            print(
                f"{label:30} {r['workers']:>3} {r['wall_s']:>7.1f} {r['h_per_wall_h']:>9.1f} "
                f"{r['h_per_cpu_h']:>8.1f} {r['h_per_used_cpu_h'] or 0:>12.1f} "
                f"{peer_v:>12.1f} {ratio or nan:>6.2f} {r['worker_cpu_s'] / r['wall_s']:>10.2f} "
                f"{r['client_scheduler_cpu_s']:>18.1f}"
            )
        eff = runs["2w"]["h_per_wall_h"] / (2 * runs["1w"]["h_per_wall_h"])
        used = (runs["2w"]["h_per_used_cpu_h"] or 0) / (runs["1w"]["h_per_used_cpu_h"] or 1)
        runs["scaling_efficiency"], runs["cpu_efficiency"] = eff, used
        print(
            f"{'':20} scaling 1 -> 2 workers: efficiency {eff:.2f} of linear (goal >= 0.8 with "
            f"{cpus} free cores); per used CPU-hour {used:.2f} of one worker's"
        )
        if "1w compiled" in runs:
            c = runs["1w compiled"]
            speed = c["h_per_cpu_h"] / runs["1w"]["h_per_cpu_h"]
            runs["compiled_speedup"] = speed
            print(
                f"{'':20} compiled: {speed:.2f}x the eager pass per CPU-hour, after compiling "
                f"for {c['compile_s']:.0f} s once per worker (worth it from about "
                f"{c['compile_s'] / 3600 * runs['1w']['h_per_cpu_h'] / (1 - 1 / speed):.1f} h "
                f"of audio per worker)"
                if speed > 1
                else f"{'':20} compiled: {speed:.2f}x the eager pass (no gain here), after "
                f"compiling for {c['compile_s']:.0f} s"
            )
        if "1w int8" in runs:
            q = runs["1w int8"]
            speed = q["h_per_cpu_h"] / runs["1w"]["h_per_cpu_h"]
            runs["int8_speedup"] = speed
            cal = q["int8_calibration"]
            print(
                f"{'':20} int8: {speed:.2f}x the default pass per CPU-hour, after calibrating "
                f"for {q['calibrate_s']:.1f} s once per run on {cal['windows']} windows (int8 "
                f"scores within {cal['max_abs_diff']:.4f} of float32 there, random weights: "
                "see benchmarks/int8_agreement.py for a trained model)"
            )
        if peer and peer.get("h_per_used_cpu_h") and runs["1w"]["h_per_used_cpu_h"]:
            used_ratio = runs["1w"]["h_per_used_cpu_h"] / peer["h_per_used_cpu_h"]
            runs["peer_used_ratio"] = used_ratio
            print(
                f"{'':20} per used CPU-hour: ours {runs['1w']['h_per_used_cpu_h']:.1f}, peer "
                f"{peer['h_per_used_cpu_h']:.1f}: ratio {used_ratio:.2f} (goal >= 3)"
            )
            for key, what in (("1w int8", "int8"), ("1w compiled", "compiled")):
                used = (runs.get(key) or {}).get("h_per_used_cpu_h")
                if used:
                    runs[f"peer_used_ratio_{what}"] = used / peer["h_per_used_cpu_h"]
                    print(
                        f"{'':20} per used CPU-hour, {what}: ours {used:.1f}: ratio "
                        f"{used / peer['h_per_used_cpu_h']:.2f} (goal >= 3)"
                    )
    if peer_note:
        print(f"\npeer: {peer_note}; figures printed without the peer ratio (goal >= 3x)")
    for name, h in results["hour_file"].items():
        print(
            f"\n{h['minutes']:g}-min file, {name}, 1 worker (goal < 1024 MB):\n"
            f"  peak RSS {h['peak_rss_mb']:.0f} MB ({h['peak_rss_mb'] / 1024:.2f} of the goal; "
            f"{h['rss_before_mb']:.0f} MB before the file, model loaded: the file added "
            f"{h['peak_rss_mb'] - h['rss_before_mb']:.0f} MB)\n"
            f"  peak PSS {h['peak_pss_mb']:.0f} MB (shared pages divided among the processes "
            f"mapping them), USS {h['peak_uss_mb']:.0f} MB (pages of its own; the rest of RSS is "
            f"shared libraries, torch's CUDA build, mapped once for all workers)\n"
            f"  numpy/Python allocations during the file peaked at "
            f"{h['traced_peak_mb'] or 0:.0f} MB (tracemalloc; torch's activations not included)\n"
            f"  {h['wall_s']:.0f} s, {h['h_per_used_cpu_h'] or 0:.1f} h of audio per used CPU-hour"
        )
    best = results["models"]["tutorial 3x128x128"]["1w"]["h_per_cpu_h"]
    season = 10_000
    print(f"\nseason arithmetic (tutorial model): {season:,} h / {best:.0f} h per CPU-hour = "
          f"{season / best:,.0f} CPU-hours: {season / best / cpus:,.0f} h on this {cpus}-core "
          f"machine, {season / best / 64:,.1f} h on 64 cores")  # fmt: skip
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(
        f"(load average {load} after the runs: on a busy machine, wall-time figures and the "
        "scaling efficiency measure the other processes too; the used-CPU figures much less)"
    )
    results["peer_note"] = peer_note
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=float) + "\n")
    print(f"\nwrote {args.out}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
