"""Multi-class and multi-label training on window tables: targets, history, bundle, predict."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from woodcock_widgets.audio.preprocessing import Preprocessing
from woodcock_widgets.errors import LabelError, TrainingError
from woodcock_widgets.ml.bundle import ModelBundle
from woodcock_widgets.ml.detections import detection_thresholds
from woodcock_widgets.ml.multilabel import multilabel_metrics, pos_weights, positive_class
from woodcock_widgets.ml.predict import predict_recording
from woodcock_widgets.ml.training_config import TrainingConfig
from woodcock_widgets.tables.labeled import CODE_COLUMN, prepare_windows
from woodcock_widgets.tables.splits import split_multilabel
from woodcock_widgets.tables.windows import write_window_table
from woodcock_widgets.workflow.pipeline import new_trainer, resume_trainer

WINDOW_PRE = Preprocessing(clip_seconds=1.0, image_shape=(64, 64))


def windows_of(small_data: Path) -> pd.DataFrame:
    """Two 1 s windows per built-in clip: ``song`` and ``call`` columns, absent clips all 0."""
    df = pd.read_csv(small_data)
    rows = []
    for name, kind in zip(df["filename"], df["sound_type"]):
        for start in (0.0, 1.0):
            rows.append(
                {
                    "file": str(small_data.parent / name),
                    "start_time": start,
                    "end_time": start + 1.0,
                    "song": int(kind == "song"),
                    "call": int(kind == "call"),
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def window_csv(small_data, tmp_path_factory) -> Path:
    return write_window_table(windows_of(small_data), tmp_path_factory.mktemp("w") / "w.csv")


@pytest.fixture(scope="module")
def ml_run(window_csv, tmp_path_factory) -> Path:
    """A finished 2-epoch multi-label run (64x64, random init)."""
    run_dir = tmp_path_factory.mktemp("multilabel") / "run"
    table = prepare_windows(window_csv)
    cfg = TrainingConfig(epochs=2, batch_size=8, log_every=1, seed=0)
    trainer = new_trainer(
        table, run_dir, cfg, pretrained=False, preprocessing=WINDOW_PRE, pos_weight="balanced"
    )
    trainer.fit()
    assert trainer.status == "finished"
    return run_dir


# ------------------------------------------------------------------------------ the table
def test_the_mode_is_read_from_the_table(window_csv):
    table = prepare_windows(window_csv)
    assert table.multi_label  # absent windows hold no class
    assert table.classes == ("song", "call") and table.label_dict == {0: "song", 1: "call"}
    assert CODE_COLUMN not in table.df.columns
    assert set(table.df["window_classes"]) == {"song", "call", "none"}
    assert table.window_seconds() == 1.0 and Path(table.df["file"][0]).is_absolute()

    one_each = table.df[table.targets().sum(axis=1) == 1]
    single = prepare_windows(one_each)
    assert not single.multi_label
    assert single.df[CODE_COLUMN].tolist() == one_each["call"].tolist()  # song 0, call 1
    assert prepare_windows(one_each, multi_label=True).multi_label  # overridable

    with pytest.raises(LabelError, match="exactly one class per window") as err:
        prepare_windows(window_csv, multi_label=False)
    assert "line(s)" in str(err.value)
    with pytest.raises(LabelError, match=r"\['owl'\].*'song', 'call'"):
        prepare_windows(window_csv, classes=["song", "owl"])
    assert prepare_windows(window_csv, classes=["call"]).classes == ("call",)


def test_multilabel_metrics_are_macro_over_classes_with_positives():
    y = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0]])
    hit = np.array([[1, 0, 0], [0, 1, 1], [0, 0, 0], [0, 0, 0]])
    m = multilabel_metrics(y, hit, ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(9 / 12)  # (window, class) decisions right
    assert m["recall_a"] == 0.5 and m["recall_b"] == 0.5 and m["precision_c"] == 0.0
    assert m["recall"] == pytest.approx(0.5)  # c has no positive: left out of the mean
    assert m["precision"] == pytest.approx(1.0)
    assert m["f1"] == pytest.approx(2 / 3)


def test_positive_weights_and_positive_class():
    y = np.array([[1, 0], [0, 0], [0, 0], [1, 1]])
    assert pos_weights(y, ["a", "b"], "balanced") == [1.0, 3.0]
    assert pos_weights(y, ["a", "b"], {"b": 2}) == [1.0, 2.0]
    assert pos_weights(y, ["a", "b"], None) is None
    with pytest.raises(TrainingError, match="2 classes"):
        pos_weights(y, ["a", "b"], [1.0])
    assert positive_class(["absent", "present"]) == "present"
    assert positive_class(["i", "not_i"]) == "i"
    assert positive_class(list("abc")) is None


# ------------------------------------------------------------------------------ the split
def test_grouped_multilabel_split_never_straddles_and_names_empty_classes():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"file": np.repeat([f"rec{i}" for i in range(10)], 12)})
    for c in "abc":
        df[c] = (rng.random(len(df)) < 0.3).astype(int)
    df["rare"] = 0
    df.loc[3, "rare"] = 1  # one positive window: it cannot be on both sides
    result = split_multilabel(df, ["a", "b", "c", "rare"], 0.8, seed=1, group_column="file")
    assert not set(result.train["file"]) & set(result.valid["file"])
    assert len(result.train) + len(result.valid) == len(df)
    assert list(result.report.index) == ["a", "b", "c", "rare"]  # every class kept
    assert (result.report.loc[["a", "b", "c"], ["train_count", "valid_count"]] > 0).all().all()
    assert any("'rare'" in w and "validation" in w for w in result.warnings)
    again = split_multilabel(df, ["a", "b", "c", "rare"], 0.8, seed=1, group_column="file")
    assert list(again.valid.index) == list(result.valid.index)  # seeded


def test_a_class_without_positives_in_a_part_warns_and_is_kept(window_csv, tmp_path):
    df = prepare_windows(window_csv).df
    first = df.loc[df["call"] == 1, "file"].iloc[0]
    df.loc[df["call"] == 1, "call"] = 0
    df.loc[df["file"] == first, "call"] = 1  # the calls of one recording only
    table = prepare_windows(df[["file", "start_time", "end_time", "song", "call"]])
    cfg = TrainingConfig(epochs=1, batch_size=8)
    with pytest.warns(UserWarning, match="class 'call' has no positive window in"):
        trainer = new_trainer(
            table, tmp_path / "r", cfg, pretrained=False, preprocessing=WINDOW_PRE
        )
    assert trainer.class_names == ["song", "call"]


# ------------------------------------------------------------------------------ training
def test_multilabel_run_writes_map_and_per_class_ap(ml_run):
    history = pd.read_csv(ml_run / "history.csv")
    for col in ("valid_map", "valid_ap_song", "valid_ap_call", "valid_f1", "valid_f1_call"):
        assert col in history.columns, col
        assert history[col].between(0, 1).all(), col
    assert history["valid_map"].tolist() == pytest.approx(
        history[["valid_ap_song", "valid_ap_call"]].mean(axis=1).tolist()
    )
    config = json.loads((ml_run / "config.json").read_text())
    assert config["multi_label"] is True and config["loss_fn"] == "BCEWithLogitsLoss"
    assert config["classes"] == ["song", "call"] and config["positive_class"] is None
    assert config["table"] == "windows" and config["offset_column"] == "start_time"
    assert config["group_column"] == "file" and len(config["pos_weight"]) == 2
    assert config["preprocessing"]["clip_seconds"] == 1.0
    train, valid = pd.read_csv(ml_run / "train.csv"), pd.read_csv(ml_run / "valid.csv")
    assert not set(train["file"]) & set(valid["file"])  # no recording straddles


def test_bundle_records_multi_label_and_thresholds_and_the_best_map_epoch(ml_run):
    history = pd.read_csv(ml_run / "history.csv")
    best = ModelBundle.load(ml_run / "best.pt")
    assert best.extra["multi_label"] is True and best.extra["positive_class"] is None
    thresholds = best.extra["thresholds"]
    assert set(thresholds) == {"song", "call"}
    assert all(0.0 <= t <= 1.0 for t in thresholds.values())
    top = history["valid_map"].max()
    assert best.extra["epoch"] == int(history.loc[history["valid_map"] == top, "epoch"].max())
    assert detection_thresholds(best) == thresholds  # predict and detections use them


def test_the_runs_valid_csv_reads_back_as_a_window_table(ml_run):
    # valid.csv holds window_classes beside the class columns; evaluation reads it back
    from woodcock_widgets.ml.evaluation import evaluate_bundle
    from woodcock_widgets.tables.windows import read_window_table

    written = pd.read_csv(ml_run / "valid.csv")
    assert "window_classes" in written.columns
    back = read_window_table(ml_run / "valid.csv")
    assert list(back.columns) == ["file", "start_time", "end_time", "song", "call"]
    assert (
        back[["song", "call"]].to_numpy().tolist() == written[["song", "call"]].to_numpy().tolist()
    )
    result = evaluate_bundle(ModelBundle.load(ml_run / "best.pt"), ml_run / "valid.csv")
    assert result.rows.classes == ["song", "call"] and len(result.scores) == len(written)
    assert result.metrics["positives"].tolist() == written[["song", "call"]].sum().tolist()


def test_results_review_of_a_multilabel_window_run(ml_run):
    from woodcock_widgets.ml.evaluation import evaluate_bundle
    from woodcock_widgets.widgets import ResultsReview

    review = ResultsReview.from_run(ml_run)
    valid = pd.read_csv(ml_run / "valid.csv")
    assert review.multi_label and review.windows and len(review.df) == len(valid)
    assert review.class_names == ["song", "call"] and review.inspector.offset_column == "start_time"
    scores = evaluate_bundle(review.bundle, ml_run / "valid.csv").scores
    np.testing.assert_allclose(review.scores.scores, scores, atol=1e-6)  # read from start_time
    for code, name in enumerate(["song", "call"]):
        review.positive = code
        truth = valid[name].to_numpy().astype(bool)
        hit = review.scores.scores[:, code] >= review.threshold
        expected = [
            [(~truth & ~hit).sum(), (~truth & hit).sum()],
            [(truth & ~hit).sum(), (truth & hit).sum()],
        ]
        assert review.confusion.tolist() == expected
        assert review.heatmap.row.tolist() == [f"not {name}", name]
    assert review.errors.messages == []


def test_predict_gives_one_sigmoid_score_per_class(ml_run, small_data, tmp_path):
    bundle = ModelBundle.load(ml_run / "best.pt")
    clips = pd.read_csv(small_data)["filename"].iloc[:3]
    parts = [sf.read(str(small_data.parent / f), dtype="float32")[0] for f in clips]
    recording = tmp_path / "long.wav"
    sf.write(
        str(recording), np.concatenate(parts), sf.info(str(small_data.parent / clips[0])).samplerate
    )
    scores = predict_recording(bundle, recording, precision="fp32")
    assert list(scores.columns) == ["file", "start_time", "end_time", "song", "call"]
    assert len(scores) == 6  # 6 s in 1 s windows
    values = scores[["song", "call"]].to_numpy()
    assert ((values > 0) & (values < 1)).all()
    assert not np.allclose(values.sum(axis=1), 1.0)  # independent sigmoids, not a softmax


def test_one_class_trains_as_a_one_sigmoid_detector(window_csv, tmp_path):
    table = prepare_windows(window_csv, classes=["song"])
    assert table.multi_label  # one class: windows without a song are all-zero rows
    trainer = new_trainer(
        table, tmp_path / "run", TrainingConfig(epochs=1, batch_size=8),
        pretrained=False, preprocessing=WINDOW_PRE,
    )  # fmt: skip
    trainer.fit()
    assert trainer.status == "finished"
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    assert history["valid_map"].equals(history["valid_ap_song"])
    best = ModelBundle.load(tmp_path / "run" / "best.pt")
    assert best.class_names == ["song"] and best.extra["multi_label"] is True
    assert set(best.extra["thresholds"]) == {"song"}
    songs = table.df.loc[table.df["song"] == 1, ["file", "start_time", "end_time", "song"]]
    with pytest.raises(LabelError, match="two classes or more"):
        prepare_windows(songs, multi_label=False)  # no one-way softmax


def test_resume_of_a_multilabel_run(ml_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(ml_run, run)
    trainer = resume_trainer(run, epochs=3)
    assert trainer.multi_label and trainer.train_dataset.multi_label
    assert trainer.pos_weight == json.loads((run / "config.json").read_text())["pos_weight"]
    trainer.fit()
    assert trainer.status == "finished"
    history = pd.read_csv(run / "history.csv")
    assert history["epoch"].tolist() == [1, 2, 3] and history["valid_map"].notna().all()
    assert ModelBundle.load(run / "last.pt").extra["multi_label"] is True


def test_single_target_windows_and_clips_keep_the_softmax(trained_run, window_csv, tmp_path):
    # the tutorial's clip table: softmax, best by F1, no thresholds (detections stay at 0.5)
    history = pd.read_csv(trained_run / "history.csv")
    assert {"valid_map", "valid_ap_absent", "valid_ap_present"} <= set(history.columns)
    best = ModelBundle.load(trained_run / "best.pt")
    assert best.extra["multi_label"] is False and best.extra["positive_class"] == "present"
    assert best.extra["thresholds"] == {}
    assert detection_thresholds(best) == {"present": 0.5}
    # a window table with one class per window: softmax over the classes, offsets read
    df = prepare_windows(window_csv).df
    one = df[df[["song", "call"]].sum(axis=1) == 1][["file", "start_time", "end_time"]]
    one = one.assign(song=df["song"], call=df["call"])
    trainer = new_trainer(
        prepare_windows(one), tmp_path / "r", TrainingConfig(epochs=1, batch_size=8),
        pretrained=False, preprocessing=WINDOW_PRE,
    )  # fmt: skip
    assert not trainer.multi_label and trainer.best_metric == "valid_f1"
    assert trainer.train_dataset.offsets is not None


def test_forcing_the_mode_through_new_trainer(window_csv, song_table, tmp_path):
    cfg = TrainingConfig(epochs=1)
    with pytest.raises(TrainingError, match="window table"):
        new_trainer(song_table, tmp_path / "a", cfg, pretrained=False, multi_label=True)
    with pytest.raises(LabelError, match="exactly one class per window"):
        new_trainer(prepare_windows(window_csv), tmp_path / "b", cfg, multi_label=False)
    with pytest.raises(TrainingError, match="pos_weight is for multi-label"):
        new_trainer(song_table, tmp_path / "c", cfg, pretrained=False, pos_weight="balanced")
    assert not (tmp_path / "a").exists() and not (tmp_path / "c").exists()


def test_curves_show_map_when_the_history_has_it():
    from woodcock_widgets.ml.trainer import History
    from woodcock_widgets.widgets._training_curves import TrainingCurves

    curves = TrainingCurves(3)
    assert not curves.shows_map
    curves.draw(History([{"epoch": 1, "train_loss": 1.0, "valid_f1": 0.5}]))
    assert not curves.shows_map
    records = [
        {"epoch": 1, "train_loss": 1.0, "valid_map": 0.4},
        {"epoch": 2, "train_loss": 0.8, "valid_map": float("nan")},
        {"epoch": 3, "train_loss": 0.7, "valid_map": 0.6},
    ]
    curves.draw(History(records))
    assert curves.shows_map and curves.map_figure.title == "mAP"
    assert curves.map_curve.x.tolist() == [1.0, 3.0] and curves.map_curve.y.tolist() == [0.4, 0.6]


def test_split_balance_shows_every_class(window_csv):
    from woodcock_widgets.widgets.split_balance import SplitBalance

    balance = SplitBalance(prepare_windows(window_csv))
    assert balance.group_column == "file" and list(balance.bars.labels) == ["song", "call"]
    assert not set(balance.train_df["file"]) & set(balance.valid_df["file"])
    assert "positive windows" in balance.legend_html.value
    names = [f"syllable {k}" for k in range(12)]
    clips = pd.DataFrame({"filename": [f"/d/{i}.wav" for i in range(60)], "label": names * 5})
    many = SplitBalance(clips, "label")
    assert list(many.bars.labels) == sorted(names)
    assert len(set(many.bars.colors)) == 12  # past ten classes, still one colour each
