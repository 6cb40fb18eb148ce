"""Int8 scoring keeps what the classifier learned: fp32, bf16 and int8 side by side.

Usage::

    .venv/bin/python benchmarks/int8_agreement.py               # 300 clips and gy6or6, ~2 min
    .venv/bin/python benchmarks/int8_agreement.py --no-gy6or6   # the built-in clips only
    .venv/bin/python benchmarks/int8_agreement.py --quick       # 20 clips, 1 epoch: smoke check

Data and models:

* ``tutorial``: the built-in 300 generated clips (150 song / 30 call / 120 absent), notebook
  2's mapping (song -> present, call and na -> absent) and notebook 3's split (80 % train,
  seed 0), as ``benchmarks/embeddings_vs_cnn.py`` builds them; the CNN trained with
  :func:`~woodcock_widgets.workflow.pipeline.new_trainer` at notebook 4's settings (resnet18
  from random weights, 128x128, 5 epochs, batch 16, lr 0.01, seed 0); its ``best.pt`` scored.
* ``gy6or6`` (skipped where ``../shared/real_labeled`` lacks it, or with ``--no-gy6or6``): the
  real Bengalese finch recordings cut into 0.5 s windows labeled a-k (multi-label), split by
  recording, and the CNN of ``embeddings_vs_cnn.py``'s gy6or6 run (64x64, 4 epochs, batch 32,
  lr 0.01, fp32); its last epoch scored.

The validation windows are scored three times with the one scoring pass
(:func:`~woodcock_widgets.ml.scoring.prepare_model` + ``score_images``): ``fp32``, ``bf16``
and ``int8``. Int8 is calibrated the way ``predict(..., precision="int8")`` calibrates a run:
:func:`~woodcock_widgets.ml.int8.int8_calibration` on the audio being scored (the validation
files, in table order, no labels), defaults unchanged (64 windows spread over at least 8
files; a 2 s clip gives one, so on clips that is the first 64 files). On the built-in clips,
``predict`` itself is also run with ``precision="int8"`` and its scores compared with this
pass (``predict vs pass``).

Figures per precision: validation AP (the ``present`` scores, sklearn's average precision;
gy6or6: macro AP over a-k), F1 at a 0.5 threshold (``present``; gy6or6: macro), the largest
``|score - fp32 score|``, the fraction of windows whose predicted class equals fp32's
(gy6or6: whose set of classes at 0.5 does), and ms per window on one torch thread
(``torch.set_num_threads(1)``, one warm-up batch, batches of 32, images already decoded; the
best of ``--repeats`` passes), with the speed against bf16 (bf16 ms / this ms). For reference,
as learning claims are shown against chance and shuffled labels: the chance AP (the fraction
of positives; gy6or6: its mean over the classes) and each precision's AP against the
validation labels permuted once (seed 0; the model is not retrained). Results also go to
``benchmarks/results/int8_agreement.json``; everything else lives in a temporary folder,
removed at the end.

Result on a quiet machine (2 cores, load average about 1, 2026-11-30; 59 s in all): built-in
clips, validation AP fp32 0.917, bf16 0.917, int8 0.913 (chance 0.500, shuffled labels 0.505),
int8 scores within 0.066 of fp32, every clip's class the same, 2.72 ms per window against
5.65 in bf16 (2.07x); gy6or6, macro AP 0.987 in all three (chance 0.244, shuffled 0.265-0.269),
int8 within 0.114 of fp32, 96.3 % of windows with the same classes at 0.5, 2.12x bf16.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from embeddings_vs_cnn import (  # noqa: E402
    GY6OR6,
    TUTORIAL,
    _gy6or6_split,
    _table_and_split,
    gy6or6_cnn_settings,
    tutorial_cnn_settings,
)
from sklearn.metrics import average_precision_score, f1_score  # noqa: E402

from woodcock_widgets.audio.images import model_image  # noqa: E402
from woodcock_widgets.ml.bundle import ModelBundle  # noqa: E402
from woodcock_widgets.ml.int8 import int8_calibration  # noqa: E402
from woodcock_widgets.ml.predict import predict  # noqa: E402
from woodcock_widgets.ml.scoring import prepare_model, score_images  # noqa: E402
from woodcock_widgets.workflow.pipeline import CODE_COLUMN, new_trainer  # noqa: E402

PRECISIONS = ("fp32", "bf16", "int8")
BATCH = 32


# ------------------------------------------------------------------------------ data
def train_tutorial(tmp: Path, size: str, epochs: int, seed: int) -> dict:
    """The built-in clips, the notebook-4 CNN trained on them; its ``best.pt`` and validation."""
    from woodcock_widgets.data import make_sized_dataset

    labels = make_sized_dataset(tmp / size / "data", size, seed=seed)
    table, split = _table_and_split(str(labels))
    config, pre = tutorial_cnn_settings(epochs)
    run_dir = tmp / size / "run"
    t0 = time.perf_counter()
    new_trainer(table, run_dir, config, pretrained=False, preprocessing=pre, split=split).fit()
    bundle = ModelBundle.load(run_dir / "best.pt")
    valid = split[1]
    present = {v: k for k, v in bundle.label_dict.items()}["present"]
    return {
        "bundle": bundle,
        "files": [str(f) for f in valid["filename"]],
        "offsets": [0.0] * len(valid),
        "y": (valid[CODE_COLUMN].to_numpy() == present).astype(int)[:, None],
        "columns": [present],
        "n_train": len(split[0]),
        "train_seconds": time.perf_counter() - t0,
        "epochs": epochs,
    }


def train_gy6or6(tmp: Path, epochs: int) -> dict:
    """gy6or6's windows and the CNN of ``embeddings_vs_cnn.py``'s gy6or6 run (last epoch)."""
    table, split, classes = _gy6or6_split()
    config, pre = gy6or6_cnn_settings(epochs)
    run_dir = tmp / "gy6or6" / "run"
    t0 = time.perf_counter()
    new_trainer(table, run_dir, config, pretrained=False, preprocessing=pre, split=split).fit()
    bundle = ModelBundle.load(run_dir / "last.pt")  # no epoch picked on the validation windows
    valid = split[1]
    return {
        "bundle": bundle,
        "files": [str(f) for f in valid["file"]],
        "offsets": [float(s) for s in valid["start_time"]],
        "y": valid[classes].to_numpy().astype(int),
        "columns": [bundle.class_names.index(c) for c in classes],
        "n_train": len(split[0]),
        "train_seconds": time.perf_counter() - t0,
        "epochs": epochs,
    }


# --------------------------------------------------------------------------- scoring
def _prepared(bundle, precision: str, files: list[str]):
    """The bundle prepared for ``precision``, int8 calibrated as ``predict`` calibrates it."""
    if precision != "int8":
        return prepare_model(bundle, "cpu", precision), None
    unique = list(dict.fromkeys(files))  # table order, each recording once
    cal = int8_calibration(prepare_model(bundle, "cpu", "fp32"), bundle.preprocessing, unique)
    return prepare_model(bundle, "cpu", "int8", cal.observers), cal


def score_and_time(bundle, images: list, files: list[str], repeats: int) -> dict:
    """Scores and per-window ms of every precision, one torch thread."""
    out = {}
    for precision in PRECISIONS:
        prepared, cal = _prepared(bundle, precision, files)
        score_images(bundle, images[:BATCH], BATCH, prepared=prepared)  # warm-up
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            scores = score_images(bundle, images, BATCH, prepared=prepared)
            best = min(best, time.perf_counter() - t0)
        out[precision] = {
            "scores": scores,
            "ms_per_window": 1000.0 * best / len(images),
            "calibration": cal.describe() if cal else None,
        }
    return out


def _ap(y: np.ndarray, s: np.ndarray) -> float:
    """Mean over the columns of the AP (columns without a positive are left out)."""
    aps = [average_precision_score(y[:, j], s[:, j]) for j in range(y.shape[1]) if y[:, j].any()]
    return float(np.mean(aps)) if aps else float("nan")


def figures(data: dict, scored: dict, seed: int) -> dict:
    """The table's figures of one data set."""
    y, cols = data["y"], data["columns"]
    multi = y.shape[1] > 1  # gy6or6's one column per class; the clips' one 'present' column
    shuffled = y[np.random.default_rng(seed).permutation(len(y))]
    ref = scored["fp32"]["scores"]
    rows = {}
    for p in PRECISIONS:
        s = scored[p]["scores"]
        picked = s[:, cols]
        if multi:
            same = np.all((s >= 0.5) == (ref >= 0.5), axis=1)
        else:
            same = s.argmax(1) == ref.argmax(1)
        rows[p] = {
            "ap": _ap(y, picked),
            "ap_shuffled": _ap(shuffled, picked),
            "f1_at_0.5": float(
                f1_score(y, (picked >= 0.5).astype(int), average="macro", zero_division=0)
                if multi
                else f1_score(y[:, 0], picked[:, 0] >= 0.5, zero_division=0)
            ),
            "max_abs_diff": float(np.abs(s - ref).max()),
            "same_class": float(np.mean(same)),
            "ms_per_window": scored[p]["ms_per_window"],
            "speed_vs_bf16": scored["bf16"]["ms_per_window"] / scored[p]["ms_per_window"],
            "calibration": scored[p]["calibration"],
        }
    return {
        "chance_ap": float(np.mean([y[:, j].mean() for j in range(y.shape[1])])),
        "precisions": rows,
    }


