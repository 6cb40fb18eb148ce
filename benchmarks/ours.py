"""Our side of every figure, run with ``.venv/bin/python``.

``ours.py serve`` answers JSON task lines (see ``common.serve``); ``ours.py rss-index N``
measures, in this fresh process, the memory that a dataset index of N clips holds.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import statistics
import sys
import time

import common  # the script's folder is first on sys.path

MAPPING = {"song": "present", "call": "absent", "na": "absent"}


def _pre(shape: list[int]):
    from woodcock_widgets.audio.preprocessing import Preprocessing

    channels, height, width = shape
    return Preprocessing(image_shape=(height, width), channels=channels)


def _table_and_split(labels_csv: str, train_csv: str, valid_csv: str):
    import pandas as pd

    from woodcock_widgets.workflow.pipeline import prepare_labels

    table = prepare_labels(labels_csv, "sound_type", MAPPING, new_column="woodcock_song")
    df = table.df
    train_files = set(pd.read_csv(train_csv)["filename"])
    valid_files = set(pd.read_csv(valid_csv)["filename"])
    return table, (df[df["filename"].isin(train_files)], df[df["filename"].isin(valid_files)])


def _new_trainer(table, split, pre, run_dir, **config):
    """A new run on the bench's split: random initial weights, ``config`` as TrainingConfig."""
    from woodcock_widgets.ml.training import TrainingConfig
    from woodcock_widgets.workflow.pipeline import new_trainer

    cfg = TrainingConfig(**config)
    return new_trainer(table, run_dir, cfg, pretrained=False, preprocessing=pre, split=split)


def setup(threads: int) -> dict:
    """Fix the thread count and report what the trainer will pick on this machine."""
    import torch
    import torchvision.models  # noqa: F401  imported before the clocks, as the peer's setup does

    from woodcock_widgets.ml.training import pick_device, pick_precision

    common.set_threads(threads)
    device = pick_device("auto")
    dtype = pick_precision(device, "auto")
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": str(device),
        "autocast": str(dtype).replace("torch.", "") if dtype else "fp32",
    }


def preprocess(files: list[str], shape: list[int]) -> dict:
    """Audio file → model-ready tensor with :meth:`Preprocessing.file_to_tensor`."""
    pre = _pre(shape)
    pre.file_to_tensor(files[0])  # warm-up: imports and first-call costs
    with common.Clock() as c:
        out = [pre.file_to_tensor(f) for f in files]
    return {
        "clips": len(out),
        "seconds": c.seconds,
        "clips_per_s": len(out) / c.seconds,
        "shape": list(out[0].shape),
    }


def train(
    labels_csv: str,
    train_csv: str,
    valid_csv: str,
    shape: list[int],
    epochs: int,
    batch_size: int,
    run_dir: str,
    seed: int = 0,
    precision: str = "auto",
) -> dict:
    """A new run with :func:`new_trainer` and :meth:`Trainer.fit` (the tutorial's defaults)."""
    import os

    table, split = _table_and_split(labels_csv, train_csv, valid_csv)
    pre = _pre(shape)
    with common.Clock() as c:
        trainer = _new_trainer(
            table,
            split,
            pre,
            run_dir,
            epochs=epochs,
            batch_size=batch_size,
            seed=seed,
            precision=precision,
        )
        history = trainer.fit()
    f1 = history.column("valid_f1")
    return {
        "seconds": c.seconds,
        "cpu_seconds": c.cpu_seconds,
        "n_train": len(split[0]),
        "n_valid": len(split[1]),
        "valid_f1": float(max(f1)),
        "valid_f1_per_epoch": f1,
        "epoch_seconds": history.column("seconds"),
        "autocast": str(trainer.autocast_dtype).replace("torch.", "")
        if trainer.autocast_dtype
        else "fp32",
        "channels_last": trainer.channels_last,
        "run_dir_bytes": common.folder_bytes(run_dir),
        "run_dir_files": sorted(os.listdir(run_dir)),
        "weights_bytes": common.state_dict_bytes(trainer.model),
    }


