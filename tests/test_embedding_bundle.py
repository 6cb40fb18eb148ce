"""Embedding bundles: safe round trip, dispatch from ModelBundle.load, the CNN embedder, and
prediction, detections, Raven export and review on a real recording.

The BirdNET tests run the real model. Without the ``birdnet`` extra they are skipped, except on
CI (env ``CI=true``), where a missing extra is a failure. The rest uses a tiny deterministic
embedder or the tiny CNN run of ``conftest.py``.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from woodcock_widgets.errors import BundleError, EmbeddingError
from woodcock_widgets.ml.bundle import ModelBundle
from woodcock_widgets.ml.embedders import BirdNETEmbedder, BundleEmbedder, Embedder
from woodcock_widgets.ml.embedding_bundle import EmbeddingBundle, build_embedder
from woodcock_widgets.ml.embedding_cache import EmbeddingCache, file_sha256
from woodcock_widgets.ml.predict import (
    clip_windows,
    detect,
    detection_thresholds,
    predict,
    predict_recording,
    read_raven_table,
    stream_recording,
    to_raven_table,
    write_raven_table,
)
from woodcock_widgets.ml.shallow import ShallowClassifier

INSTALL = "pip install 'woodcock-widgets[birdnet]'"
WOODCOCK = "Scolopax minor_American Woodcock"


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


class ToyEmbedder(Embedder):
    """Deterministic log band energies of 1 s windows at 16 kHz."""

    name = "toy-bands-v1"
    window_seconds = 1.0
    sample_rate = 16000
    dim = 8

    def embed(self, windows):
        x = self._check_windows(windows).astype(np.float64)
        spec = np.abs(np.fft.rfft(x, axis=1)) ** 2
        bands = [b.mean(axis=1) for b in np.array_split(spec, self.dim, axis=1)]
        return np.log10(np.stack(bands, axis=1) + 1e-6).astype(np.float32)


def _toy_bundle(seed: int = 0) -> tuple[EmbeddingBundle, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(40, 8)).astype(np.float32)
    y = (x[:, 0] + 0.3 * rng.normal(size=40) > 0).astype(int)
    head = ShallowClassifier(["absent", "present"]).fit(x, y)
    bundle = EmbeddingBundle.create(
        head,
        ToyEmbedder(),
        2.0,
        metrics={"valid_f1": 0.75, "valid_map": float("nan")},
        extra={"note": "toy"},
        thresholds={"present": 0.4},
        positive_class="present",
        cache=False,
    )
    return bundle, x


# ------------------------------------------------------------------------- round trip
def test_bundle_round_trips_through_weights_only_load_and_model_bundle_dispatch(tmp_path):
    bundle, x = _toy_bundle()
    path = bundle.save(tmp_path / "best.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt"]  # atomic: no temp file left

    raw = torch.load(path, weights_only=True)  # plain data only: no code can run on load
    assert raw["kind"] == "embeddings" and "head" in raw and "meta_json" in raw

    for loaded in (ModelBundle.load(path), EmbeddingBundle.load(path, embedder=ToyEmbedder())):
        assert isinstance(loaded, EmbeddingBundle)
        assert loaded.class_names == ["absent", "present"]
        assert loaded.label_dict == {0: "absent", 1: "present"}
        assert loaded.thresholds == {"present": 0.4} and loaded.positive_class == "present"
        assert loaded.multi_label is False and loaded.extra == {"note": "toy"}
        assert loaded.metrics["valid_f1"] == 0.75 and np.isnan(loaded.metrics["valid_map"])
        assert loaded.preprocessing.clip_seconds == 2.0
        assert loaded.preprocessing.sample_rate == 16000
        assert loaded.embedder_info["name"] == "toy-bands-v1"
        assert loaded.embedder_info["type"] == "custom"
        np.testing.assert_allclose(
            loaded.head.predict_proba(x), bundle.head.predict_proba(x), atol=1e-12
        )
        with torch.no_grad():  # the model is the head as a linear layer: logits
            logits = loaded.model(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(
            torch.softmax(torch.from_numpy(logits), 1).numpy(),
            bundle.head.predict_proba(x),
            atol=1e-5,
        )

    plain = ModelBundle.load(path)
    with pytest.raises(EmbeddingError, match=r"cannot rebuild.*embedder=\.\.\."):
        plain.embedder  # noqa: B018 - a custom embedder has to be handed over

    class Other(ToyEmbedder):
        name = "toy-bands-v2"

    with pytest.raises(EmbeddingError, match="differs from the one the classifier"):
        EmbeddingBundle.load(path, embedder=Other())


def test_cnn_bundles_and_damaged_files_are_refused(tmp_path, trained_run):
    with pytest.raises(BundleError, match="CNN bundle, not an embedding bundle"):
        EmbeddingBundle.load(trained_run / "best.pt")
    bundle, _ = _toy_bundle()
    path = bundle.save(tmp_path / "b.pt")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(BundleError, match="corrupt or not a bundle"):
        ModelBundle.load(path)
    payload = bundle.payload()
    payload["head"] = {"kind": "something else"}
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(BundleError, match="damaged embedding bundle"):
        ModelBundle.load(tmp_path / "bad.pt")


# ------------------------------------------------------------------------ CNN embedder
def test_bundle_embedder_gives_the_avgpool_output_of_the_trained_cnn(trained_run, small_data):
    from woodcock_widgets.audio.clip import Audio
    from woodcock_widgets.audio.images import model_image, stack_images

    cnn = ModelBundle.load(trained_run / "best.pt")
    emb = BundleEmbedder(trained_run / "best.pt")
    pre = cnn.preprocessing
    assert (emb.dim, emb.window_seconds, emb.sample_rate) == (512, 2.0, pre.sample_rate)
    assert emb.name.startswith("bundle-resnet18-") and len(emb.name) == len("bundle-resnet18-") + 16
    assert BundleEmbedder(cnn).name == emb.name  # same weights, same name (cache key)

    files = pd.read_csv(small_data)["filename"].head(3)
    folder = Path(small_data).parent
    clips = [Audio.from_file(folder / f, sample_rate=pre.sample_rate) for f in files]
    windows = np.stack([c.fix_length(pre.clip_seconds).samples for c in clips])
    features = emb.embed(windows)
    assert features.shape == (3, 512) and features.dtype == np.float32
    np.testing.assert_array_equal(emb.embed(windows), features)

    # the documented tensor: what the network's avgpool gives, flattened, for the same input
    seen = []
    handle = cnn.model.avgpool.register_forward_hook(lambda m, i, o: seen.append(o.flatten(1)))
    images = [model_image(pre.image(Audio(w, pre.sample_rate)), pre.image_shape) for w in windows]
    with torch.no_grad():
        cnn.model.eval()(stack_images(images, pre.channels, channels_last=False))
    handle.remove()
    np.testing.assert_allclose(features, seen[0].numpy(), rtol=1e-4, atol=1e-5)
    assert isinstance(cnn.model.fc, torch.nn.Linear)  # the bundle's own model is untouched

    with pytest.raises(EmbeddingError, match="holds no CNN"):
        BundleEmbedder(_toy_bundle()[0])


def test_a_head_on_cnn_features_carries_the_cnn_inside_its_bundle(
    trained_run, song_table, tmp_path
):
    from woodcock_widgets.workflow.embedding_training import fit_embedding_classifier

    run = fit_embedding_classifier(
        song_table,
        tmp_path / "run",
        embedder=trained_run / "best.pt",
        cache_dir=tmp_path / "cache",
        progress=False,
    )
    assert run.bundle.embedder_info["type"] == "bundle"
    assert run.record["epoch"] == 1 and 0.0 <= run.record["valid_f1"] <= 1.0
    valid = pd.read_csv(tmp_path / "run" / "valid.csv")
    loaded = ModelBundle.load(tmp_path / "run" / "best.pt")
    assert isinstance(loaded, EmbeddingBundle) and loaded.cnn is not None
    loaded.cache = tmp_path / "cache"
    rebuilt = loaded.embedder  # from the weights inside the file, not from trained_run
    assert isinstance(rebuilt, BundleEmbedder) and rebuilt.name == run.bundle.embedder.name
    np.testing.assert_allclose(
        loaded.score_clips(valid), run.bundle.score_clips(valid), rtol=1e-5, atol=1e-6
    )


# ----------------------------------------------------------------- BirdNET on real audio
@pytest.fixture(scope="module")
def birdnet_run(birdnet, tmp_path_factory, song_table):
    from woodcock_widgets.workflow.embedding_training import fit_embedding_classifier

    base = tmp_path_factory.mktemp("birdnet_bundle")
    run = fit_embedding_classifier(
        song_table,
        base / "run",
        embedder=birdnet,
        cache_dir=base / "cache",
        zero_shot_species=WOODCOCK,
        progress=False,
    )
    return run


@pytest.mark.real_audio
def test_predict_on_a_real_recording_detects_and_exports_raven(
    birdnet_run, real_audio, tmp_path, monkeypatch
):
    monkeypatch.setenv("WOODCOCK_CACHE", str(tmp_path / "kitcache"))
    bundle = ModelBundle.load(birdnet_run.run_dir / "best.pt")  # as `predict --model` does
    assert isinstance(bundle, EmbeddingBundle)
    bundle.use_embedder(birdnet_run.bundle.embedder)  # the loaded model, to save a load
    recording = real_audio / "birds_10s.wav"
    scores = predict(bundle, [recording])
    assert list(scores.columns) == ["file", "start_time", "end_time", "absent", "present"]
    duration = sf.info(str(recording)).duration
    assert [tuple(r) for r in scores[["start_time", "end_time"]].to_numpy()] == clip_windows(
        duration, 2.0
    )
    p = scores[["absent", "present"]].to_numpy()
    assert ((p >= 0) & (p <= 1)).all() and np.allclose(p.sum(axis=1), 1, atol=1e-5)
    assert (scores["file"] == str(recording)).all()
    assert list((tmp_path / "kitcache" / "embeddings").iterdir())  # default cache, from env

    again = EmbeddingCache(tmp_path / "kitcache" / "embeddings")
    bundle.cache = again
    pd.testing.assert_frame_equal(predict_recording(bundle, recording), scores)
    streamed = stream_recording(bundle, recording, overlap=0.0, file_label="x.wav")
    np.testing.assert_allclose(streamed[["absent", "present"]].to_numpy(), p, atol=1e-6)
    assert (streamed["file"] == "x.wav").all()
    assert again.model_calls == 0 and again.windows_computed == 0  # all from the cache

    thresholds = detection_thresholds(bundle)
    assert thresholds == {"present": 0.5}
    dets = detect(scores, {"present": 0.0})  # every window, so the table is not empty
    table = to_raven_table(dets, high_freq=bundle.preprocessing.sample_rate / 2)
    back = read_raven_table(write_raven_table(table, tmp_path / "birds.selections.txt"))
    assert len(back) == len(scores) and back["High Freq (Hz)"].iloc[0] == 24000.0
    assert set(back["Annotation"]) == {"present"}


@pytest.mark.real_audio
def test_loading_and_scoring_never_touch_the_network(birdnet_run, real_audio, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    bundle = EmbeddingBundle.load(birdnet_run.run_dir / "best.pt")
    bundle.cache = False  # a fresh temporary cache: the model really runs
    out = bundle.score_recording(real_audio / "aru_1.wav")
    assert out.shape == (2, 5)  # 3 s at 2 s windows: 0-2 and 2-4 (the end padded)
    assert isinstance(bundle.embedder, BirdNETEmbedder)


def test_birdnet_bundle_records_the_model_file_and_checks_it(birdnet_run, birdnet):
    info = birdnet_run.bundle.embedder_info
    assert info["type"] == "birdnet" and info["name"] == birdnet.name
    assert info["sha256"] == file_sha256(birdnet.model_path)
    assert (info["window_seconds"], info["sample_rate"], info["dim"]) == (3.0, 48000, 1024)
    assert "CC BY-NC-SA 4.0" in info["licence"]
    with pytest.raises(EmbeddingError, match="SHA-256 0000000000000000"):
        build_embedder({**info, "sha256": "0" * 64})


def test_review_scores_the_validation_clips_as_training_did(birdnet_run):
    from woodcock_widgets.ml.review import score_clips

    valid = pd.read_csv(birdnet_run.run_dir / "valid.csv")
    bundle = birdnet_run.bundle
    clip_scores = score_clips(bundle, valid, label_column="woodcock_song")
    assert clip_scores.scores.shape == (len(valid), 2)
    history = pd.read_csv(birdnet_run.run_dir / "history.csv")
    accuracy = float((clip_scores.scores.argmax(1) == clip_scores.y_true).mean())
    assert accuracy == pytest.approx(history["valid_accuracy"].iloc[0])
