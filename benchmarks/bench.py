"""Side-by-side benchmarks: woodcock_widgets against OpenSoundscape 0.13.2 and a bare torch loop.

Run with our environment's python (``make bench`` does this, after creating ``.venv-peer``)::

    .venv/bin/python benchmarks/bench.py            # default sizes, about 10 minutes
    .venv/bin/python benchmarks/bench.py --quick    # smoke run, about 2 minutes

Both sides work on the same generated clips (``make_woodcock_dataset``), with the same
architecture (resnet18, random initial weights), input shapes, batch size and thread count,
and no augmentation. Our side runs in a ``.venv/bin/python`` worker process, the reference in
a ``.venv-peer/bin/python`` worker; they take turns, so each ratio is measured side by side.
Prints one table and writes ``benchmarks/results/latest.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import common

ROOT = common.here().parent
OURS_PY = ROOT / ".venv" / "bin" / "python"
PEER_PY = ROOT / ".venv-peer" / "bin" / "python"
DEFAULT_OUT = common.here() / "results" / "latest.json"
CLASSES = ["absent", "present"]


# ------------------------------------------------------------------------------- settings
@dataclass
class Sizes:
    """How much work each figure does."""

    clips: int  # generated dataset (train + valid)
    preprocess_clips: int
    overhead_epochs: int
    train_epochs: int
    recording_seconds: float
    inspector_clips: int
    rss_clips: int
    rounds: int  # alternating turns per side for the cheap figures


QUICK = Sizes(32, 16, 2, 2, 20.0, 8, 10_000, 1)
DEFAULT = Sizes(256, 48, 3, 5, 60.0, 20, 10_000, 2)


@dataclass
class Figure:
    """One row of the table."""

    id: str
    name: str
    unit: str
    ours: float | None
    reference: float | None
    ratio: float | None
    goal: str
    passed: bool | None
    details: dict = field(default_factory=dict)


def _parse_shape(text: str) -> list[int]:
    parts = [int(p) for p in text.lower().split("x")]
    if len(parts) != 3 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"shape must look like 3x224x224, got {text!r}")
    return parts


def _shape_text(shape: list[int]) -> str:
    return "x".join(str(s) for s in shape)


# -------------------------------------------------------------------------------- workers
class Worker:
    """A long-lived worker process answering JSON tasks (see ``common.serve``)."""

    def __init__(self, name: str, python: Path, script: Path, env: dict, log: Path) -> None:
        self.name = name
        self.log_path = log
        self._log = open(log, "w")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [str(python), str(script), "serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
            cwd=str(ROOT),
            text=True,
        )

    def call(self, task: str, timeout: float = 900.0, **args) -> dict:
        """Run ``task`` in the worker and return its result (raises on its error)."""
        self.proc.stdin.write(json.dumps({"task": task, "args": args}) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise RuntimeError(f"{self.name} worker: {task} took over {timeout:.0f} s")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(
                f"{self.name} worker died during {task}; see {self.log_path}:\n{self._tail()}"
            )
        answer = json.loads(line)
        if not answer["ok"]:
            raise RuntimeError(f"{self.name} worker failed in {task}:\n{answer['error']}")
        return answer["result"]

    def _tail(self, n: int = 20) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def close(self) -> None:
        """End the worker (closing its stdin ends its loop)."""
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def worker_env(threads: int) -> dict[str, str]:
    """The environment both workers get: same thread count, nothing on the network."""
    env = dict(os.environ)
    env.update(common.QUIET_ENV)
    env.update(common.thread_env(threads))
    return env


# ----------------------------------------------------------------------------------- data
def make_data(work: Path, sizes: Sizes, seed: int) -> dict[str, str]:
    """Generate the clips, a stratified 80/20 split and a long recording; return the paths."""
    from woodcock_widgets.data.synthetic import make_woodcock_dataset
    from woodcock_widgets.tables.splits import split_train_valid
    from woodcock_widgets.workflow.pipeline import CODE_COLUMN, prepare_labels

    # the proportions of the built-in "train" preset: half song, a tenth call, the rest absent
    n_song = sizes.clips // 2
    n_call = max(1, sizes.clips // 10)
    labels = make_woodcock_dataset(
        work / "clips",
        n_song=n_song,
        n_call=n_call,
        n_absent=sizes.clips - n_song - n_call,
        seed=seed,
    )
    table = prepare_labels(
        labels,
        "sound_type",
        {"song": "present", "call": "absent", "na": "absent"},
        new_column="woodcock_song",
    )
    if table.label_dict != dict(enumerate(CLASSES)):
        raise RuntimeError(f"unexpected label dictionary {table.label_dict}")
    train_df, valid_df = split_train_valid(table.df, CODE_COLUMN, 0.8, seed=seed)
    paths = {"labels_csv": str(labels)}
    for name, part in (("train_csv", train_df), ("valid_csv", valid_df)):
        out = work / f"{name[:-4]}.csv"
        part[["filename", CODE_COLUMN]].rename(columns={CODE_COLUMN: "code"}).to_csv(
            out, index=False
        )
        paths[name] = str(out)
    rec = make_woodcock_dataset(
        work / "recording",
        n_song=1,
        n_call=0,
        n_absent=0,
        seed=seed,
        clip_seconds=sizes.recording_seconds,
    )
    paths["recording"] = str(next(rec.parent.glob("*.wav")))
    paths["clip_files"] = [str(f) for f in table.df["filename"]]  # the table's mixed order
    return paths


# -------------------------------------------------------------------------------- figures
def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def fig_preprocess(ours, peer, files, shape, rounds) -> Figure:
    """Preprocessing clips/s, alternating turns (peer, ours, ours, peer, ...)."""
    o, p = [], []
    for r in range(rounds):
        order = [("peer", peer), ("ours", ours)]
        for who, w in order if r % 2 == 0 else order[::-1]:
            if w is None:
                continue
            res = w.call("preprocess", files=files, shape=shape)
            if res["shape"] != shape:
                raise RuntimeError(f"{who} preprocessing gave shape {res['shape']}, not {shape}")
            (o if who == "ours" else p).append(res["clips_per_s"])
    ours_v, peer_v = max(o), (max(p) if p else None)
    ratio = _ratio(ours_v, peer_v)
    return Figure(
        f"preprocess_{_shape_text(shape)}",
        f"preprocessing {_shape_text(shape)}, clips/s",
        "clips/s",
        ours_v,
        peer_v,
        ratio,
        ">= 2.0x peer",
        None if ratio is None else ratio >= 2.0,
        {"ours_runs": o, "peer_runs": p, "clips": len(files)},
    )


def fig_epoch(ours, paths, shape, sizes, batch, work, seed) -> list[Figure]:
    """Epoch >= 2 against a bare torch loop with the same precision and layout."""
    res = ours.call(
        "epoch_overhead",
        labels_csv=paths["labels_csv"],
        train_csv=paths["train_csv"],
        valid_csv=paths["valid_csv"],
        shape=shape,
        epochs=sizes.overhead_epochs,
        batch_size=batch,
        run_dir=str(work / f"overhead_{_shape_text(shape)}"),
        seed=seed,
    )
    s = _shape_text(shape)
    mode = f"{res['autocast']}{', channels_last' if res['channels_last'] else ''}"

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    return [
        Figure(
            f"epoch_train_{s}",
            f"epoch>=2 training pass {s} ({mode}), s",
            "s",
            mean(res["ours_train_s"]),
            mean(res["bare_train_s"]),
            res["train_ratio"],
            "<= 1.05x bare loop",
            res["train_ratio"] <= 1.05,
            res,
        ),
        Figure(
            f"epoch_whole_{s}",
            f"epoch>=2 train+BN recal+valid {s}, s",
            "s",
            mean(res["ours_epoch_s"]),
            mean(res["bare_epoch_s"]),
            res["epoch_ratio"],
            "<= 1.05x bare loop",
            res["epoch_ratio"] <= 1.05,
            {k: res[k] for k in ("ours_epoch_s", "bare_epoch_s", "epochs_measured")},
        ),
    ]


def fig_train(ours, peer, paths, shape, sizes, batch, work, seed) -> list[Figure]:
    """Train N epochs each side: wall time, validation F1, and the run folder's size."""
    s = _shape_text(shape)
    common_args = dict(
        train_csv=paths["train_csv"],
        valid_csv=paths["valid_csv"],
        shape=shape,
        epochs=sizes.train_epochs,
        batch_size=batch,
        seed=seed,
    )
    p = None
    if peer is not None:
        p = peer.call("train", classes=CLASSES, run_dir=str(work / f"peer_run_{s}"), **common_args)
    o = ours.call(
        "train", labels_csv=paths["labels_csv"], run_dir=str(work / f"our_run_{s}"), **common_args
    )
    bare = ours.call(
        "bare_train",
        labels_csv=paths["labels_csv"],
        run_dir=str(work / f"bare_run_{s}"),
        **common_args,
    )
    speedup = _ratio(p["seconds"], o["seconds"]) if p else None
    f1_ok = p is None or o["valid_f1"] >= p["valid_f1"]
    n = o["n_train"] + o["n_valid"]
    figs = [
        Figure(
            f"train_{s}",
            f"train {sizes.train_epochs} epochs on {n} clips {s}, s",
            "s",
            o["seconds"],
            p["seconds"] if p else None,
            speedup,
            ">= 2.5x faster, F1 >= peer",
            None if speedup is None else (speedup >= 2.5 and f1_ok),
            {
                "ours": o,
                "peer": p,
                "cpu_seconds_speedup": _ratio(p["cpu_seconds"], o["cpu_seconds"]) if p else None,
            },
        ),
        Figure(
            f"train_f1_{s}",
            f"  validation macro F1 after it {s}",
            "F1",
            o["valid_f1"],
            p["valid_f1"] if p else None,
            _ratio(o["valid_f1"], p["valid_f1"]) if p else None,
            ">= peer",
            None if p is None else f1_ok,
        ),
    ]
    # the most any pipeline could gain over the peer with this model, batch and precision:
    # the peer's time over the bare loop's (batches in memory, nothing but the tensor work)
    with_valid = bare["steps_s"] + bare["finish_s"]
    for key, label, secs in (
        ("steps", "training steps only", bare["steps_s"]),
        ("steps_valid", "steps + BN re-estimation + validation", with_valid),
    ):
        figs.append(
            Figure(
                f"train_ceiling_{key}_{s}",
                f"  ceiling: bare loop, {label}, s",
                "s",
                secs,
                p["seconds"] if p else None,
                _ratio(p["seconds"], secs) if p else None,
                "info: peer / bare",
                None,
                bare,
            )
        )
    ratio = o["run_dir_bytes"] / o["weights_bytes"]
    peer_ratio = p["run_dir_bytes"] / p["weights_bytes"] if p else None
    figs.append(
        Figure(
            f"run_folder_{s}",
            f"run folder size / raw weights size {s}",
            "x weights",
            ratio,
            peer_ratio,
            ratio,
            "<= 2.2x weights",
            ratio <= 2.2,
            {
                "ours_bytes": o["run_dir_bytes"],
                "ours_files": o["run_dir_files"],
                "peer_bytes": p["run_dir_bytes"] if p else None,
                "peer_files": p["run_dir_files"] if p else None,
                "weights_bytes": o["weights_bytes"],
            },
        )
    )
    return figs


