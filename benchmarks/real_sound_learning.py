"""Learning on real sound: the multi-label CNN on gy6or6 against chance and shuffled labels.

Usage::

    .venv/bin/python benchmarks/real_sound_learning.py [--window 0.5] [--epochs 4]
        [--image-size 64] [--lr 0.01] [--seed 0] [--threads 2] [--json PATH]

Data: ``../shared/real_labeled/bengalese_finch_gy6or6`` (``WOODCOCK_REAL_LABELED`` moves
it): 44 song bouts of one Bengalese finch (6.9 min, 32 kHz) with every syllable boxed in a
Raven table. The tables are read with :func:`~woodcock_widgets.tables.annotations.read_raven`,
matched to the audio (:func:`~woodcock_widgets.tables.matching.match_audio`) and cut into
windows (:func:`~woodcock_widgets.tables.windows.make_windows`) labeled for the syllable
classes ``a``–``k``; a window holds a class when at least half of one of its syllables lies
in it (``min_fraction=0.5``).

**Why 0.5 s windows.** The syllables last 30–130 ms (median 62 ms) and the song is
stereotyped: a 2 s window (the tutorial's clip) holds nearly every syllable type, so every
class is positive in most windows and there is little left to tell apart. A 0.5 s window holds
about three syllables: long enough that a syllable cut by the window edge is the exception,
short enough that each class is positive in only about a tenth to two fifths of the windows
(the ``positive rate`` column). It is a multi-label task — most windows hold two or three
classes, a fifth hold none (gaps between bouts) — which is what one sigmoid per class is for.
0.5 s is also a common detector frame for songbird syllables.

Protocol: one split by recording (:func:`~woodcock_widgets.tables.splits.split_multilabel`,
``group_column="file"``: no recording has windows on both sides). Two trainings with
identical settings, seed and validation windows (ResNet-18, random init, 64×64 spectrogram
images, SGD, ``--epochs`` epochs):

* **real**: the annotations;
* **shuffled**: the same training windows with their label rows permuted among themselves
  (each class keeps its positive rate and co-occurrences; the sound no longer predicts them).

The per-class validation AP of each is set against the class's positive rate in validation,
which is the AP of a random ranking (``chance``). The figures are those of the **last** epoch
(no epoch is picked on the validation windows the figures are measured on). Macro AP is the
mean over the classes. The real run must be well above chance, the shuffled one near it.

A third column, ``AP loudness``, ranks the validation windows by their RMS level alone, with
no model and no label: it is what knowing *that* a bird sings, but not *which* syllable,
is worth. The syllables are not spread evenly over the windows (a fifth of the windows are
silent, and busy windows hold several classes at once), so such a class-blind ranking already
beats the positive rate. A model trained on shuffled labels learns no syllable, but its scores
still follow how much song a window holds; so the shuffled run lands between the positive
rate and the loudness ranking, not on the positive rate, while the real run is far above all
three. What keeps the shuffled run off the positive rate is this class-blind structure of the
data, not anything learned about the classes.

Result (4 epochs, seed 0, 2 shared cores; ``benchmarks/results/real_sound_learning.json``):
macro AP real 0.987, shuffled 0.378, chance 0.244, loudness 0.466: real/chance 4.04x,
shuffled/chance 1.54x, shuffled/loudness 0.81x, real/shuffled 2.61x; 229 s in all.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import soundfile as sf  # noqa: E402
from sklearn.metrics import average_precision_score  # noqa: E402

from woodcock_widgets.audio.preprocessing import Preprocessing  # noqa: E402
from woodcock_widgets.ml.training_config import TrainingConfig  # noqa: E402
from woodcock_widgets.tables.annotations import read_raven  # noqa: E402
from woodcock_widgets.tables.matching import match_audio  # noqa: E402
from woodcock_widgets.tables.splits import split_multilabel  # noqa: E402
from woodcock_widgets.tables.windows import make_windows  # noqa: E402
from woodcock_widgets.workflow.pipeline import new_trainer, prepare_windows  # noqa: E402

REAL_LABELED = Path(
    os.environ.get("WOODCOCK_REAL_LABELED", ROOT.parent / "shared" / "real_labeled")
)
GY6OR6 = REAL_LABELED / "bengalese_finch_gy6or6"
CLASSES = list("abcdefghijk")


def window_table(window: float) -> pd.DataFrame:
    """gy6or6's windows of ``window`` s (no overlap), one 0/1 column per class a–k."""
    events = read_raven(GY6OR6 / "raven", label_column="Annotation")
    report = match_audio(events, GY6OR6 / "wav")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return make_windows(
            report, report.events, clip_seconds=window, min_fraction=0.5, classes=CLASSES
        )


def train(table, split, run_dir: Path, args) -> tuple[pd.DataFrame, float, int]:
    """Train; return the last epoch's per-class validation metrics, seconds, epochs run."""
    config = TrainingConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        seed=args.seed,
        log_every=args.epochs,
        num_threads=args.threads,
        precision="fp32",
    )
    pre = Preprocessing(
        sample_rate=args.sample_rate,
        clip_seconds=args.window,
        bandpass=(500.0, 10_000.0),  # the tables' nominal band
        image_shape=(args.image_size, args.image_size),
    )
    t0 = time.perf_counter()
    trainer = new_trainer(table, run_dir, config, pretrained=False, preprocessing=pre, split=split)
    trainer.fit()
    assert trainer.status == "finished", trainer.error
    return trainer.valid_metrics.copy(), time.perf_counter() - t0, len(trainer.history)