class _BareLoop:
    """A bare torch loop over batches already in memory: same model, precision and layout.

    Per epoch it does the work :class:`Trainer` does (training steps, BatchNorm
    re-estimation from the first batches under autocast, a validation pass) with none of
    its pipeline: no decoding, no batch assembly, no prefetch thread, no bookkeeping.
    """

    def __init__(self, trainer, seed: int) -> None:
        import torch
        from torch import nn
        from torch.nn.modules.batchnorm import _BatchNorm

        from woodcock_widgets.ml.models import build_model

        self.torch = torch
        self.trainer = trainer
        self.seed = seed
        self.cfg = trainer.config
        self.fmt = torch.channels_last if trainer.channels_last else torch.contiguous_format
        self.dtype = trainer.autocast_dtype
        torch.manual_seed(seed)
        self.model = build_model(
            trainer.arch,
            len(trainer.label_dict),
            pretrained=False,
            in_channels=trainer.train_dataset.preprocessing.channels,
        )
        self.model.to(memory_format=self.fmt)
        self.opt = torch.optim.SGD(
            self.model.parameters(), lr=self.cfg.learning_rate, momentum=self.cfg.momentum
        )
        self.loss_fn = nn.CrossEntropyLoss()
        self.bns = [m for m in self.model.modules() if isinstance(m, _BatchNorm)]
        self.batches: list = []
        self.valid: list = []
        self.warm = False

    def _stack(self, ds, idx):
        x = self.torch.stack([ds.image(int(i)) for i in idx])
        return x.contiguous(memory_format=self.fmt), self.torch.from_numpy(ds.labels[idx])

    def _autocast(self):
        return self.torch.autocast("cpu", dtype=self.dtype, enabled=self.dtype is not None)

    def prepare(self, epoch: int) -> None:
        """Build the epoch's batches in memory (not timed), in the trainer's order."""
        from woodcock_widgets.ml.training import _batches

        tr, va = self.trainer.train_dataset, self.trainer.valid_dataset
        gen = self.torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        self.batches = [self._stack(tr, b) for b in _batches(len(tr), self.cfg.batch_size, gen)]
        if not self.valid:
            n = self.cfg.batch_size * 2
            self.valid = [self._stack(va, b) for b in _batches(len(va), n, None)]
        if not self.warm:  # first-call kernel selection, not timed
            self.model.train()
            self._train_step(*self.batches[0])
            self.warm = True

    def _train_step(self, x, y) -> None:
        with self._autocast():
            out = self.model(x)
        loss = self.loss_fn(out.float(), y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()

    def step(self, k: int) -> float:
        """Seconds of training step ``k`` of the prepared epoch."""
        self.model.train()
        t = time.perf_counter()
        self._train_step(*self.batches[k])
        return time.perf_counter() - t

    def finish(self) -> float:
        """Seconds of the epoch's BatchNorm re-estimation and validation pass."""
        torch = self.torch
        t = time.perf_counter()
        with torch.no_grad(), self._autocast():
            for m in self.bns:
                m.reset_running_stats()
                m.momentum = None
            self.model.train()
            for x, _ in self.batches[: self.cfg.bn_recalibration_batches]:
                self.model(x)
            for m in self.bns:
                m.momentum = 0.1
            self.model.eval()
            for x, _ in self.valid:
                torch.softmax(self.model(x).float(), 1).numpy()
        return time.perf_counter() - t


class _Interleave:
    """Trainer callback that runs the bare loop in turns with the trainer, step by step.

    After each trainer step it runs the same step of the bare loop, and after each trainer
    epoch the bare loop's epoch end, so both see the same load on a shared machine. The
    trainer's step time runs from the end of the previous callback to the next one.
    """

    def __init__(self, bare: _BareLoop) -> None:
        self.bare = bare
        self.t_exit = 0.0
        self.ours_steps: dict[int, list[float]] = {}
        self.bare_steps: dict[int, list[float]] = {}
        self.bare_finish: dict[int, float] = {}
        self.epoch_records: dict[int, dict] = {}

    def on_fit_start(self, trainer) -> None:
        self.bare.prepare(1)
        self.t_exit = time.perf_counter()

    def on_batch_end(self, trainer, epoch, batch, n_batches, loss) -> None:
        self.ours_steps.setdefault(epoch, []).append(time.perf_counter() - self.t_exit)
        self.bare_steps.setdefault(epoch, []).append(self.bare.step(batch - 1))
        self.t_exit = time.perf_counter()

    def on_epoch_end(self, trainer, record) -> None:
        epoch = int(record["epoch"])
        self.epoch_records[epoch] = dict(record)
        self.bare_finish[epoch] = self.bare.finish()
        if epoch < trainer.config.epochs:
            self.bare.prepare(epoch + 1)
        self.t_exit = time.perf_counter()

    def on_fit_end(self, trainer, status) -> None:
        pass


def epoch_overhead(
    labels_csv: str,
    train_csv: str,
    valid_csv: str,
    shape: list[int],
    epochs: int,
    batch_size: int,
    run_dir: str,
    seed: int = 0,
) -> dict:
    """Epochs >= 2 of :class:`Trainer` against the bare loop, taking turns step by step."""
    table, split = _table_and_split(labels_csv, train_csv, valid_csv)
    trainer = _new_trainer(
        table,
        split,
        _pre(shape),
        run_dir,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        log_every=epochs,
    )
    turns = _Interleave(_BareLoop(trainer, seed))
    trainer.callbacks.append(turns)
    trainer.fit()
    measured = range(2, epochs + 1)  # epoch 1 decodes the clips and fills the cache
    ours_train = [sum(turns.ours_steps[e]) for e in measured]
    bare_train = [sum(turns.bare_steps[e]) for e in measured]
    # the trainer's own epoch time holds the bare steps run inside its callbacks: take them out
    ours_epoch = [turns.epoch_records[e]["seconds"] - sum(turns.bare_steps[e]) for e in measured]
    bare_epoch = [b + turns.bare_finish[e] for b, e in zip(bare_train, measured)]
    return {
        "n_train": len(split[0]),
        "n_valid": len(split[1]),
        "batches_per_epoch": len(turns.ours_steps[1]),
        "epochs_measured": list(measured),
        "autocast": str(trainer.autocast_dtype).replace("torch.", "")
        if trainer.autocast_dtype
        else "fp32",
        "channels_last": trainer.channels_last,
        "ours_train_s": ours_train,
        "bare_train_s": bare_train,
        "ours_epoch_s": ours_epoch,
        "bare_epoch_s": bare_epoch,
        "ours_step_s": [turns.ours_steps[e] for e in measured],
        "bare_step_s": [turns.bare_steps[e] for e in measured],
        "train_ratio": sum(ours_train) / sum(bare_train),
        "epoch_ratio": sum(ours_epoch) / sum(bare_epoch),
        "step_ratio_median": statistics.median(
            o / b for e in measured for o, b in zip(turns.ours_steps[e], turns.bare_steps[e])
        ),
    }


def bare_train(
    labels_csv: str,
    train_csv: str,
    valid_csv: str,
    shape: list[int],
    epochs: int,
    batch_size: int,
    run_dir: str,
    seed: int = 0,
) -> dict:
    """The ceiling for the train figure: the bare loop's N epochs on tensors in memory.

    The same steps as :meth:`Trainer.fit` (model, batches, precision, layout), with every
    batch decoded and stacked before the clock starts. ``steps_s`` is the training steps
    alone, the least time any pipeline can take for them; ``finish_s`` adds what a trainer
    that validates each epoch must also do (BatchNorm re-estimation and the validation pass).
    """
    table, split = _table_and_split(labels_csv, train_csv, valid_csv)
    trainer = _new_trainer(
        table, split, _pre(shape), run_dir, epochs=epochs, batch_size=batch_size, seed=seed
    )
    bare = _BareLoop(trainer, seed)
    steps, finish = [], []
    for epoch in range(1, epochs + 1):
        bare.prepare(epoch)  # not timed
        steps.append(sum(bare.step(k) for k in range(len(bare.batches))))
        finish.append(bare.finish())
    return {
        "steps_s": sum(steps),
        "finish_s": sum(finish),
        "epoch_steps_s": steps,
        "epoch_finish_s": finish,
        "bn_recalibration_batches": trainer.config.bn_recalibration_batches,
    }


def predict(recording: str, shape: list[int], batch_size: int, repeats: int = 2) -> dict:
    """:func:`predict_recording` on one long recording cut in back-to-back clips."""
    import torch

    from woodcock_widgets.ml.bundle import ModelBundle
    from woodcock_widgets.ml.models import build_model
    from woodcock_widgets.ml.predict import predict_recording

    torch.manual_seed(0)
    model = build_model("resnet18", 2, pretrained=False, in_channels=shape[0])
    bundle = ModelBundle(model, "resnet18", {0: "absent", 1: "present"}, _pre(shape))
    predict_recording(bundle, recording, batch_size=batch_size)  # warm-up
    best, n = math.inf, 0
    for _ in range(repeats):
        with common.Clock() as c:
            scores = predict_recording(bundle, recording, batch_size=batch_size)
        best, n = min(best, c.seconds), len(scores)
    return {"clips": n, "seconds": best, "clips_per_s": n / best}


def inspector(labels_csv: str, clips: int) -> dict:
    """Python-side time to show the next clip in the inspector.

    Uses ``woodcock_widgets.widgets.SpectrogramInspector`` when it exists; otherwise the core
    path it stands on (load, spectrogram, PNG bytes, WAV bytes), reported as such.
    """
    from woodcock_widgets.workflow.pipeline import prepare_labels

    table = prepare_labels(labels_csv, "sound_type", MAPPING, new_column="woodcock_song")
    files = list(table.df["filename"])[: max(2, clips)]
    widget = _inspector_widget(table.df)
    times = []
    if widget is not None:
        step = widget
        step()  # warm-up
        for _ in range(len(files)):
            with common.Clock() as c:
                step()
            times.append(c.seconds)
        path = "SpectrogramInspector next"
    else:
        from woodcock_widgets.audio.clip import Audio
        from woodcock_widgets.audio.preprocessing import Preprocessing

        pre = Preprocessing()

        def show(f: str) -> None:
            audio = Audio.from_file(f)
            pre.spectrogram(audio).to_png_bytes()
            audio.to_wav_bytes()

        show(files[0])  # warm-up
        for f in files:
            with common.Clock() as c:
                show(f)
            times.append(c.seconds)
        path = "core path (Audio.from_file + spectrogram + PNG + WAV); widget not there yet"
    return {"path": path, "clips": len(times), "median_ms": 1000 * statistics.median(times)}


def _inspector_widget(df):
    """A no-argument callable that clicks a real SpectrogramInspector's next button."""
    try:
        from woodcock_widgets.widgets import SpectrogramInspector
    except ImportError:
        return None
    w = SpectrogramInspector(df)
    button = getattr(w, "next_button", None)
    if button is not None:
        return button.click
    if callable(getattr(w, "next", None)):
        return w.next
    raise RuntimeError("SpectrogramInspector has no next_button or next() to drive")


class _Timed:
    """Wrap a callback method and add up the seconds spent in it."""

    def __init__(self, fn) -> None:
        self.fn = fn
        self.seconds = 0.0
        self.calls = 0

    def __call__(self, *args, **kwargs):
        t = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t
            self.calls += 1


def control(
    labels_csv: str,
    train_csv: str,
    valid_csv: str,
    shape: list[int],
    epochs: int,
    batch_size: int,
    run_dir: str,
    seed: int = 0,
    rounds: int = 1,
) -> dict:
    """Training driven by :class:`TrainingControl` against a headless :class:`Trainer`.

    The widget's cost is the time its callbacks take on the training thread (progress bars,
    curves, status), measured by wrapping them; the wall times of whole runs, taken in turns,
    are reported too but swing by more than the 2 % asked on a shared machine.
    """
    from pathlib import Path

    try:
        from woodcock_widgets.widgets import TrainingControl
    except ImportError:
        return {"measured": False, "reason": "TrainingControl does not exist yet"}

    table, split = _table_and_split(labels_csv, train_csv, valid_csv)
    pre = _pre(shape)
    widget_s, headless_s, in_callbacks, calls = [], [], [], 0
    for r in range(rounds):
        for who in ("widget", "headless") if r % 2 == 0 else ("headless", "widget"):
            rd = Path(run_dir) / f"{who}_{r}"
            if who == "headless":
                with common.Clock() as c:
                    trainer = _new_trainer(
                        table, split, pre, rd, epochs=epochs, batch_size=batch_size, seed=seed
                    )
                    trainer.fit()
                headless_s.append(c.seconds)
                continue
            w = TrainingControl(
                rd,
                table,
                split=split,
                preprocessing=pre,
                epochs=epochs,
                batch_size=batch_size,
                pretrained=False,
                seed=seed,
            )
            timed = {}
            for name in ("on_fit_start", "on_batch_end", "on_epoch_end", "on_fit_end"):
                timed[name] = _Timed(getattr(w, name))
                setattr(w, name, timed[name])
            with common.Clock() as c:
                w.start()
                w.wait()
            if w.status != "finished":
                raise RuntimeError(f"TrainingControl run ended {w.status}: {w.errors.messages}")
            widget_s.append(c.seconds)
            spent = sum(t.seconds for t in timed.values())
            in_callbacks.append(spent)
            calls += sum(t.calls for t in timed.values())
    ratio = sum(widget_s) / (sum(widget_s) - sum(in_callbacks))
    return {
        "measured": True,
        "ratio": ratio,
        "method": "widget run wall time / (the same minus the seconds in its callbacks)",
        "callback_seconds": in_callbacks,
        "callback_calls": calls,
        "widget_wall_s": widget_s,
        "headless_wall_s": headless_s,
        "wall_ratio": statistics.median(widget_s) / statistics.median(headless_s),
    }


TASKS = {
    "setup": setup,
    "preprocess": preprocess,
    "train": train,
    "epoch_overhead": epoch_overhead,
    "bare_train": bare_train,
    "predict": predict,
    "inspector": inspector,
    "control": control,
}


def rss_index(n: int) -> dict:
    """RSS added by an :class:`AudioClipDataset` of ``n`` clips (the table itself freed)."""
    import numpy as np
    import pandas as pd
    import torch  # noqa: F401 - imported before the baseline, as in any training session

    from woodcock_widgets.ml.datasets import AudioClipDataset

    gc.collect()
    before = common.rss_bytes()
    rng = np.random.default_rng(0)
    root = "/home/biologist/projects/woodcock/recordings/2024"
    kinds = np.array(["song", "call", "absent"])[rng.integers(0, 3, n)]
    df = pd.DataFrame(
        {
            "filename": [
                f"{root}/{k}_{i:05d}_{i * 2654435761 % 16**8:08x}.wav" for i, k in enumerate(kinds)
            ],
            "code": (kinds == "song").astype(int),
        }
    )
    ds = AudioClipDataset(df, {0: "absent", 1: "present"}, label_column="code")
    del df
    gc.collect()
    after = common.rss_bytes()
    return {"clips": len(ds), "rss_delta_bytes": after - before}


def main(argv: list[str] | None = None) -> None:
    """``serve`` or ``rss-index N``."""
    p = argparse.ArgumentParser(description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("serve")
    r = sub.add_parser("rss-index")
    r.add_argument("clips", type=int)
    args = p.parse_args(argv)
    if args.cmd == "serve":
        common.serve(TASKS)
    else:
        print(json.dumps(rss_index(args.clips)))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