def fig_predict(ours, peer, recording, shape, batch, rounds) -> Figure:
    """Prediction on one long recording, clips/s, alternating turns."""
    o, p, clips = [], [], {}
    for r in range(rounds):
        order = [("peer", peer), ("ours", ours)]
        for who, w in order if r % 2 == 0 else order[::-1]:
            if w is None:
                continue
            res = w.call("predict", recording=recording, shape=shape, batch_size=batch)
            (o if who == "ours" else p).append(res["clips_per_s"])
            clips[who] = res["clips"]
    ours_v, peer_v = max(o), (max(p) if p else None)
    ratio = _ratio(ours_v, peer_v)
    return Figure(
        f"predict_{_shape_text(shape)}",
        f"predict on a {clips['ours'] * 2} s recording {_shape_text(shape)}, clips/s",
        "clips/s",
        ours_v,
        peer_v,
        ratio,
        ">= 2.5x peer",
        None if ratio is None else ratio >= 2.5,
        {"ours_runs": o, "peer_runs": p, "clips": clips},
    )


def fig_inspector(ours, paths, sizes) -> Figure:
    """Inspector: Python-side time to show the next clip."""
    res = ours.call("inspector", labels_csv=paths["labels_csv"], clips=sizes.inspector_clips)
    ms = res["median_ms"]
    return Figure(
        "inspector_next",
        "inspector next clip, Python side, ms",
        "ms",
        ms,
        None,
        None,
        "<= 30 ms",
        ms <= 30,
        res,
    )


