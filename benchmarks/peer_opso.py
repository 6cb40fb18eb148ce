"""The reference side: OpenSoundscape 0.13.2, run with ``.venv-peer/bin/python``.

Started by ``benchmarks/bench.py`` as ``peer_opso.py serve``; answers the same task names as
``ours.py`` on the same files, with OpenSoundscape's own defaults except where a figure
requires otherwise (no augmentation, random initial weights, the batch size, the input
shape and the thread count).
"""

from __future__ import annotations

import inspect
import math
import os

import common  # the script's folder is first on sys.path

SAMPLE_RATE = 22050
CLIP_SECONDS = 2.0
NATURAL_SHAPE = [1, 257, 171]  # what OpenSoundscape's preprocessor gives without resizing


def _model(classes: list[str], shape: list[int], seed: int):
    import torch
    from opensoundscape import CNN
    from opensoundscape.ml import cnn_architectures

    channels, height, width = shape
    torch.manual_seed(seed)
    arch = cnn_architectures.resnet18(len(classes), weights=None, num_channels=channels)
    size = {} if list(shape) == NATURAL_SHAPE else {"height": height, "width": width}
    return CNN(
        arch,
        classes=list(classes),
        sample_duration=CLIP_SECONDS,
        sample_rate=SAMPLE_RATE,
        single_target=True,
        channels=channels,
        device="cpu",
        **size,
    )


def setup(threads: int) -> dict:
    """Fix the thread count and report versions."""
    import opensoundscape
    import torch
    from opensoundscape.ml.base_model import BaseModule

    common.set_threads(threads)
    step = inspect.getsource(BaseModule.training_step)
    return {
        "opensoundscape": opensoundscape.__version__,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        # its training step autocasts (bf16 on cpu) whatever use_amp says; inference is fp32
        "training_step_autocasts": "torch.autocast" in step,
    }


def preprocess(files: list[str], shape: list[int]) -> dict:
    """Audio files to model-ready tensors with the preprocessor, augmentation bypassed."""
    from opensoundscape.ml.datasets import AudioFileDataset

    model = _model(["absent", "present"], shape, 0)
    ds = AudioFileDataset(files, model.preprocessor, bypass_augmentations=True)
    ds[0]  # warm-up: imports and first-call costs are not preprocessing
    with common.Clock() as c:
        out = [ds[i].data for i in range(len(ds))]
    return {
        "clips": len(out),
        "seconds": c.seconds,
        "clips_per_s": len(out) / c.seconds,
        "shape": list(out[0].shape),
    }


def _one_hot(csv: str, classes: list[str]):
    import pandas as pd

    df = pd.read_csv(csv)
    out = pd.DataFrame(index=pd.Index(df["filename"], name="file"))
    for code, name in enumerate(classes):
        out[name] = (df["code"].to_numpy() == code).astype(int)
    return out


def train(
    train_csv: str,
    valid_csv: str,
    classes: list[str],
    shape: list[int],
    epochs: int,
    batch_size: int,
    run_dir: str,
    seed: int = 0,
) -> dict:
    """``CNN.train`` for the steps of ``epochs`` epochs, validating once per epoch."""
    import numpy as np
    from sklearn.metrics import f1_score

    train_df, valid_df = _one_hot(train_csv, classes), _one_hot(valid_csv, classes)
    steps_per_epoch = math.ceil(len(train_df) / batch_size)
    os.makedirs(run_dir, exist_ok=True)
    with common.Clock() as c:
        model = _model(classes, shape, seed)
        model.train(
            train_df,
            valid_df,
            steps=epochs * steps_per_epoch,
            batch_size=batch_size,
            num_workers=0,
            save_path=run_dir,
            log_interval=steps_per_epoch,
            validation_interval=steps_per_epoch,
            invalid_samples_log=None,
            progress_bar=False,
            bypass_augmentations=True,  # no augmentation on either side
        )
    scores = model.predict(
        list(valid_df.index), batch_size=batch_size, num_workers=0, progress_bar=False
    )
    pred = np.argmax(scores[classes].to_numpy(), axis=1)
    truth = np.argmax(valid_df[classes].to_numpy(), axis=1)
    return {
        "seconds": c.seconds,
        "cpu_seconds": c.cpu_seconds,
        "steps": epochs * steps_per_epoch,
        "n_train": len(train_df),
        "n_valid": len(valid_df),
        "valid_f1": float(f1_score(truth, pred, average="macro", zero_division=0)),
        "run_dir_bytes": common.folder_bytes(run_dir),
        "run_dir_files": sorted(os.listdir(run_dir)),
        "weights_bytes": common.state_dict_bytes(model.network),
    }


def predict(recording: str, shape: list[int], batch_size: int, repeats: int = 2) -> dict:
    """``CNN.predict`` on one long recording cut in back-to-back clips."""
    model = _model(["absent", "present"], shape, 0)
    kw = dict(batch_size=batch_size, num_workers=0, progress_bar=False)
    model.predict([recording], **kw)  # warm-up
    best, cpu, n = math.inf, math.inf, 0
    for _ in range(repeats):
        with common.Clock() as c:
            scores = model.predict([recording], **kw)
        if c.seconds < best:
            best, cpu, n = c.seconds, c.cpu_seconds, len(scores)
    return {"clips": n, "seconds": best, "cpu_seconds": cpu, "clips_per_s": n / best}


TASKS = {"setup": setup, "preprocess": preprocess, "train": train, "predict": predict}

if __name__ == "__main__":
    common.serve(TASKS)
