"""``train --method embeddings`` writes the CNN's run folder, and ``predict`` uses it unchanged."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd


def _cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "woodcock_widgets", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )


def test_train_method_embeddings_then_predict(small_data, tmp_path, monkeypatch):
    monkeypatch.setenv("WOODCOCK_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    r = _cli(
        "train", "--labels", small_data, "--run-dir", run, "--label-column", "sound_type",
        "--map", "song=present", "--map", "call=absent", "--map", "na=absent",
        "--method", "embeddings",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    assert "finished: embeddings (birdnet)" in r.stdout
    for name in ("config.json", "history.csv", "best.pt", "train.csv", "valid.csv"):
        assert (run / name).is_file(), name
    history = pd.read_csv(run / "history.csv")
    assert len(history) == 1 and 0.0 <= history["valid_f1"].iloc[0] <= 1.0
    clip = pd.read_csv(small_data)["filename"].iloc[0]
    out = tmp_path / "scores.csv"
    p = _cli("predict", "--model", run / "best.pt", small_data.parent / clip, "--out", out)
    assert p.returncode == 0, p.stderr[-2000:]
    scores = pd.read_csv(out)
    assert list(scores.columns[:3]) == ["file", "start_time", "end_time"]
    assert {"absent", "present"} <= set(scores.columns)


def test_embeddings_runs_do_not_resume(small_data, tmp_path):
    r = _cli("train", "--run-dir", tmp_path / "run", "--resume", "--method", "embeddings",
             "--labels", small_data)  # fmt: skip
    assert r.returncode == 2
    assert "one step" in r.stderr
