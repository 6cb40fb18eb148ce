import json

import numpy as np
import pandas as pd
import pytest
import torch

from woodcock_widgets import train
from woodcock_widgets.errors import TrainingError
from woodcock_widgets.ml.batchnorm import recalibrate_batchnorm
from woodcock_widgets.ml.bundle import ModelBundle
from woodcock_widgets.ml.models import build_model
from woodcock_widgets.ml.runtime import pick_device, pick_precision
from woodcock_widgets.ml.trainer import Callback, Trainer
from woodcock_widgets.ml.training_config import TrainingConfig
from woodcock_widgets.tables.splits import split_train_valid
from woodcock_widgets.workflow.pipeline import make_datasets, new_trainer, resume_trainer


@pytest.fixture
def datasets(song_table, tiny_preprocessing):
    split = split_train_valid(song_table.df, "NumericLabels", 0.75, seed=0)
    return make_datasets(split, song_table.label_dict, tiny_preprocessing)


def _trainer(datasets, run_dir, callbacks=(), **cfg):
    torch.manual_seed(0)
    model = build_model("resnet18", 2, pretrained=False)
    cfg.setdefault("batch_size", 8)
    cfg.setdefault("epochs", 2)
    return Trainer(model, *datasets, run_dir, TrainingConfig(**cfg), callbacks=callbacks)


class Recorder(Callback):
    def __init__(self, stop_at=None):
        self.events = []
        self.stop_at = stop_at

    def on_fit_start(self, trainer):
        self.events.append(("start",))

    def on_batch_end(self, trainer, epoch, batch, n_batches, loss):
        self.events.append(("batch", epoch, batch, n_batches))
        if self.stop_at == (epoch, batch):
            trainer.stop()

    def on_epoch_end(self, trainer, record):
        self.events.append(("epoch", record["epoch"]))

    def on_fit_end(self, trainer, status):
        self.events.append(("end", status))


def test_run_folder_contract(trained_run, song_table):
    history = pd.read_csv(trained_run / "history.csv")
    assert list(history["epoch"]) == [1, 2]
    for col in (
        "train_loss",
        "train_accuracy",
        "valid_loss",
        "valid_accuracy",
        "valid_precision",
        "valid_recall",
        "valid_f1",
        "valid_f1_present",
        "valid_precision_absent",
        "seconds",
    ):
        assert col in history.columns, col
        assert history[col].notna().all(), col
    config = json.loads((trained_run / "config.json").read_text())
    assert config["training"]["epochs"] == 2
    assert config["arch"] == "resnet18"
    assert config["label_dict"] == {"0": "absent", "1": "present"}
    assert config["preprocessing"]["image_shape"] == [64, 64]
    assert config["class_column"] == "woodcock_song"
    for name in (
        "best.pt",
        "last.pt",
        "checkpoints/epoch-0001.pt",
        "checkpoints/epoch-0002.pt",
        "train.csv",
        "valid.csv",
    ):
        assert (trained_run / name).is_file(), name
    best = ModelBundle.load(trained_run / "best.pt")
    assert best.label_dict == song_table.label_dict
    best_epoch = int(history.index[history["valid_f1"] == history["valid_f1"].max()][-1]) + 1
    assert best.extra["epoch"] == best_epoch
    assert best.metrics["valid_f1"] == pytest.approx(history["valid_f1"].max())
    assert not list(trained_run.rglob("*.tmp"))


def test_callbacks_see_every_batch_and_epoch(datasets, tmp_path):
    rec = Recorder()
    trainer = _trainer(datasets, tmp_path / "run", epochs=2)
    trainer.callbacks.append(rec)
    trainer.fit()
    n_batches = rec.events[1][3]
    assert rec.events[0] == ("start",)
    assert rec.events[-1] == ("end", "finished")
    assert [e for e in rec.events if e[0] == "epoch"] == [("epoch", 1), ("epoch", 2)]
    assert sum(e[0] == "batch" for e in rec.events) == 2 * n_batches


