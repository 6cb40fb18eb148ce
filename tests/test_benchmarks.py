"""The benchmark driver keeps working: its pieces that need no peer venv, on tiny sizes."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"


def _common():
    spec = importlib.util.spec_from_file_location("bench_common", BENCH / "common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_folder_bytes_counts_hard_links_once(tmp_path):
    common = _common()
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.bin").write_bytes(b"x" * 1000)
    (tmp_path / "sub" / "b.bin").write_bytes(b"y" * 300)
    os.link(tmp_path / "a.bin", tmp_path / "sub" / "a-link.bin")
    assert common.folder_bytes(tmp_path) == 1300


@pytest.mark.slow
def test_quick_run_without_peer_writes_every_figure(tmp_path):
    out = tmp_path / "latest.json"
    cmd = [
        sys.executable,
        str(BENCH / "bench.py"),
        "--quick",
        "--no-peer",
        "--clips", "12",
        "--rss-clips", "500",
        "--shapes", "1x48x40",
        "--batch-size", "4",
        "--threads", "1",
        "--out", str(out),
        "--work-dir", str(tmp_path / "work"),
    ]  # fmt: skip
    env = {**os.environ, "WOODCOCK_OFFLINE": "1"}
    done = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=900, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())

    assert {"date", "command", "machine", "settings", "figures", "table"} <= set(result)
    assert result["settings"]["peer"] is False and result["settings"]["threads"] == 1
    figures = {f["id"]: f for f in result["figures"]}
    expected = {
        "preprocess_1x48x40",
        "predict_1x48x40",
        "epoch_train_1x48x40",
        "epoch_whole_1x48x40",
        "train_1x48x40",
        "train_f1_1x48x40",
        "train_ceiling_steps_1x48x40",
        "train_ceiling_steps_valid_1x48x40",
        "run_folder_1x48x40",
        "inspector_next",
        "training_control",
        "rss_index",
    }
    assert set(figures) == expected
    for f in figures.values():
        assert {"name", "unit", "ours", "reference", "ratio", "goal", "passed"} <= set(f)
        assert isinstance(f["ours"], float) and math.isfinite(f["ours"])
        assert f["ours"] > 0 or f["id"] == "rss_index"  # an RSS delta can round to zero
        assert f["passed"] in (True, False, None)
    # without the peer, peer figures have no reference; the bare loop always has one
    for name in ("preprocess_1x48x40", "predict_1x48x40", "train_1x48x40"):
        assert figures[name]["reference"] is None and figures[name]["passed"] is None
    overhead = figures["epoch_train_1x48x40"]
    assert overhead["reference"] > 0
    assert overhead["ratio"] == pytest.approx(
        sum(overhead["details"]["ours_train_s"]) / sum(overhead["details"]["bare_train_s"])
    )
    steps = figures["train_ceiling_steps_1x48x40"]
    with_valid = figures["train_ceiling_steps_valid_1x48x40"]
    assert steps["ours"] == pytest.approx(sum(steps["details"]["epoch_steps_s"]))
    assert with_valid["ours"] > steps["ours"]  # validation is extra work on top of the steps
    assert len(steps["details"]["epoch_steps_s"]) == result["settings"]["sizes"]["train_epochs"]
    assert steps["reference"] is None and steps["passed"] is None
    assert figures["preprocess_1x48x40"]["details"]["clips"] == 12
    assert figures["rss_index"]["details"]["clips"] == 500
    assert figures["run_folder_1x48x40"]["ours"] >= 1.0  # at least the weights themselves
    assert 0.0 <= figures["train_f1_1x48x40"]["ours"] <= 1.0
    # the printed table: a header and a row per figure
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| figure") and len(rows) == len(expected) + 1


@pytest.mark.slow
def test_int8_agreement_quick_run_writes_every_precision(tmp_path):
    out = tmp_path / "int8.json"
    cmd = [sys.executable, str(BENCH / "int8_agreement.py"), "--quick", "--out", str(out)]
    env = {**os.environ, "WOODCOCK_OFFLINE": "1"}
    done = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    (smoke,) = result["results"]  # --quick: the 20 built-in clips only
    assert smoke["data"] == "smoke" and smoke["n_valid"] > 0
    assert 0.0 < smoke["chance_ap"] < 1.0
    rows = smoke["precisions"]
    assert list(rows) == ["fp32", "bf16", "int8"]
    assert rows["fp32"]["max_abs_diff"] == 0.0 and rows["fp32"]["same_class"] == 1.0
    assert rows["bf16"]["speed_vs_bf16"] == pytest.approx(1.0)
    for f in rows.values():
        assert 0.0 <= f["ap"] <= 1.0 and 0.0 <= f["ap_shuffled"] <= 1.0
        assert 0.0 <= f["same_class"] <= 1.0 and f["max_abs_diff"] < 1.0
        assert math.isfinite(f["ms_per_window"]) and f["ms_per_window"] > 0
    assert rows["int8"]["calibration"]["windows"] > 0
    assert smoke["predict_vs_pass_max_abs_diff"] < 1e-6  # the pass is predict's int8
    assert "int8" in done.stdout and "chance AP" in done.stdout
