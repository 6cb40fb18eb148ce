"""The labeling loop: proposals, strategies, answers with provenance, rounds, no re-embedding.

A tiny deterministic embedder (band energies of 1 s windows) over a folder of synthetic
recordings, where a 1.5 kHz tone in a window is the class ``tone``, keeps these tests fast;
the benchmark (``benchmarks/labeling_loop.py``) runs BirdNET on real recordings.
"""

from __future__ import annotations

import math
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from woodcock_widgets.errors import LabelError
from woodcock_widgets.ml.embedding_cache import EmbeddingCache
from woodcock_widgets.ml.shallow import ShallowClassifier
from woodcock_widgets.tables.windows import write_window_table
from woodcock_widgets.workflow.label_store import LabelStore, LabelStoreLocked, window_key
from woodcock_widgets.workflow.labeling_loop import LabelingLoop, Query
from woodcock_widgets.workflow.labeling_source import window_grid
from woodcock_widgets.workflow.proposals import propose_rows

ROOT = Path(__file__).resolve().parents[1]

# also run in a subprocess by the kill test, hence a string
TOY = '''
import numpy as np
from woodcock_widgets.ml.embedders import Embedder


class ToyEmbedder(Embedder):
    """Log energies of 12 frequency bands of 1 s windows at 16 kHz; counts its calls."""

    name = "toy-labeling-v1"
    window_seconds = 1.0
    sample_rate = 16000
    dim = 12

    def __init__(self):
        self.calls = 0
        self.windows = 0

    def embed(self, windows):
        x = self._check_windows(windows).astype(np.float64)
        self.calls += 1
        self.windows += len(x)
        spec = np.abs(np.fft.rfft(x, axis=1)) ** 2
        bands = np.array_split(spec[:, :4000], 12, axis=1)
        return np.log10(1e-6 + np.stack([b.mean(axis=1) for b in bands], 1)).astype(np.float32)
'''
exec(TOY)

SR = 16000


