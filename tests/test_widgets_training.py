"""TrainingControl without a browser: Start, Stop mid-run, Resume; curves equal history.csv."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from _widget_helpers import record_comms

from woodcock_widgets.errors import ModelError, TrainingError
from woodcock_widgets.ml.bundle import ModelBundle, read_bundle_payload
from woodcock_widgets.ml.training import History
from woodcock_widgets.widgets import TrainingControl
from woodcock_widgets.widgets.training_control import CURVES
from woodcock_widgets.workflow.pipeline import LabeledTable


@pytest.fixture
def recording_comm(monkeypatch):
    """Widgets built in the test record the messages they send to the front end."""
    return record_comms(monkeypatch)


@pytest.fixture(scope="module")
def few_clips(song_table):
    """12 clips (6 per class): training epochs take a fraction of a second."""
    df = song_table.df.groupby("woodcock_song", group_keys=False).head(6)
    return LabeledTable(df, song_table.class_column, song_table.label_dict)


def curve_points(control, title, part):
    line = control.curves[title][part]
    return line.x.tolist(), line.y.tolist()


def assert_curves_match(control, history: pd.DataFrame):
    for title, (metric, _, series) in CURVES.items():
        for part in series:
            xs, ys = curve_points(control, title, part)
            column = f"{part}_{metric}"
            assert xs == history["epoch"].astype(float).tolist(), column
            np.testing.assert_allclose(ys, history[column].to_numpy(float), rtol=1e-12)


def wait_for(predicate, timeout=120.0):
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_controls_and_idle_state(tmp_path, song_table):
    c = TrainingControl(tmp_path / "run", song_table, epochs=7, learning_rate=0.01, batch_size=4)
    assert (c.epochs, c.learning_rate, c.batch_size) == (7, 0.01, 4)
    assert (c.epochs_input.value, c.learning_rate_input.value, c.batch_size_input.value) == (
        7,
        0.01,
        4,
    )
    assert c.pretrained is True and c.pretrained_input.value is True  # the tutorial's default
    assert c.status == "idle" and len(c.history) == 0
    assert c.stop_button.disabled and not c.start_button.disabled
    assert "run folder" in c.status_html.value
    cfg = c.config()
    assert (cfg.epochs, cfg.learning_rate, cfg.batch_size) == (7, 0.01, 4)
    titles = [fig.title for fig in c.figures.values()]
    assert titles == ["loss", "accuracy", "F1"]
    with pytest.raises(TrainingError, match="not been started"):
        c.wait()
    c.learning_rate = 0.0
    c.start_button.click()
    assert "learning_rate must be a positive number" in c.errors.messages[-1]
    assert c.status == "idle" and not (tmp_path / "run").exists()
    with pytest.raises(TrainingError, match="unknown training option"):
        TrainingControl(tmp_path / "x", song_table, epoch=3)
    resume_only = TrainingControl(tmp_path / "run")
    assert resume_only.start_button.disabled
    with pytest.raises(TrainingError, match="no label table"):
        resume_only.start()
    with pytest.raises(TrainingError, match="cannot resume"):
        resume_only.resume()


def test_curves_update_in_one_message_per_line(recording_comm, tmp_path, song_table):
    c = TrainingControl(tmp_path / "run", song_table)
    history = History(
        [
            {
                "epoch": 1,
                "train_loss": 0.7,
                "train_accuracy": 0.5,
                "train_f1": 0.4,
                "valid_loss": 0.6,
                "valid_accuracy": 0.6,
                "valid_f1": 0.5,
            },
            {
                "epoch": 2,
                "train_loss": 0.5,
                "train_accuracy": 0.8,
                "train_f1": 0.7,
                "valid_loss": 0.4,
                "valid_accuracy": 0.7,
                "valid_f1": float("nan"),
            },
        ]
    )
    for lines in c.curves.values():
        for line in lines.values():
            line.comm.messages.clear()
    c._draw_curves(history)
    for title, lines in c.curves.items():
        for part, line in lines.items():
            assert line.comm.updates() == [{"x", "y"}], (title, part)
    assert curve_points(c, "loss", "valid") == ([1.0, 2.0], [0.6, 0.4])
    assert curve_points(c, "F1", "valid") == ([1.0], [0.5])  # NaN points are left out


@pytest.mark.slow
def test_start_stop_resume_and_the_run_folder(tmp_path, few_clips, tiny_preprocessing):
    run = tmp_path / "run"
    c = TrainingControl(
        run,
        few_clips,
        preprocessing=tiny_preprocessing,
        epochs=3,
        batch_size=8,
        pretrained=False,
        log_every=1,
        update_interval=0.0,
    )
    t0 = time.perf_counter()
    c.start_button.click()
    assert time.perf_counter() - t0 < 1.0  # the kernel is free at once
    assert c.status in ("preparing", "running") and c.running
    assert c.start_button.disabled and c.resume_button.disabled and not c.stop_button.disabled
    assert c.epochs_input.disabled
    wait_for(lambda: len(c.history) >= 1)
    c.stop_button.click()
    assert c.status in ("stopping", "stopped")
    history = c.wait(timeout=120)
    assert c.status == "stopped" and not c.running
    done = len(history)
    assert 1 <= done < 3
    # a consistent run folder: last.pt loads and holds exactly the finished epochs
    csv = pd.read_csv(run / "history.csv")
    assert csv["epoch"].tolist() == list(range(1, done + 1))
    assert read_bundle_payload(run / "last.pt")["training_state"]["epoch"] == done
    assert ModelBundle.load(run / "last.pt").label_dict == few_clips.label_dict
    assert_curves_match(c, csv)
    assert c.total_progress.value == done and c.total_progress.max == 3
    assert c.epoch_progress.value == c.epoch_progress.max == 2  # 10 clips: batches of 8 and 2
    assert f"stopped: {done} of 3 epochs" in c.status_html.value
    assert c.start_button.disabled and not c.resume_button.disabled  # Resume continues it
    assert c.resume_button.description == "Resume"  # a stopped run resumes
    assert c.stop_button.disabled

    c.start_button.click()  # the folder holds a run: Start refuses, Resume continues
    assert "already holds a run" in c.errors.messages[-1]
    c.resume_button.click()
    history = c.wait(timeout=180)
    assert c.status == "finished" and len(history) == 3
    csv = pd.read_csv(run / "history.csv")
    assert csv["epoch"].tolist() == [1, 2, 3]
    assert read_bundle_payload(run / "last.pt")["training_state"]["epoch"] == 3
    assert_curves_match(c, csv)
    assert c.total_progress.value == 3
    assert "finished: 3 of 3 epochs" in c.status_html.value
    assert not c.plots.shows_pr and len(c.plots.pr_curve.x) == 0  # the CNN path draws none
    assert c.errors.messages == []


@pytest.mark.slow
def test_errors_during_the_build_are_shown_and_raised(tmp_path, few_clips, tiny_preprocessing):
    c = TrainingControl(
        tmp_path / "run", few_clips, preprocessing=tiny_preprocessing, epochs=1, pretrained=True
    )  # no ImageNet weights offline
    c.start_button.click()
    with pytest.raises(ModelError, match="ImageNet weights"):
        c.wait(timeout=120)
    assert c.status == "failed" and not c.running
    assert "ModelError: ImageNet weights" in c.errors.messages[-1]
    assert "could not start" in c.status_html.value
    assert not c.start_button.disabled


@pytest.mark.slow
def test_random_weights_warning_is_visible(tmp_path, few_clips, tiny_preprocessing):
    c = TrainingControl(
        tmp_path / "run",
        few_clips,
        preprocessing=tiny_preprocessing,
        epochs=1,
        batch_size=8,
        pretrained=True,
        on_missing_weights="random",
        bn_recalibration_batches=0,
    )
    c.start()
    c.wait(timeout=120)
    assert c.status == "finished"
    assert any(m.startswith("warning:") and "RANDOM weights" in m for m in c.errors.messages)


@pytest.mark.slow
def test_interrupting_wait_stops_training_cleanly(tmp_path, few_clips, tiny_preprocessing):
    """While ``wait()`` blocks the kernel, an interrupt (the ■ button) acts as Stop."""
    import os
    import signal
    import threading

    run = tmp_path / "run"
    c = TrainingControl(
        run,
        few_clips,
        preprocessing=tiny_preprocessing,
        epochs=200,  # never done before the interrupt, however slow or loaded the machine
        batch_size=8,
        pretrained=False,
    )

    def interrupt_after_first_epoch():
        wait_for(lambda: len(c.history) >= 1)
        os.kill(os.getpid(), signal.SIGINT)

    # the kernel's ■ raises KeyboardInterrupt in the waiting cell: Python's own handler
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        c.start()
        threading.Thread(target=interrupt_after_first_epoch, daemon=True).start()
        history = c.wait(timeout=120)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert c.status == "stopped" and 1 <= len(history) < 200
    assert pd.read_csv(run / "history.csv")["epoch"].tolist() == list(range(1, len(history) + 1))
    assert read_bundle_payload(run / "last.pt")["training_state"]["epoch"] == len(history)


# ------------------------------------------------ issue 16 item 3: no dead or silent controls
def test_value_state_is_in_traits_linked_to_controls_named_by_role(tmp_path, song_table):
    c = TrainingControl.for_table(tmp_path / "run", song_table, epochs=4)
    seen = []
    c.observe(lambda change: seen.append(change["new"]), names="epochs")
    c.epochs_input.value = 6  # the front end edits the control: the trait follows
    assert c.epochs == 6 and seen == [6]
    c.learning_rate = 0.05  # code sets the trait: the control follows
    assert c.learning_rate_input.value == 0.05
    assert c.config().learning_rate == 0.05
    assert c.status == "idle" and "run folder" in c.message
    for role in ("epochs_input", "start_button", "stop_button", "resume_button"):
        assert getattr(c, role) in [w for box in c.children[:3] for w in box.children], role
    assert c.status_html in c.children and c.hint_html in c.children


def test_resume_is_disabled_in_a_fresh_folder_and_the_reason_is_shown(tmp_path, song_table):
    c = TrainingControl(tmp_path / "run", song_table)
    assert not c.start_button.disabled
    assert c.resume_button.disabled and c.new_run_button.disabled
    assert "Continue needs a finished epoch" in c.hint
    assert "Continue needs a finished epoch" in c.hint_html.value
    assert c.resume_button.tooltip == c.hint.split(" · ")[0]
    no_table = TrainingControl.from_run(tmp_path / "other")
    assert no_table.start_button.disabled and no_table.resume_button.disabled
    assert "needs a label table" in no_table.hint


def test_epoch_axes_show_whole_epochs_before_training(tmp_path, song_table):
    c = TrainingControl(tmp_path / "run", song_table, epochs=5)
    for figure in c.figures.values():
        axis = figure.axes[0]
        ticks = np.asarray(axis.tick_values, dtype=float)
        assert (axis.scale.min, axis.scale.max) == (1.0, 5.0)
        assert ticks.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0] and axis.tick_format == "d"
    c.epochs = 40  # a long run: about ten whole-epoch ticks, none repeated
    ticks = np.asarray(c.figures["loss"].axes[0].tick_values, dtype=float)
    assert len(ticks) <= 10 and (ticks == np.round(ticks)).all() and len(set(ticks)) == len(ticks)
    assert c.figures["loss"].axes[0].scale.max == 40.0


def test_the_legend_is_a_line_above_the_charts_not_over_a_curve(tmp_path, song_table):
    c = TrainingControl(tmp_path / "run", song_table)
    for lines in c.curves.values():
        assert not any(line.display_legend for line in lines.values())
    legend = c.plots.legend_html.value
    assert "train" in legend and "valid" in legend
    assert c.plots.children[0] is c.plots.legend_html  # above the figures


@pytest.mark.slow
def test_finished_run_offers_continue_with_new_settings_and_a_new_run(
    tmp_path, few_clips, tiny_preprocessing
):
    import json

    run = tmp_path / "training"
    c = TrainingControl.for_table(
        run,
        few_clips,
        preprocessing=tiny_preprocessing,
        epochs=1,
        batch_size=8,
        learning_rate=0.01,
        pretrained=False,
        log_every=1,
        update_interval=0.0,
    )
    c.start_or_resume()
    assert c.message.endswith("training up to 1 epochs")
    c.wait(timeout=180)
    assert c.status == "finished" and c.epochs_done == 1
    # finished: Start is off with its reason; Continue (to more epochs) and New run are on
    assert c.start_button.disabled and "Start is for a new folder" in c.hint
    assert c.epochs == 2 and not c.resume_button.disabled
    assert c.resume_button.description == "Continue to 2"
    assert not c.new_run_button.disabled and "training-2" in c.hint

    c.learning_rate = 0.002  # a changed setting is used, and recorded
    c.resume_button.click()
    assert c.message.endswith("from epoch 1: training up to 2 epochs")
    c.wait(timeout=180)
    assert c.status == "finished" and len(c.history) == 2
    config = json.loads((run / "config.json").read_text())
    assert config["training"]["learning_rate"] == 0.002
    assert config["optimizer"]["defaults"]["lr"] == 0.002
    assert config["setting_changes"] == [
        {"after_epoch": 1, "changed": {"epochs": [1, 2], "learning_rate": [0.01, 0.002]}}
    ]
    state = read_bundle_payload(run / "last.pt")["training_state"]
    assert [g["lr"] for g in state["optimizer"]["param_groups"]] == [0.002]

    # as many epochs as the run has: Continue is off and says why; asked anyway, it says so
    c.epochs = 2
    assert c.resume_button.disabled and "set epochs above 2" in c.hint
    c.resume()
    assert "already has 2 epochs" in c.message and "nothing to train" in c.message
    assert len(c.wait(timeout=180)) == 2 and c.status == "finished"

    c.epochs = 1
    c.new_run_button.click()
    assert c.run_dir == tmp_path / "training-2"
    c.wait(timeout=180)
    assert c.status == "finished" and len(c.history) == 1
    assert pd.read_csv(tmp_path / "training-2" / "history.csv")["epoch"].tolist() == [1]
    assert pd.read_csv(run / "history.csv")["epoch"].tolist() == [1, 2]  # left as it was
    assert c.errors.messages == []


def test_an_embeddings_fit_shows_its_one_step_and_the_validation_pr_curve(
    tmp_path, few_clips, trained_run
):
    """method="embeddings": one step in the curves, then the validation PR curve; no Continue.

    The embedder is a real one: the CNN of the ``trained_run`` fixture (its layer before the
    classifier), so the test needs no extra and runs in seconds.
    """
    from sklearn.metrics import precision_recall_curve

    from woodcock_widgets.ml.embedders import BundleEmbedder
    from woodcock_widgets.ml.embedding_bundle import EmbeddingBundle

    embedder = BundleEmbedder(trained_run / "best.pt")
    c = TrainingControl.for_table(
        tmp_path / "run",
        few_clips,
        method="embeddings",
        embedder=embedder,
        cache_dir=tmp_path / "cache",
        epochs=5,
        learning_rate=0.01,
        pretrained=False,
        augment=False,  # a CNN option: accepted, and does not apply
    )
    assert c.one_step and not c.plots.shows_pr and len(c.plots.pr_curve.x) == 0
    assert c.epochs_input.disabled and c.learning_rate_input.disabled
    assert c.pretrained_input.disabled and not c.start_button.disabled
    c.start_button.click()
    history = c.wait(timeout=120)
    assert c.status == "finished" and len(history) == 1 and c.errors.messages == []
    # the fit is the one step of the curves and of the progress bar
    csv = pd.read_csv(c.folder.history_path)
    assert csv["epoch"].tolist() == [1]
    assert_curves_match(c, csv)
    assert c.total_progress.value == c.total_progress.max == 1
    assert "finished: 1 of 1 epochs" in c.status_html.value
    # the validation precision-recall curve of the positive class, from the fit's scores
    run = c.trainer.result
    positive = run.bundle.positive_class
    k = run.bundle.class_names.index(positive)
    precision, recall, _ = precision_recall_curve(run.valid_truth == k, run.valid_scores[:, k])
    assert c.plots.shows_pr and positive in c.plots.pr_figure.title
    np.testing.assert_allclose(c.plots.pr_curve.x, recall)
    np.testing.assert_allclose(c.plots.pr_curve.y, precision)
    assert len(c.plots.pr_curve.x) >= 2 and c.plots.pr_curve.x[0] == 1.0
    assert isinstance(EmbeddingBundle.load(c.folder.best), EmbeddingBundle)
    # one step: no Continue (New run fits again)
    assert c.resume_button.disabled and "one step" in c.resume_button.tooltip
    with pytest.raises(TrainingError, match="one step"):
        c.resume()
    assert not c.new_run_button.disabled
    assert TrainingControl.from_run(c.folder.path).one_step  # the folder records its method