def run_set(name: str, data: dict, args) -> dict:
    """Score one data set's validation windows at every precision; print and return figures."""
    bundle = data["bundle"]
    pre = bundle.preprocessing
    images = [
        model_image(pre.image(pre.load_clip(f, o)), pre.image_shape)
        for f, o in zip(data["files"], data["offsets"])
    ]
    scored = score_and_time(bundle, images, data["files"], args.repeats)
    result = figures(data, scored, args.seed)
    result.update(
        data=name,
        n_train=data["n_train"],
        n_valid=len(images),
        epochs=data["epochs"],
        train_seconds=round(data["train_seconds"], 1),
        image_shape=list(pre.image_shape),
    )
    if name != "gy6or6":  # clips: predict() itself, to show this pass is predict's int8
        via = predict(bundle, data["files"], precision="int8")
        got = via[bundle.class_names].to_numpy()
        result["predict_vs_pass_max_abs_diff"] = float(np.abs(got - scored["int8"]["scores"]).max())
    print_table(result)
    return result


def print_table(r: dict) -> None:
    what = "macro AP a-k" if r["data"] == "gy6or6" else "'present' AP"
    print(
        f"\n{r['data']}: {r['n_train']} train + {r['n_valid']} validation windows, "
        f"{r['image_shape'][0]}x{r['image_shape'][1]}, {r['epochs']} epochs "
        f"({r['train_seconds']:.0f} s); AP = {what}; 1 torch thread"
    )
    head = (
        f"{'precision':<9} {'valid AP':>8} {'AP shuf':>8} {'F1@0.5':>7} {'max|d|':>8} "
        f"{'same cls':>8} {'ms/win':>7} {'vs bf16':>7}"
    )
    print(head)
    print("-" * len(head))
    for p, f in r["precisions"].items():
        print(
            f"{p:<9} {f['ap']:>8.3f} {f['ap_shuffled']:>8.3f} {f['f1_at_0.5']:>7.3f} "
            f"{f['max_abs_diff']:>8.4f} {f['same_class']:>8.3f} {f['ms_per_window']:>7.2f} "
            f"{f['speed_vs_bf16']:>6.2f}x"
        )
    cal = r["precisions"]["int8"]["calibration"]
    extra = ""
    if "predict_vs_pass_max_abs_diff" in r:
        d = r["predict_vs_pass_max_abs_diff"]
        extra = f"; predict(precision='int8') vs this pass: max|d| {d:.2g}"
    print(
        f"chance AP (positive rate) {r['chance_ap']:.3f}; int8 calibration: {cal['windows']} "
        f"windows from {len(cal['files'])} files (max|d| there {cal['max_abs_diff']:.4f}){extra}"
    )