def test_stop_keeps_last_finished_epoch_and_resume_matches_uninterrupted(datasets, tmp_path):
    full = _trainer(datasets, tmp_path / "full", epochs=3)
    full.fit()

    stopped = _trainer(datasets, tmp_path / "stopped", epochs=3)
    stopped.callbacks.append(Recorder(stop_at=(2, 2)))
    stopped.fit()
    assert stopped.status == "stopped"
    history = pd.read_csv(tmp_path / "stopped" / "history.csv")
    assert list(history["epoch"]) == [1]
    assert ModelBundle.load(tmp_path / "stopped" / "last.pt").extra["epoch"] == 1

    resumed = Trainer.resume(tmp_path / "stopped", *datasets)
    assert resumed.epoch == 1
    resumed.fit()
    assert resumed.status == "finished"
    history = pd.read_csv(tmp_path / "stopped" / "history.csv")
    assert list(history["epoch"]) == [1, 2, 3]
    a = ModelBundle.load(tmp_path / "full" / "last.pt").model.state_dict()
    b = ModelBundle.load(tmp_path / "stopped" / "last.pt").model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from uninterrupted"


def test_resume_with_more_epochs_through_pipeline(trained_run, tmp_path):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(trained_run, run)
    trainer = resume_trainer(run, epochs=3)
    trainer.fit()
    assert list(pd.read_csv(run / "history.csv")["epoch"]) == [1, 2, 3]
    assert (run / "checkpoints" / "epoch-0003.pt").is_file()


def test_existing_run_is_not_overwritten(trained_run, song_table, tiny_preprocessing):
    before = (trained_run / "history.csv").read_bytes()
    with pytest.raises(TrainingError, match="already holds a run"):
        new_trainer(
            song_table,
            trained_run,
            TrainingConfig(epochs=1),
            pretrained=False,
            preprocessing=tiny_preprocessing,
        )
    assert (trained_run / "history.csv").read_bytes() == before


def test_resume_without_checkpoint_is_clear(tmp_path, datasets):
    with pytest.raises(TrainingError, match="config.json"):
        Trainer.resume(tmp_path / "nothing", *datasets)


@pytest.mark.parametrize(
    "field, value",
    [
        ("epochs", 0),
        ("epochs", -1),
        ("batch_size", 0),
        ("learning_rate", 0.0),
        ("learning_rate", float("nan")),
        ("log_every", 0),
        ("precision", "fp8"),
    ],
)
def test_bad_settings_are_named(field, value):
    with pytest.raises(TrainingError, match=field.replace("_", ".")):
        TrainingConfig(**{field: value}).validate()


def test_nan_loss_stops_with_clear_message_and_keeps_last_good(datasets, tmp_path):
    trainer = _trainer(datasets, tmp_path / "run", epochs=1)
    trainer.fit()
    good = (tmp_path / "run" / "last.pt").read_bytes()
    boom = Trainer.resume(tmp_path / "run", *datasets, epochs=3, learning_rate=1e12)
    with pytest.raises(TrainingError, match="learning rate"):
        boom.fit()
    assert boom.status == "failed"
    assert (tmp_path / "run" / "last.pt").read_bytes() == good
    assert list(pd.read_csv(tmp_path / "run" / "history.csv")["epoch"]) == [1]


def test_batch_larger_than_dataset_is_one_batch(datasets, tmp_path):
    rec = Recorder()
    trainer = _trainer(datasets, tmp_path / "run", epochs=1, batch_size=1000)
    trainer.callbacks.append(rec)
    trainer.fit()
    assert [e for e in rec.events if e[0] == "batch"] == [("batch", 1, 1, 1)]


def test_background_job_stop_and_wait(datasets, tmp_path):
    trainer = _trainer(datasets, tmp_path / "run", epochs=50)
    job = trainer.fit_in_background()
    job.stop()
    history = job.wait(timeout=120)
    assert job.done
    assert trainer.status == "stopped"
    assert len(history) < 50


def test_tutorial_train_function_with_custom_optimizer(datasets, tmp_path):
    torch.manual_seed(0)
    model = build_model("resnet18", 2, pretrained=False)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    history = train(
        tmp_path / "run",
        model,
        *datasets,
        optimizer=opt,
        loss_fn=torch.nn.CrossEntropyLoss(),
        epochs=1,
        log_every=1,
        batch_size=8,
    )
    assert len(history) == 1
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["optimizer"]["name"] == "Adam"
    resumed = Trainer.resume(tmp_path / "run", *datasets, epochs=2)
    assert isinstance(resumed.optimizer, torch.optim.Adam)
    assert resumed.optimizer.param_groups[0]["lr"] == pytest.approx(1e-4)