def loudness(valid_df: pd.DataFrame, window: float) -> np.ndarray:
    """The RMS level of each validation window (the class-blind ranking)."""
    out = []
    for r in valid_df.itertuples():
        info = sf.info(r.file)
        start = int(round(r.start_time * info.samplerate))
        x, _ = sf.read(r.file, start=start, frames=int(round(window * info.samplerate)))
        out.append(float(np.sqrt(np.mean(np.square(x, dtype=np.float64))) if len(x) else 0.0))
    return np.asarray(out)


def shuffled(train_df: pd.DataFrame, seed: int) -> pd.DataFrame:
    """``train_df`` with its label rows permuted among the windows (rates kept)."""
    out = train_df.copy()
    order = np.random.default_rng(seed + 1).permutation(len(out))
    out[CLASSES] = out[CLASSES].to_numpy()[order]
    out["window_classes"] = out["window_classes"].to_numpy()[order]
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--window", type=float, default=0.5, help="window length and step (s)")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--sample-rate", type=int, default=32000, help="gy6or6's own rate")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)
    if not GY6OR6.is_dir():
        raise SystemExit(f"gy6or6 not found at {GY6OR6} (set WOODCOCK_REAL_LABELED)")
    t_start = time.perf_counter()
    windows = window_table(args.window)
    table = prepare_windows(windows, CLASSES)
    split = split_multilabel(table.df, CLASSES, 0.8, seed=args.seed, group_column="file")
    train_df, valid_df = split.train, split.valid
    assert not set(train_df["file"]) & set(valid_df["file"])
    print(
        f"gy6or6: {len(windows)} windows of {args.window:g} s from {windows['file'].nunique()} "
        f"recordings; train {len(train_df)} windows ({train_df['file'].nunique()} recordings), "
        f"validation {len(valid_df)} ({valid_df['file'].nunique()} recordings); "
        f"multi-label={table.multi_label}, {table.targets().sum(axis=1).mean():.2f} classes "
        f"per window, {(table.targets().sum(axis=1) == 0).mean():.0%} empty",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        real, t_real, n_real = train(table, (train_df, valid_df), Path(tmp) / "real", args)
        print(f"real labels: {n_real} epochs in {t_real:.0f} s", flush=True)
        shuf_split = (shuffled(train_df, args.seed), valid_df)
        shuf, t_shuf, _ = train(table, shuf_split, Path(tmp) / "shuffled", args)
        print(f"shuffled labels: {args.epochs} epochs in {t_shuf:.0f} s", flush=True)
    level = loudness(valid_df, args.window)
    rows = pd.DataFrame(
        {
            "valid positives": real["positives"].astype(int),
            "chance (positive rate)": real["positive_rate"],
            "AP loudness": [average_precision_score(valid_df[c], level) for c in CLASSES],
            "AP real": real["ap"],
            "AP shuffled": shuf["ap"],
        }
    )
    rows["real / chance"] = rows["AP real"] / rows["chance (positive rate)"]
    rows["shuffled / chance"] = rows["AP shuffled"] / rows["chance (positive rate)"]
    macro = {
        "chance": float(rows["chance (positive rate)"].mean()),
        "loudness": float(rows["AP loudness"].mean()),
        "real": float(rows["AP real"].mean()),
        "shuffled": float(rows["AP shuffled"].mean()),
    }
    total = time.perf_counter() - t_start
    print()
    print(rows.to_string(float_format=lambda v: f"{v:.3f}"))
    print()
    print(
        f"macro AP: real {macro['real']:.3f}, shuffled {macro['shuffled']:.3f}, chance "
        f"{macro['chance']:.3f}, loudness {macro['loudness']:.3f}; real/chance "
        f"{macro['real'] / macro['chance']:.2f}x, shuffled/chance "
        f"{macro['shuffled'] / macro['chance']:.2f}x, shuffled/loudness "
        f"{macro['shuffled'] / macro['loudness']:.2f}x, real/shuffled "
        f"{macro['real'] / macro['shuffled']:.2f}x"
    )
    print(
        f"time: {total:.0f} s in all (real run {t_real:.0f} s, shuffled run {t_shuf:.0f} s, "
        f"{args.threads} thread(s))"
    )
    result = {
        "command": shlex.join([sys.executable, *sys.argv]),
        "settings": vars(args) | {"json": str(args.json) if args.json else None},
        "windows": len(windows),
        "train_windows": len(train_df),
        "valid_windows": len(valid_df),
        "macro_ap": macro,
        "per_class": rows.reset_index(names="class").to_dict(orient="records"),
        "seconds": {"total": total, "real": t_real, "shuffled": t_shuf},
    }
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=float))
    return result


if __name__ == "__main__":
    main()