def fig_control(ours, paths, shape, batch, work, seed) -> Figure:
    """Training with the TrainingControl widget attached against a headless trainer."""
    res = ours.call(
        "control",
        labels_csv=paths["labels_csv"],
        train_csv=paths["train_csv"],
        valid_csv=paths["valid_csv"],
        shape=shape,
        epochs=2,
        batch_size=batch,
        run_dir=str(work / "control"),
        seed=seed,
    )
    ratio = res.get("ratio")
    return Figure(
        "training_control",
        "training with TrainingControl / headless",
        "x",
        ratio,
        None,
        ratio,
        "<= 1.02x",
        None if ratio is None else ratio <= 1.02,
        res,
    )


def fig_rss(sizes: Sizes, threads: int) -> Figure:
    """Memory of a dataset index of many clips, in a fresh process."""
    out = subprocess.run(
        [str(OURS_PY), str(common.here() / "ours.py"), "rss-index", str(sizes.rss_clips)],
        capture_output=True,
        text=True,
        env=worker_env(threads),
        cwd=str(ROOT),
        check=True,
        timeout=300,
    )
    res = json.loads(out.stdout.strip().splitlines()[-1])
    mb = res["rss_delta_bytes"] / 1e6
    return Figure(
        "rss_index",
        f"RSS of a dataset index of {res['clips']} clips, MB",
        "MB",
        mb,
        None,
        None,
        "<= 50 MB",
        mb <= 50,
        res,
    )