def make_folder(folder: Path, n_files: int = 6, seconds: int = 8, seed: int = 0) -> pd.DataFrame:
    """Recordings of 1 s segments: a 1.5 kHz tone (class ``tone``), a 300 Hz hum, or noise.

    Returns the truth: ``file, start_time, end_time, tone, hum`` per 1 s window.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(SR) / SR
    rows = []
    for i in range(n_files):
        path = folder / f"rec_{i:02d}.wav"  # sorted as the loop sorts files
        parts = []
        for s in range(seconds):
            kind = rng.choice(["tone", "hum", "noise"], p=[0.3, 0.3, 0.4])
            x = 0.02 * rng.normal(size=SR)
            if kind == "tone":
                x += rng.uniform(0.05, 0.4) * np.sin(2 * np.pi * rng.uniform(1400, 1600) * t)
            elif kind == "hum":
                x += rng.uniform(0.05, 0.4) * np.sin(2 * np.pi * rng.uniform(250, 350) * t)
            parts.append(x)
            rows.append((str(path), float(s), s + 1.0, int(kind == "tone"), int(kind == "hum")))
        sf.write(path, np.concatenate(parts).astype(np.float32), SR)
    return pd.DataFrame(rows, columns=["file", "start_time", "end_time", "tone", "hum"])


@pytest.fixture()
def folder(tmp_path):
    truth = make_folder(tmp_path / "audio")
    return tmp_path / "audio", truth


def _loop(tmp_path, folder, embedder=None, classes=("tone",), **kw) -> LabelingLoop:
    return LabelingLoop(
        folder,
        1.0,
        embedder or ToyEmbedder(),  # noqa: F821 - defined by exec(TOY)
        tmp_path / "labels.csv",
        tmp_path / "run",
        list(classes),
        cache=kw.pop("cache", EmbeddingCache(tmp_path / "cache")),
        progress=False,
        **kw,
    )


def _start(truth, n=3, cls="tone") -> pd.DataFrame:
    return truth[truth[cls] == 1].head(n)[["file", "start_time", "end_time", cls]]


def _answer_page(loop, page, truth, cls="tone"):
    t = truth.set_index(["file", "start_time"])[cls]
    for row in page.to_dict("records"):
        loop.record(row, "present" if t[(row["file"], row["start_time"])] else "absent")


# ------------------------------------------------------------------- windows
def test_the_folder_becomes_a_grid_of_windows(folder, tmp_path):
    audio, truth = folder
    grid = window_grid(audio, 1.0)
    pd.testing.assert_frame_equal(grid, truth[["file", "start_time", "end_time"]])
    assert len(window_grid(audio, 1.0, step=0.5)) == 6 * 15
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(SR // 2, np.float32), SR)
    assert window_grid([short], 1.0)[["start_time", "end_time"]].values.tolist() == [[0, 0.5]]
    (tmp_path / "empty").mkdir()
    with pytest.raises(LabelError, match="no audio"):
        window_grid(tmp_path / "empty", 1.0)


# ----------------------------------------------------------------- proposals
def test_strategies_on_known_scores():
    scores = np.linspace(0, 1, 101)
    cand = np.arange(0, 101, 2)  # even rows only
    rows, _ = propose_rows(scores, cand, 5, "top")
    assert rows.tolist() == [100, 98, 96, 94, 92]
    rows, _ = propose_rows(scores, cand, 4, "uncertain", threshold=0.3)
    assert rows[0] == 30 and set(rows[1:3]) == {28, 32} and rows[3] in (26, 34)
    rows, bins = propose_rows(scores, cand, 10, "stratified", bins=5)
    assert sorted(set(bins.tolist())) == [0, 1, 2, 3, 4]  # every bin covered
    assert np.bincount(bins).tolist() == [2, 2, 2, 2, 2]
    assert (np.clip(np.floor(scores[rows] * 5), 0, 4) == bins).all()
    rows, _ = propose_rows(scores, cand, 200, "random", rng=np.random.default_rng(1))
    assert sorted(rows.tolist()) == cand.tolist()  # never more than the candidates
    with pytest.raises(LabelError, match="unknown strategy"):
        propose_rows(scores, cand, 5, "best")


def test_stratified_gives_an_empty_bins_share_to_the_others():
    scores = np.r_[np.full(50, 0.05), np.full(3, 0.95)]
    rows, bins = propose_rows(scores, np.arange(53), 10, "stratified", bins=5)
    assert len(rows) == 10 and (bins == 4).sum() == 3 and (bins == 0).sum() == 7


def test_proposals_skip_answered_windows_and_follow_the_strategy(folder, tmp_path):
    audio, truth = folder
    with _loop(tmp_path, audio, start=_start(truth)) as loop:
        started = set(truth[truth["tone"] == 1].index[:3])
        page = loop.propose(10, "top")
        assert not started & set(page["window"])
        _answer_page(loop, page.head(5), truth)
        loop.record(page.iloc[5], "skip")
        answered = started | set(page["window"].head(6))
        loop.refit()
        rest = loop.propose(100, "top")
        assert not answered & set(rest["window"]) and len(rest) == 48 - 9  # all the others
        free = np.array(sorted(set(range(48)) - answered))
        s = loop.scores[:, 0]
        top = loop.propose(5, "top")
        assert top["score"].tolist() == pytest.approx(sorted(s[free], reverse=True)[:5])
        unc = loop.propose(5, "uncertain")
        nearest = np.sort(np.abs(s[free] - loop.threshold))[:5]
        assert np.sort(np.abs(unc["score"] - loop.threshold)) == pytest.approx(nearest)
        strat = loop.propose(10, "stratified", seed=0)
        assert (strat["bin"] >= 0).all() and strat["bin"].nunique() >= 2
        assert list(strat.columns) == [
            "window", "file", "start_time", "end_time", "score", "class", "strategy", "round",
            "bin",
        ]  # fmt: skip


# ------------------------------------------------------------------- answers
def test_record_keeps_provenance_and_relabeling_keeps_history(folder, tmp_path):
    audio, truth = folder
    with _loop(tmp_path, audio, start=_start(truth), labeler="ana") as loop:
        page = loop.propose(4, "uncertain")
        row = loop.record(page.iloc[0], "present")
        assert (row["round"], row["strategy"], row["labeler"]) == (0, "uncertain", "ana")
        assert row["score"] == pytest.approx(page.iloc[0]["score"])
        assert row["labeled_at"].endswith("+00:00")
        loop.record(page.iloc[0], "absent", strategy="review")
        first = page.iloc[0]
        hist = loop.store.history(first["file"], first["start_time"], first["end_time"])
        assert list(hist["present"]) == ["tone", ""] and list(hist["strategy"]) == [
            "uncertain",
            "review",
        ]
        key = (first["file"], first["start_time"])
        current = loop.store.current().set_index(["file", "start_time"])
        assert current.loc[key, "label"] == 0.0
        manual = loop.record(int(page.iloc[1]["window"]), "present", strategy=None)
        assert manual["strategy"] == "uncertain"  # it was on the page
        off = loop.windows.drop(index=page["window"]).iloc[0]
        other = loop.record((off["file"], off["start_time"], off["end_time"]), "absent")
        assert other["strategy"] == "manual" and other["round"] == 0


def test_answers_for_several_classes(folder, tmp_path):
    audio, truth = folder
    with _loop(tmp_path, audio, classes=("tone", "hum")) as loop:
        w = loop.windows.iloc[0]
        loop.record(w, ["hum"])  # the class chooser: hum heard, tone not
        assert loop.store.labels("tone") and loop.store.labels("hum")
        row = loop.record(1, {"tone": 1})
        assert row["classes"] == "tone" and row["present"] == "tone"
        loop.record(2, "present", class_name="hum")
        assert len(loop.store.labels("hum")) == 2 and len(loop.store.labels("tone")) == 2
        with pytest.raises(LabelError, match="answer must be one of"):
            loop.record(3, "maybe")
        with pytest.raises(LabelError, match="unknown class"):
            loop.record(3, ["bird"])
        many = loop.record_many([4, 5, 6], "absent", class_name="tone")
        assert [r["seq"] for r in many] == [4, 5, 6]


# -------------------------------------------------------------------- rounds
def test_a_round_refits_saves_its_head_and_metrics_and_learns(folder, tmp_path):
    audio, truth = folder
    from sklearn.metrics import average_precision_score

    with _loop(tmp_path, audio, start=_start(truth)) as loop:
        assert loop.round == 0
        for r in range(3):
            page = loop.propose(8, "top")
            _answer_page(loop, page, truth)
            m = loop.refit()
            assert m["round"] == r and loop.round == r + 1
            hit = truth.loc[page["window"], "tone"].mean()
            assert m["tone/page_precision"] == pytest.approx(hit)
            assert m["tone/page_strategy"] == "top"
        assert m["tone/n_labels"] == 3 + 3 * 8
        assert m["tone/n_positive"] + m["tone/n_negative"] == m["tone/n_labels"]
        assert 0.5 <= m["tone/validation_ap"] <= 1 + 1e-9 and m["tone/scorer"].startswith("model")
        assert average_precision_score(truth["tone"], loop.scores[:, 0]) > 0.9
        folder_r = tmp_path / "run" / "rounds" / "round_002"
        assert {p.name for p in folder_r.iterdir()} == {"head.pt", "metrics.json", "labels.csv"}
        state = torch.load(folder_r / "head.pt", weights_only=True)
        head = ShallowClassifier.from_state(state["tone"])
        assert np.allclose(head.predict_proba(loop.X)[:, 0], loop.scores[:, 0], atol=1e-5)
        table = pd.read_csv(tmp_path / "run" / "rounds.csv")
        assert table["round"].tolist() == [0, 1, 2]
        assert len(loop.metrics_table()) == 3


def test_a_round_after_the_first_needs_no_embedding_inference(folder, tmp_path):
    audio, truth = folder
    emb = ToyEmbedder()  # noqa: F821
    cache = EmbeddingCache(tmp_path / "cache")
    with _loop(tmp_path, audio, embedder=emb, cache=cache, start=_start(truth)) as loop:
        loop.X  # noqa: B018 - the first pass
        calls, windows, model_calls = emb.calls, emb.windows, cache.model_calls
        assert windows == 48 and model_calls == calls > 0
        for _ in range(3):
            _answer_page(loop, loop.propose(5, "top"), truth)
            m = loop.refit()
            loop.propose(5, "stratified")
        assert (emb.calls, emb.windows, cache.model_calls) == (calls, windows, model_calls)
        assert m["embedding_model_calls"] == model_calls
    # a new session on the same folder reads every embedding from the disk cache
    emb2, cache2 = ToyEmbedder(), EmbeddingCache(tmp_path / "cache")  # noqa: F821
    with _loop(tmp_path, audio, embedder=emb2, cache=cache2) as loop:
        loop.refit()
        assert emb2.calls == 0 and cache2.model_calls == 0 and cache2.hits == 48
        assert loop.round == 4  # continues after the rounds already in the run folder


def test_positives_without_negatives_use_background_windows(tmp_path):
    truth = make_folder(tmp_path / "audio", n_files=20, seed=3)
    with _loop(tmp_path, tmp_path / "audio", start=_start(truth, 3)) as loop:
        m = loop.refit()
        assert m["tone/scorer"] == "model+20 background"
        assert m["tone/n_labels"] == 3 and math.isnan(m["tone/validation_ap"])
        page = loop.propose(10, "top")
        assert truth["tone"].mean() < 0.35 and truth.loc[page["window"], "tone"].mean() >= 0.7
        _answer_page(loop, page, truth)  # once real negatives are in, fewer background ones
        m = loop.refit()
        n_bg = max(20, m["tone/n_positive"]) - m["tone/n_negative"]
        assert n_bg > 0 and loop.score_source["tone"] == f"model+{n_bg} background"


def test_a_query_clip_starts_a_similarity_search(folder, tmp_path):
    audio, truth = folder
    pos = truth[truth["tone"] == 1].iloc[0]
    q = Query(pos["file"], pos["start_time"], pos["end_time"])
    with _loop(tmp_path, audio, start=q) as loop:
        page = loop.propose(8, "top")
        assert loop.score_source["tone"] == "query"
        assert truth.loc[page["window"], "tone"].mean() >= 0.75
    # a whole file as query (its windows are pooled)
    clip = tmp_path / "query.wav"
    t = np.arange(SR * 2) / SR
    sf.write(clip, (0.3 * np.sin(2 * np.pi * 1500 * t)).astype(np.float32), SR)
    (tmp_path / "labels.csv").unlink()
    with _loop(tmp_path, audio, start=clip) as loop:
        page = loop.propose(8, "top")
        assert truth.loc[page["window"], "tone"].mean() >= 0.75


def test_start_examples_are_recorded_once(folder, tmp_path):
    audio, truth = folder
    with _loop(tmp_path, audio, start=_start(truth)) as loop:
        log = loop.store.log()
        assert len(log) == 3 and set(log["strategy"]) == {"start"} and set(log["round"]) == {0}
    with _loop(tmp_path, audio, start=_start(truth)) as loop:  # the notebook run again
        assert len(loop.store) == 3
    write_window_table(_start(truth, 4), tmp_path / "start.csv")
    with _loop(tmp_path, audio, start=tmp_path / "start.csv") as loop:  # or from its CSV
        assert len(loop.store) == 4
    bad = _start(truth).rename(columns={"tone": "bird"})
    with pytest.raises(LabelError, match="start table"):
        _loop(tmp_path, audio, start=bad)
    with _loop(tmp_path, audio):  # the failed loop released its lock
        pass


def test_a_second_loop_on_the_same_label_table_is_refused(folder, tmp_path):
    audio, _ = folder
    with _loop(tmp_path, audio):
        with pytest.raises(LabelStoreLocked):
            _loop(tmp_path, audio)


def test_killing_a_loop_between_answers_loses_no_answer(folder, tmp_path):
    audio, _ = folder
    script = TOY + (
        "\nfrom woodcock_widgets.ml.embedding_cache import EmbeddingCache"
        "\nfrom woodcock_widgets.workflow.labeling_loop import LabelingLoop"
        f"\nloop = LabelingLoop({str(audio)!r}, 1.0, ToyEmbedder(), {str(tmp_path / 'l.csv')!r},"
        f" {str(tmp_path / 'run')!r}, ['tone'], cache=EmbeddingCache({str(tmp_path / 'c')!r}),"
        " progress=False)"
        "\nfor i in range(10**6):"
        "\n    loop.record(i % 48, 'present' if i % 3 else 'absent')"
        "\n    print('ack', i, flush=True)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    acked = -1
    try:
        while acked < 60:
            line = proc.stdout.readline()
            assert line, "the loop process ended early"
            acked = int(line.split()[1])
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    acked = max([acked] + [int(x.split()[1]) for x in proc.stdout.read().splitlines()])
    log = LabelStore(tmp_path / "l.csv", lock=False).log()
    assert len(log) >= acked + 1
    assert log["present"].tolist()[: acked + 1] == [
        "tone" if i % 3 else "" for i in range(acked + 1)
    ]
    with LabelingLoop(
        audio, 1.0, ToyEmbedder(), tmp_path / "l.csv", tmp_path / "run", ["tone"],  # noqa: F821
        cache=EmbeddingCache(tmp_path / "c"), progress=False,
    ) as loop:  # fmt: skip
        assert loop.store.stale_lock["pid"] == proc.pid
        assert len(loop.store) == len(log)


# ----------------------------------------------------------------- starting from a bundle
def test_a_loop_starts_from_an_embedding_bundle_with_its_scores(folder, tmp_path):
    from woodcock_widgets.ml.embedding_bundle import EmbeddingBundle

    path, truth = folder
    emb, cache = ToyEmbedder(), EmbeddingCache(tmp_path / "cache")  # noqa: F821
    X = cache.embed_windows(emb, truth[["file", "start_time", "end_time"]], progress=False)
    head = ShallowClassifier(["tone", "hum"], multi_label=True).fit(X, truth[["tone", "hum"]])
    bundle = EmbeddingBundle.create(head, emb, 1.0)
    bundle.save(tmp_path / "bundle.pt")
    loop = LabelingLoop.from_bundle(
        path, bundle, tmp_path / "labels.csv", tmp_path / "run", cache=cache, progress=False
    )
    with loop:
        assert loop.classes == ["tone", "hum"] and len(loop.windows) == len(truth)
        assert np.allclose(loop.scores, head.predict_proba(X), atol=1e-6)
        assert loop.score_source == {"tone": "bundle", "hum": "bundle"}
        page = loop.propose(5, "top")
        assert truth.loc[page["window"], "tone"].all()  # the bundle's scores rank the page
        _answer_page(loop, page, truth)
        loop.refit()
        assert loop.score_source["tone"].startswith("model")  # its own head, on its labels
        assert loop.score_source["hum"] == "bundle"  # no labels yet: still the bundle's
    saved = EmbeddingBundle.load(tmp_path / "bundle.pt", embedder=emb)  # a custom embedder
    with LabelingLoop.from_bundle(  # the saved bundle; a class the bundle does not know
        path, saved, tmp_path / "labels2.csv", tmp_path / "run2",
        ["new", "hum"], cache=cache, progress=False,
    ) as again:  # fmt: skip
        assert np.allclose(again.scores[:, 1], head.predict_proba(X)[:, 1], atol=1e-6)
        assert again.score_source == {"new": "none", "hum": "bundle"}


def test_a_loop_starts_from_a_cnn_bundle_scoring_as_the_cnn_does(folder, tmp_path):
    from woodcock_widgets.audio.preprocessing import Preprocessing
    from woodcock_widgets.ml.bundle import ModelBundle
    from woodcock_widgets.ml.models import build_model
    from woodcock_widgets.ml.predict import predict

    path, truth = folder
    torch.manual_seed(0)
    pre = Preprocessing(sample_rate=SR, clip_seconds=1.0, image_shape=(64, 64))
    model = build_model("resnet18", 2, pretrained=False)
    bundle = ModelBundle(model, "resnet18", {0: "tone", 1: "other"}, pre)
    files = sorted(truth["file"].unique())[:2]
    with LabelingLoop.from_bundle(
        files, bundle, tmp_path / "labels.csv", tmp_path / "run", ["tone", "new"],
        cache=EmbeddingCache(tmp_path / "cache"), progress=False,
    ) as loop:  # fmt: skip
        assert len(loop.windows) == 16  # the bundle's 1 s windows
        expected = predict(bundle, files, precision="fp32")
        assert np.allclose(loop.scores[:, 0], expected["tone"], atol=1e-4)
        assert loop.score_source == {"tone": "bundle", "new": "none"}
        assert np.allclose(loop.scores[:, 1], 0.5)


# ------------------------------------------------------- rounds answered from a window table
def test_rounds_answered_from_a_window_table(folder, tmp_path):
    from woodcock_widgets.workflow.labeling_session import (
        TableAnswers,
        held_out_ap,
        run_rounds,
        start_examples,
    )

    path, truth = folder
    files = sorted(truth["file"].unique())
    held = truth[truth["file"] == files[-1]]
    pool = truth[truth["file"] != files[-1]]
    start = start_examples(pool, "tone", 3, seed=1)
    assert len(start) == 3 and start["tone"].eq(1).all()
    assert start.equals(start_examples(pool, "tone", 3, seed=1))
    with pytest.raises(LabelError, match="has .* positive windows; 999 are needed"):
        start_examples(pool, "tone", 999)
    answers = TableAnswers(pool.drop(columns="hum").iloc[:-4])  # 4 windows it cannot answer
    with _loop(tmp_path, pool[["file", "start_time", "end_time"]], start=start) as loop:
        log: list[str] = []
        table = run_rounds(loop, answers, 3, 6, "top", held_out=held, log=log.append)
        assert list(table["round"]) == [0, 1, 2] and len(log) == 3 and "held-out AP" in log[0]
        store = loop.store.log()
        assert table["labels"].iloc[-1] == (store["status"] == "labeled").sum()
        rounds = store[store["strategy"] == "top"]
        assert len(rounds) == 18
        for r in rounds.to_dict("records"):  # each answer is the table's
            key = window_key(r["file"], r["start_time"], r["end_time"])
            want = answers.truth.get(key)
            got = None if r["status"] == "skip" else int(r["present"] == "tone")
            assert got == (None if want is None else want["tone"])
        assert table["held_out_ap"].between(0, 1).all()
        assert held_out_ap(loop, held) == pytest.approx(table["held_out_ap"].iloc[-1])
        first = rounds[(rounds["round"] == 0) & (rounds["status"] == "labeled")]
        assert table["page_precision"].iloc[0] == pytest.approx(first["present"].eq("tone").mean())