def test_device_and_precision_choice():
    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type in ("cpu", "cuda", "mps")
    assert pick_precision(torch.device("cpu"), "fp32") is None
    assert pick_precision(torch.device("cpu"), "bf16") is torch.bfloat16
    assert pick_precision(torch.device("cpu"), "auto") in (None, torch.bfloat16)


def test_recalibration_sets_running_stats_to_batch_average():
    torch.manual_seed(0)
    model = build_model("resnet18", 2, pretrained=False).eval()
    batches = [torch.randn(4, 3, 32, 32) * 2 + 3 for _ in range(3)]
    used = recalibrate_batchnorm(model, batches)
    assert used == 3
    with torch.no_grad():
        means = torch.stack([model.conv1(b).mean(dim=(0, 2, 3)) for b in batches])
    assert torch.allclose(model.bn1.running_mean, means.mean(0), atol=1e-4)
    assert model.bn1.momentum == 0.1, "momentum restored"
    assert not model.training


def test_recalibration_repairs_lagging_statistics():
    """The failure seen in practice: fast-moving weights, stale running statistics.

    A resnet18 trained from scratch with a high learning rate fits the training data with
    batch statistics, yet eval-mode predictions from its lagging running statistics are
    poor; recalibrating BatchNorm on training batches restores them.
    """
    torch.manual_seed(0)
    n = 48
    y = torch.arange(n) % 2
    x = torch.randn(n, 3, 32, 32) * 0.3 + 4.0
    x[y == 1, :, :16, :] += 1.0  # class 1: brighter upper half
    model = build_model("resnet18", 2, pretrained=False)
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        bn.momentum = 0.001  # running statistics lag far behind, as after a few fast epochs
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    for _ in range(15):
        perm = torch.randperm(n)
        for i in range(0, n, 16):
            idx = perm[i : i + 16]
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()

    def eval_accuracy():
        model.eval()
        with torch.no_grad():
            return float((model(x).argmax(1) == y).float().mean())

    stale = eval_accuracy()
    recalibrate_batchnorm(model, [x[i : i + 16] for i in range(0, n, 16)])
    fresh = eval_accuracy()
    assert stale <= 0.75, f"expected lagging statistics to hurt (got {stale})"
    assert fresh >= 0.95, f"recalibrated accuracy {fresh}"


def test_finished_run_folder_keeps_weights_not_momentum(datasets, tmp_path):
    """A finished folder: last.pt without momentum buffers, best.pt slim; about 1-2x weights.

    Epochs before the last keep the momentum (a stop or a kill resumes exactly); once the
    last epoch is written, only weights and hyper-parameters remain, and best.pt drops its
    optimizer state as soon as it stops sharing last.pt's file.
    """
    from woodcock_widgets.ml.bundle import read_bundle_payload

    seen = {}

    class Peek(Callback):
        def on_epoch_end(self, trainer, record):
            payload = read_bundle_payload(trainer.run_dir / "last.pt")
            seen[int(record["epoch"])] = payload["training_state"]["optimizer"]["state"]

    trainer = _trainer(datasets, tmp_path / "run", epochs=2, log_every=10, callbacks=[Peek()])
    trainer.fit()
    run = tmp_path / "run"
    assert len(seen[1]) == len(list(trainer.model.parameters())), "epoch 1 keeps momentum"
    assert seen[2] == {}, "the finished last.pt drops the momentum buffers"
    best, last = read_bundle_payload(run / "best.pt"), read_bundle_payload(run / "last.pt")
    assert last["training_state"]["optimizer"]["param_groups"][0]["lr"] == 1e-3
    if trainer.best_epoch == 2:
        assert (run / "best.pt").stat().st_ino == (run / "last.pt").stat().st_ino
    else:
        assert "optimizer" not in best["training_state"]
    weights = sum(t.numel() * t.element_size() for t in trainer.model.state_dict().values())
    files = {f.stat().st_ino: f.stat().st_size for f in run.rglob("*") if f.is_file()}
    assert sum(files.values()) <= 2.2 * weights
    assert ModelBundle.load(run / "best.pt").extra["epoch"] == trainer.best_epoch