def fig_tutorial(runs: Path) -> list[Figure]:
    """The command ``make tutorial`` runs (venv already set up): wall time and peak RSS.

    The RSS is summed over the whole process tree (papermill, kernels) every 0.2 s.
    """
    import psutil

    run_dir = runs / "tutorial"
    cmd = [str(OURS_PY), "-m", "woodcock_widgets", "tutorial", "--run-dir", str(run_dir)]
    env = {**os.environ, "WOODCOCK_OFFLINE": "1"}
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            cmd, cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=err, env=env, text=True
        )
        root = psutil.Process(proc.pid)
        peak = peak_pss = 0
        while proc.poll() is None:
            rss = pss = 0
            try:
                family = [root, *root.children(recursive=True)]
            except psutil.Error:
                family = []
            for p in family:
                try:
                    mem = p.memory_full_info()  # pss: shared pages counted once overall
                    rss, pss = rss + mem.rss, pss + mem.pss
                except psutil.Error:
                    pass
            peak, peak_pss = max(peak, rss), max(peak_pss, pss)
            time.sleep(0.2)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err.read()[-2000:]}")
    mb = peak / 1e6
    return [
        Figure(
            "tutorial_wall",
            "make tutorial (default preset), s",
            "s",
            seconds,
            None,
            None,
            "<= 300 s",
            seconds <= 300,
            {"command": cmd},
        ),
        Figure(
            "tutorial_peak_rss",
            "make tutorial peak RSS (process tree), MB",
            "MB",
            mb,
            None,
            None,
            "<= 1500 MB",
            mb <= 1500,
            {"peak_pss_mb": peak_pss / 1e6, "sampled_every_s": 0.2},
        ),
    ]


