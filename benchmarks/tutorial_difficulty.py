"""Does the tutorial's default run leave something to teach? Run it for several seeds and see.

Runs the whole notebook chain (``python -m woodcock_widgets tutorial``, the default preset:
300 clips, 128x128 images, 5 epochs from random weights) once per seed, then reads the run
folder: ``training/history.csv`` (F1 per epoch) and ``valid_predictions.csv`` (notebook 05's
scores of the validation clips with the model it evaluates, ``training/best.pt``). For each
seed it prints the validation F1 per epoch, the confusion matrix at threshold 0.5, the share
of validation scores strictly between 0.05 and 0.95, what the misclassified clips really hold
(from the ``field`` set's answer key), and checks issue 16's targets:

* validation F1 between 0.80 and 0.97,
* at least one clip in each off-diagonal cell of the confusion matrix,
* at least a fifth of the validation scores strictly between 0.05 and 0.95.

Usage::

    .venv/bin/python benchmarks/tutorial_difficulty.py                 # seeds 0 1 2, field
    .venv/bin/python benchmarks/tutorial_difficulty.py --seeds 4 --difficulty easy
    .venv/bin/python benchmarks/tutorial_difficulty.py --param epochs 8 --out result.json

Exits with 1 when a seed misses a target.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
F1_RANGE = (0.80, 0.97)
MID = (0.05, 0.95)
MID_SHARE = 0.2


def run_chain(run_dir: Path, seed: int, difficulty: str, params: list[list[str]]) -> float:
    """Run the tutorial into ``run_dir``; return the seconds it took."""
    cmd = [sys.executable, "-m", "woodcock_widgets", "tutorial", "--run-dir", str(run_dir)]
    for name, value in [["seed", str(seed)], ["difficulty", difficulty], *params]:
        cmd += ["-p", name, value]
    env = {**os.environ, "WOODCOCK_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"the tutorial failed for seed {seed} (exit {done.returncode})")
    return time.perf_counter() - start


def _what(row: pd.Series) -> str:
    """A short description of a clip from the answer key."""
    if bool(row.get("label_is_wrong")):
        return f"wrong label (really {row['true_sound_type']})"
    parts = []
    if pd.notna(row.get("song_snr_db")):
        parts.append(f"song at {row['song_snr_db']:+.0f} dB")
        if bool(row.get("song_cut_by_edge")):
            parts.append("cut by an edge")
    if bool(row.get("nighthawk")):
        parts.append("nighthawk")
    if not parts:
        parts.append("call note only" if row.get("true_sound_type") == "call" else "no woodcock")
    return ", ".join(parts) + f" [{row.get('sounds', '?')}]"


def measure(run_dir: Path) -> dict:
    """The figures of one finished run folder."""
    history = pd.read_csv(run_dir / "training" / "history.csv")
    valid = pd.read_csv(run_dir / "valid_predictions.csv")
    classes = [c[len("score_") :] for c in valid.columns if c.startswith("score_")]
    positive = next(c for c in classes if c.endswith("present"))
    index = {c: i for i, c in enumerate(classes)}
    confusion = np.zeros((len(classes), len(classes)), dtype=int)
    for t, p in zip(valid["true"], valid["predicted"]):
        confusion[index[t], index[p]] += 1
    tp = np.diag(confusion).astype(float)
    precision = np.divide(tp, confusion.sum(0), out=np.zeros_like(tp), where=confusion.sum(0) > 0)
    recall = np.divide(tp, confusion.sum(1), out=np.zeros_like(tp), where=confusion.sum(1) > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    scores = valid[f"score_{positive}"].to_numpy()
    mid = float(np.mean((scores > MID[0]) & (scores < MID[1])))
    mistakes = []
    key_path = run_dir / "data" / "woodcock_answer_key.csv"
    if key_path.is_file():
        key = pd.read_csv(key_path).set_index("filename")
        for _, row in valid[valid["true"] != valid["predicted"]].iterrows():
            name = Path(row["filename"]).name
            what = _what(key.loc[name]) if name in key.index else "?"
            score = row[f"score_{positive}"]
            mistakes.append(f"{row['true']} -> {row['predicted']} ({score:.3f}): {what}")
    off = confusion[~np.eye(len(classes), dtype=bool)]
    result = {
        "classes": classes,
        "train_f1": history["train_f1"].round(3).tolist(),
        "valid_f1": history["valid_f1"].round(3).tolist(),
        "f1": round(float(f1.mean()), 3),
        "confusion": confusion.tolist(),
        "mid_share": round(mid, 3),
        "mistakes": mistakes,
    }
    result["checks"] = {
        "f1_in_range": F1_RANGE[0] <= result["f1"] <= F1_RANGE[1],
        "every_error_cell": bool((off >= 1).all()),
        "mid_scores": mid >= MID_SHARE,
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--difficulty", default="field", choices=["field", "easy"])
    parser.add_argument("--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    parser.add_argument("--work-dir", type=Path, help="keep the run folders here")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args(argv)

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="woodcock-difficulty-"))
    results = {}
    for seed in args.seeds:
        run_dir = work / f"{args.difficulty}-seed{seed}"
        seconds = run_chain(run_dir, seed, args.difficulty, args.param)
        r = measure(run_dir)
        r["seconds"] = round(seconds, 1)
        results[seed] = r
        (tn, fp), (fn, tp) = r["confusion"]
        print(f"seed {seed} ({args.difficulty}, {seconds:.0f} s): validation F1 {r['f1']:.3f}")
        print(f"  F1 per epoch: train {r['train_f1']}  valid {r['valid_f1']}")
        print(f"  confusion (rows true, columns predicted; {r['classes'][0]} first):")
        print(f"    [[{tn:3d} {fp:3d}]\n     [{fn:3d} {tp:3d}]]")
        print(f"  validation scores strictly between 0.05 and 0.95: {r['mid_share']:.0%}")
        for line in r["mistakes"]:
            print(f"    {line}")
        print(
            "  targets: "
            + ", ".join(f"{k} {'ok' if v else 'MISSED'}" for k, v in r["checks"].items())
        )
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"run folders in {work}")
    return 0 if all(all(r["checks"].values()) for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
