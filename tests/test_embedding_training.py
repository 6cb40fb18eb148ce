"""Training a shallow head on embeddings: the run folder, the cache on refits, window tables,
the zero-shot baseline, and clear errors.

The BirdNET tests run the real model on the built-in woodcock data (28 clips). Without the
``birdnet`` extra they are skipped, except on CI (env ``CI=true``), where a missing extra is a
failure. Window tables and errors use a tiny deterministic embedder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from woodcock_widgets.errors import EmbeddingError, TrainingError
from woodcock_widgets.ml.bundle import ModelBundle
from woodcock_widgets.ml.embedders import BirdNETEmbedder, Embedder
from woodcock_widgets.ml.embedding_bundle import EmbeddingBundle
from woodcock_widgets.ml.embedding_cache import EmbeddingCache
from woodcock_widgets.tables.splits import split_train_valid
from woodcock_widgets.workflow.embedding_training import fit_embedding_classifier
from woodcock_widgets.workflow.pipeline import CODE_COLUMN, prepare_labels

INSTALL = "pip install 'woodcock-widgets[birdnet]'"
WOODCOCK = "Scolopax minor_American Woodcock"
RUN_FILES = ["best.pt", "config.json", "history.csv", "last.pt", "train.csv", "valid.csv"]


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


class ToyEmbedder(Embedder):
    """Deterministic log band energies of 1 s windows at 16 kHz; counts its windows."""

    name = "toy-bands-v1"
    window_seconds = 1.0
    sample_rate = 16000
    dim = 8

    def __init__(self):
        self.windows = 0

    def embed(self, windows):
        x = self._check_windows(windows).astype(np.float64)
        self.windows += len(x)
        spec = np.abs(np.fft.rfft(x, axis=1)) ** 2
        bands = [b.mean(axis=1) for b in np.array_split(spec, self.dim, axis=1)]
        return np.log10(np.stack(bands, axis=1) + 1e-6).astype(np.float32)


# ------------------------------------------------------------------- BirdNET, the woodcock
@pytest.fixture(scope="module")
def woodcock_fit(birdnet, tmp_path_factory, song_table):
    """One fit on the built-in 28 clips (12 song, 4 call, 12 absent), with the zero-shot."""
    base = tmp_path_factory.mktemp("embedding_training")
    run = fit_embedding_classifier(
        song_table,
        base / "run",
        embedder=birdnet,
        cache_dir=base / "cache",
        zero_shot_species=WOODCOCK,
        progress=False,
        extra_config={"labels": "built-in"},
    )
    return base, run


def test_training_on_the_woodcock_data_writes_the_run_folder(woodcock_fit, song_table):
    base, run = woodcock_fit
    folder = base / "run"
    assert sorted(p.name for p in folder.iterdir()) == RUN_FILES
    assert (folder / "best.pt").stat().st_ino == (folder / "last.pt").stat().st_ino

    config = json.loads((folder / "config.json").read_text())
    assert config["method"] == "embeddings" and config["labels"] == "built-in"
    assert config["embedder"]["name"] == "birdnet-v2.4-global-6k-fp32"
    assert len(config["embedder"]["sha256"]) == 64
    assert config["label_dict"] == {"0": "absent", "1": "present"}
    assert config["positive_class"] == "present" and config["multi_label"] is False
    assert config["zero_shot"] == {"species": WOODCOCK, "threshold": 0.1}
    assert config["clip_seconds"] == 2.0 and config["n_train"] + config["n_valid"] == 28

    history = pd.read_csv(folder / "history.csv")
    assert len(history) == 1 and history["epoch"].tolist() == [1]
    for col in [
        "train_loss",
        "train_accuracy",
        "valid_loss",
        "valid_accuracy",
        "valid_precision",
        "valid_recall",
        "valid_f1",
        "valid_f1_present",
        "valid_map",
        "valid_ap_absent",
        "valid_ap_present",
        "zero_shot_ap",
        "zero_shot_f1",
        "seconds",
    ]:
        assert col in history.columns, col
    row = history.iloc[0]
    assert 0 <= row["valid_f1"] <= 1 and 0 < row["valid_map"] <= 1
    assert row["valid_map"] == pytest.approx((row["valid_ap_absent"] + row["valid_ap_present"]) / 2)
    assert 0 <= row["zero_shot_ap"] <= 1 and run.zero_shot["species"] == WOODCOCK

    train, valid = pd.read_csv(folder / "train.csv"), pd.read_csv(folder / "valid.csv")
    assert len(train) + len(valid) == 28 and not set(train["filename"]) & set(valid["filename"])
    assert list(train.columns) == list(song_table.df.columns)  # the clip table's own rows

    bundle = ModelBundle.load(folder / "best.pt")
    assert isinstance(bundle, EmbeddingBundle)
    assert bundle.metrics["valid_f1"] == pytest.approx(row["valid_f1"])
    assert bundle.extra["zero_shot"]["ap"] == pytest.approx(row["zero_shot_ap"])
    assert bundle.thresholds == {"present": 0.5} and bundle.positive_class == "present"
    # one model run for both the embeddings and the species scores of the 28 clips
    assert run.cache_stats["model_windows"] == 28


def test_a_refit_with_other_labels_runs_no_model(woodcock_fit, small_data, tmp_path):
    base, _ = woodcock_fit
    cache = EmbeddingCache(base / "cache")
    three = prepare_labels(small_data, "sound_type")  # call / na / song instead of 2 classes
    run = fit_embedding_classifier(
        three,
        tmp_path / "run3",
        embedder=BirdNETEmbedder(),  # a new object: its model is never even loaded
        cache_dir=cache,
        zero_shot_species=WOODCOCK,
        seed=5,  # another split, too
        progress=False,
    )
    assert cache.model_calls == 0 and cache.windows_computed == 0 and cache.misses == 0
    assert cache.hits == 2 * 28  # embeddings and species scores of every clip
    assert run.cache_stats["model_windows"] == 0
    assert not run.bundle.embedder.loaded
    assert run.bundle.class_names == ["call", "na", "song"]
    assert run.bundle.positive_class == "song"  # the last class of three
    assert "valid_ap_call" in run.record and "zero_shot_ap" in run.record


# ------------------------------------------------------------- window tables, toy model
def _tone(t: np.ndarray, freq: float) -> np.ndarray:
    return 0.3 * np.sin(2 * np.pi * freq * t)


@pytest.fixture
def window_table(tmp_path) -> pd.DataFrame:
    """Two 12 s recordings in 1 s windows: a low tone, a high tone, both, or only noise."""
    sr = 16000
    rng = np.random.default_rng(0)
    pattern = ["low", "high", "both", "none"] * 3
    rows = []
    for k in range(2):
        t = np.arange(sr) / sr
        parts = []
        for i, kind in enumerate(pattern):
            x = 0.02 * rng.normal(size=sr)
            if kind in ("low", "both"):
                x += _tone(t, 300 + 20 * i)
            if kind in ("high", "both"):
                x += _tone(t, 5000 + 40 * i)
            parts.append(x)
            low, high = kind in ("low", "both"), kind in ("high", "both")
            rows.append((str(tmp_path / f"rec{k}.wav"), float(i), float(i + 1), low, high))
        sf.write(str(tmp_path / f"rec{k}.wav"), np.concatenate(parts), sr)
    table = pd.DataFrame(rows, columns=["file", "start_time", "end_time", "low", "high"])
    return table.astype({"low": int, "high": int})


def test_a_window_table_with_empty_and_double_windows_trains_multi_label(window_table, tmp_path):
    toy = ToyEmbedder()
    run = fit_embedding_classifier(
        window_table, tmp_path / "run", embedder=toy, cache_dir=tmp_path / "c", progress=False
    )
    bundle = run.bundle
    assert bundle.multi_label and bundle.class_names == ["low", "high"]
    assert bundle.thresholds == {"low": 0.5, "high": 0.5}
    assert run.record["valid_f1"] == 1.0 and run.record["valid_map"] == 1.0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["table"] == "windows" and config["clip_seconds"] == 1.0
    valid = pd.read_csv(tmp_path / "run" / "valid.csv")
    assert list(valid.columns) == ["file", "start_time", "end_time", "low", "high"]

    loaded = EmbeddingBundle.load(tmp_path / "run" / "best.pt", embedder=toy)
    loaded.cache = tmp_path / "c"
    scores = loaded.score_recording(window_table["file"].iloc[0])
    assert list(scores.columns) == ["file", "start_time", "end_time", "low", "high"]
    assert len(scores) == 12
    hits = (scores[["low", "high"]].to_numpy() >= 0.5).astype(int)
    np.testing.assert_array_equal(hits, window_table[["low", "high"]].to_numpy()[:12])
    before = toy.windows
    loaded.score_recording(window_table["file"].iloc[0])
    assert toy.windows == before  # the same windows again: from the cache


def test_window_table_csv_and_class_subset(window_table, tmp_path):
    from woodcock_widgets.tables.windows import write_window_table

    csv = write_window_table(window_table, tmp_path / "windows.csv")
    run = fit_embedding_classifier(
        csv,
        tmp_path / "run",
        embedder=ToyEmbedder(),
        classes=["high"],
        cache_dir=tmp_path / "c",
        progress=False,
    )
    assert run.bundle.class_names == ["high"] and run.bundle.multi_label
    assert run.bundle.positive_class == "high"


def test_a_given_split_is_used_as_is(song_table, tmp_path, small_data):
    train, valid = split_train_valid(song_table.df, CODE_COLUMN, 0.75, seed=3)

    class ClipToy(ToyEmbedder):
        name = "toy-clips-v1"
        window_seconds = 2.0

    run = fit_embedding_classifier(
        song_table,
        tmp_path / "run",
        embedder=ClipToy(),
        split=(train.reset_index(drop=True), valid.reset_index(drop=True)),
        cache_dir=tmp_path / "c",
        progress=False,
    )
    written = pd.read_csv(tmp_path / "run" / "valid.csv")
    assert written["filename"].tolist() == valid["filename"].tolist()
    assert json.loads((tmp_path / "run" / "config.json").read_text())["split_given"] is True
    assert run.record["train_accuracy"] >= 0.5


def test_clear_errors(window_table, song_table, tmp_path):
    toy = ToyEmbedder()
    kw = dict(embedder=toy, cache_dir=tmp_path / "c", progress=False)
    fit_embedding_classifier(window_table, tmp_path / "run", **kw)
    with pytest.raises(TrainingError, match="already holds a run"):
        fit_embedding_classifier(window_table, tmp_path / "run", **kw)
    with pytest.raises(EmbeddingError, match="zero-shot baseline needs BirdNET"):
        fit_embedding_classifier(window_table, tmp_path / "r2", zero_shot_species=WOODCOCK, **kw)
    with pytest.raises(TrainingError, match="exactly one class per window"):
        fit_embedding_classifier(window_table, tmp_path / "r3", multi_label=False, **kw)
    with pytest.raises(TrainingError, match="single-label"):
        fit_embedding_classifier(song_table, tmp_path / "r4", multi_label=True, **kw)
    with pytest.raises(TrainingError, match="not in the table"):
        fit_embedding_classifier(song_table, tmp_path / "r5", classes=["present", "x"], **kw)
    with pytest.raises(TrainingError, match="lacks"):
        fit_embedding_classifier(pd.DataFrame({"a": [1]}), tmp_path / "r6", **kw)
    with pytest.raises(EmbeddingError, match="unknown embedder"):
        fit_embedding_classifier(window_table, tmp_path / "r7", embedder="perch")
    assert not (tmp_path / "r2").exists() and not (tmp_path / "r7").exists()


def test_an_unknown_zero_shot_species_fails_before_any_embedding(birdnet, song_table, tmp_path):
    with pytest.raises(EmbeddingError, match="did you mean"):
        fit_embedding_classifier(
            song_table,
            tmp_path / "run",
            embedder=birdnet,
            cache_dir=tmp_path / "c",
            zero_shot_species="American Woodcok",
        )
    assert not Path(tmp_path / "c").exists() and not (tmp_path / "run").exists()


def test_cross_validated_C_regularizes_noise_and_not_signal():
    """choose_C looks at the training rows only: pure noise gets a strong penalty, a clean
    signal a weak one."""
    from woodcock_widgets.ml.shallow_selection import CV_GRID, choose_C

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 40))
    noise = rng.integers(0, 2, 60)
    c_noise, losses = choose_C(X, noise, ["a", "b"])
    assert set(losses) == set(CV_GRID) and losses[c_noise] == min(losses.values())
    assert c_noise <= 0.01
    signal = (X[:, 0] > 0).astype(int)
    c_signal, _ = choose_C(X, signal, ["a", "b"])
    assert c_signal >= 1.0


def test_a_fit_with_C_cv_records_the_chosen_C(window_table, tmp_path):
    from woodcock_widgets.ml.shallow_selection import CV_GRID

    run = fit_embedding_classifier(
        window_table, tmp_path / "run", embedder=ToyEmbedder(), cache_dir=tmp_path / "c",
        C="cv", progress=False,
    )  # fmt: skip
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["head"]["C"] == "cv"
    assert run.record["head_C"] in CV_GRID and run.bundle.head.C == run.record["head_C"]
    losses = {c: run.record[f"cv_log_loss_C{c:g}"] for c in CV_GRID}
    assert losses[run.record["head_C"]] == min(losses.values())