# --------------------------------------------------------------------------------- output
def _fmt(v: float | None, unit: str = "") -> str:
    if v is None:
        return "-"
    if unit == "F1":
        return f"{v:.3f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def table(figures: list[Figure]) -> str:
    """The results as a Markdown table (also fine in a terminal)."""
    rows = [("figure", "ours", "reference", "ratio", "goal", "pass")]
    for f in figures:
        status = (
            "not measured" if f.ours is None else {True: "PASS", False: "FAIL"}.get(f.passed, "-")
        )
        ratio = "-" if f.ratio is None else f"{f.ratio:.2f}x"
        rows.append(
            (f.name, _fmt(f.ours, f.unit), _fmt(f.reference, f.unit), ratio, f.goal, status)
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def machine() -> dict:
    """What the figures were measured on."""
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": model or platform.processor(),
        "cores": os.cpu_count(),
        "memory_gb": round(mem / 1e9, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


# ----------------------------------------------------------------------------------- main
FIGURE_GROUPS = ("preprocess", "epoch", "train", "predict", "inspector", "control", "rss")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line."""
    p = argparse.ArgumentParser(
        description="Benchmarks side by side with OpenSoundscape and a bare torch loop."
    )
    p.add_argument("--quick", action="store_true", help="smoke-run sizes (about 2 minutes)")
    p.add_argument("--clips", type=int, help="generated clips (train + valid)")
    p.add_argument("--rss-clips", type=int, help="clips in the dataset index measured for RSS")
    p.add_argument(
        "--shapes",
        type=_parse_shape,
        nargs="+",
        metavar="CxHxW",
        help="input shapes (default: 3x224x224 1x257x171)",
    )
    p.add_argument(
        "--train-shapes",
        type=_parse_shape,
        nargs="+",
        metavar="CxHxW",
        help="shapes for the N-epoch training figure (default: the first shape)",
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", nargs="+", choices=FIGURE_GROUPS, help="run only these figures")
    p.add_argument("--no-peer", action="store_true", help="skip the OpenSoundscape side")
    p.add_argument(
        "--with-tutorial", action="store_true", help="also time `make tutorial` (takes minutes)"
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results JSON")
    p.add_argument("--work-dir", type=Path, help="keep the generated data and runs here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks, print the table, write the JSON."""
    args = parse_args(argv)
    t0 = time.perf_counter()
    sizes = QUICK if args.quick else DEFAULT
    if args.clips:
        sizes = Sizes(**{**asdict(sizes), "clips": args.clips})
    if args.rss_clips:
        sizes = Sizes(**{**asdict(sizes), "rss_clips": args.rss_clips})
    shapes = args.shapes or [[3, 224, 224], [1, 257, 171]]
    train_shapes = args.train_shapes or shapes[:1]
    groups = set(args.only or FIGURE_GROUPS)
    use_peer = not args.no_peer
    if use_peer and not PEER_PY.exists():
        print(
            f"{PEER_PY} not found: run `make bench` (it creates .venv-peer) or pass --no-peer",
            file=sys.stderr,
        )
        return 2

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="woodcock-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    env = worker_env(args.threads)
    print(f"benchmark data and logs in {work}", file=sys.stderr)
    paths = make_data(work, sizes, args.seed)
    runs = work / "runs"  # run folders of this invocation (a kept work dir is reused)
    shutil.rmtree(runs, ignore_errors=True)
    runs.mkdir()
    files = paths["clip_files"][: sizes.preprocess_clips]

    ours = Worker("ours", OURS_PY, common.here() / "ours.py", env, work / "ours.log")
    peer = (
        Worker("peer", PEER_PY, common.here() / "peer_opso.py", env, work / "peer.log")
        if use_peer
        else None
    )
    figures: list[Figure] = []
    setup = {}
    try:
        setup["ours"] = ours.call("setup", threads=args.threads)
        if peer is not None:
            setup["peer"] = peer.call("setup", threads=args.threads, timeout=600)
        steps = []
        for shape in shapes:
            if "preprocess" in groups:
                steps.append(lambda s=shape: [fig_preprocess(ours, peer, files, s, sizes.rounds)])
            if "predict" in groups:
                steps.append(
                    lambda s=shape: [
                        fig_predict(
                            ours, peer, paths["recording"], s, args.batch_size, sizes.rounds
                        )
                    ]
                )
            if "epoch" in groups:
                steps.append(
                    lambda s=shape: fig_epoch(
                        ours, paths, s, sizes, args.batch_size, runs, args.seed
                    )
                )
        if "train" in groups:
            for shape in train_shapes:
                steps.append(
                    lambda s=shape: fig_train(
                        ours, peer, paths, s, sizes, args.batch_size, runs, args.seed
                    )
                )
        if "inspector" in groups:
            steps.append(lambda: [fig_inspector(ours, paths, sizes)])
        if "control" in groups:
            steps.append(
                lambda: [fig_control(ours, paths, shapes[0], args.batch_size, runs, args.seed)]
            )
        for step in steps:
            new = step()
            figures.extend(new)
            for f in new:
                print(
                    f"  {f.name}: ours {_fmt(f.ours, f.unit)}, reference "
                    f"{_fmt(f.reference, f.unit)}",
                    file=sys.stderr,
                )
    finally:
        ours.close()
        if peer is not None:
            peer.close()
    if "rss" in groups:
        figures.append(fig_rss(sizes, args.threads))
    if args.with_tutorial:
        figures.extend(fig_tutorial(runs))

    elapsed = time.perf_counter() - t0
    text = table(figures)
    print(text)
    result = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["benchmarks/bench.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine(),
        "settings": {
            "sizes": asdict(sizes),
            "shapes": shapes,
            "train_shapes": train_shapes,
            "batch_size": args.batch_size,
            "threads": args.threads,
            "seed": args.seed,
            "peer": use_peer,
        },
        "setup": setup,
        "elapsed_s": elapsed,
        "figures": [asdict(f) for f in figures],
        "table": text,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(f"wrote {args.out} ({elapsed:.0f} s)", file=sys.stderr)
    if args.work_dir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