# ------------------------------------------------------------------------------ main
def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20 clips, 1 epoch, no gy6or6")
    ap.add_argument("--no-gy6or6", action="store_true", help="the built-in clips only")
    ap.add_argument("--epochs", type=int, help="CNN epochs (default 5; gy6or6 4; --quick 1)")
    ap.add_argument("--repeats", type=int, default=3, help="timed passes (the best is kept)")
    ap.add_argument("--seed", type=int, default=0, help="generated clips and label permutation")
    ap.add_argument("--out", default=str(HERE / "results" / "int8_agreement.json"))
    args = ap.parse_args(argv)
    os.environ.setdefault("TQDM_DISABLE", "1")
    from real_sound_learning import GY6OR6 as GY6OR6_DIR

    size = "smoke" if args.quick else "tutorial"
    with_gy6or6 = not (args.quick or args.no_gy6or6)
    if with_gy6or6 and not GY6OR6_DIR.is_dir():
        print(f"gy6or6 skipped: not found at {GY6OR6_DIR} (set WOODCOCK_REAL_LABELED)")
        with_gy6or6 = False
    t_start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="woodcock-int8-bench-"))
    results = []
    try:
        epochs = args.epochs or (1 if args.quick else TUTORIAL["epochs"])
        print(f"[{size}] data and training ({epochs} epochs) ...", flush=True)
        data = train_tutorial(tmp, size, epochs, args.seed)
        torch.set_num_threads(1)  # scoring figures on one thread; training used the default
        results.append(run_set(size, data, args))
        if with_gy6or6:
            torch.set_num_threads(os.cpu_count() or 1)
            epochs = args.epochs or GY6OR6["epochs"]
            print(f"\n[gy6or6] windows and training ({epochs} epochs) ...", flush=True)
            data = train_gy6or6(tmp, epochs)
            torch.set_num_threads(1)
            results.append(run_set("gy6or6", data, args))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    total = time.perf_counter() - t_start
    print(f"\n{total:.0f} s in all")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": shlex.join([sys.executable, *sys.argv]),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "quantized_engine": torch.backends.quantized.engine,
            "load_average": os.getloadavg(),
        },
        "settings": {**vars(args), "tutorial": TUTORIAL, "gy6or6": GY6OR6, "batch": BATCH},
        "seconds": total,
        "results": results,
    }
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")
    return record


if __name__ == "__main__":
    main()
