"""Bad training parameters: refused naming the setting; a blow-up keeps the last good epoch."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from woodcock_widgets.__main__ import main
from woodcock_widgets.errors import SplitError, TrainingError
from woodcock_widgets.ml.bundle import ModelBundle, read_bundle_payload
from woodcock_widgets.workflow.pipeline import new_trainer, resume_trainer

from ._helpers import check_run_folder, micro_config, temp_files

pytestmark = pytest.mark.faults


@pytest.mark.parametrize(
    "field, value",
    [
        ("epochs", 0),
        ("epochs", -3),
        ("epochs", 2.5),
        ("batch_size", 0),
        ("batch_size", -8),
        ("learning_rate", 0.0),
        ("learning_rate", -0.1),
        ("learning_rate", math.nan),
        ("learning_rate", math.inf),
    ],
)
def test_bad_settings_are_refused_before_any_write(fault, fault_table, tmp_path, field, value):
    run_dir = tmp_path / "run"
    with fault.error(f"{field}={value}", TrainingError, field, repr(value)):
        new_trainer(fault_table, run_dir, micro_config(**{field: value}), pretrained=False)
    assert not run_dir.exists()


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.2, 1.5])
def test_train_fraction_out_of_range(fault, fault_table, tmp_path, fraction):
    run_dir = tmp_path / "run"
    with fault.error(f"train_fraction={fraction}", SplitError, "train_fraction", fraction):
        new_trainer(fault_table, run_dir, micro_config(), train_fraction=fraction, pretrained=False)
    assert not run_dir.exists()


@pytest.mark.parametrize(
    "flag, value, named",
    [
        ("--epochs", "0", "epochs"),
        ("--epochs", "-1", "epochs"),
        ("--batch-size", "0", "batch_size"),
        ("--lr", "0", "learning_rate"),
        ("--train-fraction", "1", "train_fraction"),
        ("--train-fraction", "0", "train_fraction"),
    ],
)
def test_command_line_refuses_bad_settings(fault, fault_csv, tmp_path, capsys, flag, value, named):
    run_dir = tmp_path / "run"
    argv = ["train", "--labels", str(fault_csv), "--run-dir", str(run_dir), "--no-pretrained"]
    with fault.case(f"command line {flag} {value}"):
        # --epochs 0 used to become the default 5 (``args.epochs or 5``): a silent wrong run
        assert main([*argv, flag, value]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and named in err[0], err
        assert "Traceback" not in "\n".join(err)
        assert not (run_dir / "last.pt").exists()


@pytest.mark.slow
def test_batch_larger_than_the_dataset_is_one_batch(fault, fault_table, tmp_path, micro_pre):
    batches = []

    class Count:
        def on_fit_start(self, trainer):
            pass

        def on_batch_end(self, trainer, epoch, batch, n_batches, loss):
            batches.append((epoch, batch, n_batches))

        def on_epoch_end(self, trainer, record):
            pass

        def on_fit_end(self, trainer, status):
            pass

    with fault.case("batch_size 1000 with 16 training clips"):
        trainer = new_trainer(
            fault_table,
            tmp_path / "run",
            micro_config(epochs=1, batch_size=1000),
            pretrained=False,
            preprocessing=micro_pre,
            callbacks=[Count()],
        )
        trainer.fit()
        assert trainer.status == "finished"
        assert batches == [(1, 1, 1)]
        assert check_run_folder(tmp_path / "run", exact=True) == 1


@pytest.mark.slow
def test_learning_rate_that_makes_the_loss_nan(fault, fault_table, tmp_path, micro_pre):
    run_dir = tmp_path / "run"
    trainer = new_trainer(
        fault_table, run_dir, micro_config(epochs=1), pretrained=False, preprocessing=micro_pre
    )
    trainer.fit()
    good = (run_dir / "last.pt").read_bytes()
    history = (run_dir / "history.csv").read_text()

    boom = resume_trainer(run_dir, epochs=3, learning_rate=1e6)
    with fault.case("a learning-rate override reaches the resumed optimizer"):
        # load_state_dict used to bring back the saved lr, silently ignoring the override
        assert [g["lr"] for g in boom.optimizer.param_groups] == [1e6]
    with fault.error("lr=1e6 blows up", TrainingError, "learning rate", "1e+06", "epoch 1"):
        boom.fit()
    with fault.case("after the blow-up the run keeps its last good epoch"):
        assert boom.status == "failed"
        # the last step of an epoch used to leave inf BatchNorm statistics that were then
        # saved as the "last good" epoch 2
        assert (run_dir / "last.pt").read_bytes() == good
        assert (run_dir / "history.csv").read_text() == history
        assert check_run_folder(run_dir, exact=True) == 1
        assert ModelBundle.load(run_dir / "last.pt").extra["epoch"] == 1
        assert not temp_files(run_dir)
    with fault.case("the run resumes with a sane learning rate"):
        again = resume_trainer(run_dir, epochs=2, learning_rate=1e-3)
        again.fit()
        assert again.status == "finished"
        assert check_run_folder(run_dir, exact=True) == 2
        cfg = read_bundle_payload(run_dir / "last.pt")["training_state"]["optimizer"]
        assert [g["lr"] for g in cfg["param_groups"]] == [1e-3]
        assert pd.read_csv(run_dir / "history.csv")["epoch"].tolist() == [1, 2]


# ------------------------------------------------------------------------ notebook parameters
@pytest.mark.parametrize(
    "parameters, named",
    [
        ({"epochs": "three"}, ["'epochs'", "'three'"]),
        ({"epochs": 2.5}, ["'epochs'", "2.5"]),
        ({"batch_size": True}, ["'batch_size'", "True"]),
        ({"learning_rate": "fast"}, ["'learning_rate'", "'fast'"]),
        ({"learning_rate": "nan"}, ["'learning_rate'", "'nan'"]),
        ({"pretrained": "maybe"}, ["'pretrained'", "'maybe'"]),
        ({"mapping": "[1, 2]"}, ["'mapping'"]),
        ({"epoch": "3"}, ["unknown parameter 'epoch'", "'epochs'"]),
        ({"learnig_rate": 0.01}, ["unknown parameter 'learnig_rate'", "'learning_rate'"]),
        ({"preset": "huge"}, ["'preset'", "'huge'"]),
        ({"run_dir": "elsewhere"}, ["'run_dir'"]),
    ],
)
def test_tutorial_runner_refuses_bad_parameters(fault, tmp_path, parameters, named):
    from woodcock_widgets.errors import TutorialError, WoodcockError
    from woodcock_widgets.tutorial.runner import run_tutorial

    run_dir = tmp_path / "run"
    with fault.error(f"tutorial parameters {parameters}", WoodcockError, *named) as info:
        run_tutorial(run_dir, parameters, log=None)
    assert isinstance(info.value, TutorialError)
    assert not run_dir.exists()  # refused before any stage ran


@pytest.mark.parametrize(
    "pairs, named",
    [
        (["-p", "epochs", "three"], "'epochs'"),
        (["-p", "epoch", "3"], "'epoch'"),
        (["-p", "epochs", "2", "-p", "epochs", "3"], "'epochs'"),
        (["-p", "9lives", "1"], "'9lives'"),
    ],
)
def test_tutorial_command_line_refuses_bad_parameters(fault, tmp_path, capsys, pairs, named):
    run_dir = tmp_path / "run"
    with fault.case(f"tutorial command line {' '.join(pairs)}"):
        assert main(["tutorial", "--run-dir", str(run_dir), *pairs]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and named in err[0], err
        assert not run_dir.exists()