def test_slim_best_drops_only_the_optimizer_state(trained_run, tmp_path):
    import shutil

    from woodcock_widgets.ml.bundle import read_bundle_payload
    from woodcock_widgets.ml.run_folder import slim_bundle_file as _slim_best

    full = trained_run / "checkpoints" / "epoch-0001.pt"  # mid-run: with momentum buffers
    assert read_bundle_payload(full)["training_state"]["optimizer"]["state"]
    copy = tmp_path / "best.pt"
    shutil.copyfile(full, copy)
    _slim_best(copy)
    slim = read_bundle_payload(copy)
    assert "optimizer" not in slim["training_state"]
    assert slim["training_state"]["epoch"] == 1
    a = ModelBundle.load(copy).model.state_dict()
    b = ModelBundle.load(full).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert copy.stat().st_size < 0.7 * full.stat().st_size


# ----------------------------------------------------------------- issue 11: one job each
def test_evaluation_goes_through_the_one_scoring_pass(datasets, tmp_path, monkeypatch):
    import woodcock_widgets.ml.epoch as epoch
    from woodcock_widgets.ml import predict

    calls = []

    def spy(bundle, make_batch, device="cpu", precision="auto"):
        calls.append((str(device), precision))
        return predict.score_batches(bundle, make_batch, device, precision)

    monkeypatch.setattr(epoch, "score_batches", spy)
    trainer = _trainer(datasets, tmp_path / "run", epochs=2, precision="fp32", device="cpu")
    trainer.fit()
    assert calls == [("cpu", "fp32"), ("cpu", "fp32")]  # once per epoch, the trainer's policy
    scores, labels, loss = trainer.evaluate(datasets[1])
    bundle = ModelBundle.load(tmp_path / "run" / "last.pt")
    again = predict.score_batches(
        bundle,
        lambda cl: [datasets[1].batch(np.arange(len(datasets[1])), channels_last=cl)[0]],
        "cpu",
        "fp32",
    )
    assert np.allclose(scores, again, atol=1e-5)
    assert loss == pytest.approx(
        float(
            torch.nn.functional.cross_entropy(
                torch.log(torch.from_numpy(scores)), torch.from_numpy(labels)
            )
        ),
        rel=1e-6,
    )


def test_prediction_takes_its_precision_from_the_runtime_module():
    import ast
    import inspect

    from woodcock_widgets.ml import predict, scoring, streaming

    def sources(module) -> set:
        tree = ast.parse(inspect.getsource(module))
        return {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            and any(a.name == "pick_precision" for a in node.names)
        }

    # the scoring pass (which prediction re-exports) takes it from runtime; nothing else does
    assert sources(scoring) == {"runtime"}
    assert sources(predict) | sources(streaming) <= {"runtime"}
    assert predict.prepare_model is scoring.prepare_model


def test_resume_keeps_every_recorded_setting_and_records_changes(datasets, tmp_path):
    trainer = _trainer(datasets, tmp_path / "run", epochs=1)
    trainer.extra_config = {"labels": "somewhere.csv", "class_column": "woodcock_song"}
    trainer.fit()
    resumed = Trainer.resume(tmp_path / "run", *datasets, epochs=2, learning_rate=5e-4)
    # no list of keys to keep in step: every key the trainer does not write itself is extra
    assert resumed.extra_config["labels"] == "somewhere.csv"
    assert resumed.extra_config["class_column"] == "woodcock_song"
    assert not set(resumed.extra_config) & set(resumed.engine_config())
    resumed.fit()
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["labels"] == "somewhere.csv"
    assert config["training"]["learning_rate"] == 5e-4
    assert config["setting_changes"] == [
        {"after_epoch": 1, "changed": {"epochs": [1, 2], "learning_rate": [1e-3, 5e-4]}}
    ]
    again = Trainer.resume(tmp_path / "run", *datasets)  # nothing changed: nothing added
    assert len(again.extra_config["setting_changes"]) == 1


def test_the_command_line_and_scripts_share_one_background_runner():
    import woodcock_widgets.cli.train as cli_train
    import woodcock_widgets.widgets.training_control as widget
    from woodcock_widgets.ml.jobs import TrainingJob

    assert widget.TrainingJob is TrainingJob
    assert not hasattr(widget, "_BackgroundRun")
    assert "TrainingJob(trainer)" in inspect_source(cli_train.run)


def inspect_source(func) -> str:
    import inspect

    return inspect.getsource(func)
