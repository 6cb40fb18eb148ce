"""Folder prediction: discovery, manifest, streaming, detections, and runs on a local Dask cluster.

The cluster tests run real ``distributed.LocalCluster`` workers on 127.0.0.1 with the tiny
trained bundle of ``conftest.trained_run`` (64x64 inputs).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from woodcock_widgets.audio.preprocessing import Preprocessing
from woodcock_widgets.errors import PredictionError
from woodcock_widgets.ml.bundle import ModelBundle
from woodcock_widgets.ml.models import build_model
from woodcock_widgets.ml.predict import (
    AudioStream,
    clip_windows,
    default_detect_class,
    detect,
    detection_thresholds,
    merge_detections,
    predict_recording,
    stream_recording,
)
from woodcock_widgets.workflow.discovery import find_audio
from woodcock_widgets.workflow.folder_outputs import read_scores
from woodcock_widgets.workflow.folder_predict import local_cluster, predict_folder
from woodcock_widgets.workflow.folder_worker import model_loads
from woodcock_widgets.workflow.manifest import Manifest

ROOT = Path(__file__).resolve().parents[1]
SR = 22050


def _noise(seconds: float, seed: int, rate: int = SR, channels: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    x = 0.05 * rng.standard_normal((n, channels)) + 0.2 * np.sin(2 * np.pi * 2500 * t)[:, None]
    return x.astype(np.float32) if channels > 1 else x[:, 0].astype(np.float32)


def _write(path: Path, seconds: float, seed: int, rate: int = SR, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), _noise(seconds, seed, rate, kw.pop("channels", 1)), rate, **kw)
    return path


@pytest.fixture(scope="module")
def random_bundle() -> ModelBundle:
    torch.manual_seed(0)
    model = build_model("resnet18", 2, pretrained=False, in_channels=3)
    pre = Preprocessing(image_shape=(32, 32))
    return ModelBundle(model, "resnet18", {0: "absent", 1: "present"}, pre)


def _names(bundle_classes, **extra) -> ModelBundle:
    return ModelBundle(None, "resnet18", dict(enumerate(bundle_classes)), extra=extra)


# --------------------------------------------------------------------------------- discovery


def test_find_audio_recurses_filters_and_skips_hidden(tmp_path):
    for rel in ("a.wav", "site1/b.WAV", "site1/night/c.flac", "site2/d.wav", "site2/e.mp3"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "site1" / "._b.wav").write_bytes(b"x")  # macOS resource fork
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "z.wav").write_bytes(b"x")
    found = find_audio(tmp_path)
    keys = [found.key(f) for f in found.files]
    assert keys == ["a.wav", "site1/b.WAV", "site1/night/c.flac", "site2/d.wav", "site2/e.mp3"]
    only = find_audio(tmp_path, include=["site1/*"], exclude=["*.flac"])
    assert [only.key(f) for f in only.files] == ["site1/b.WAV"]
    by_name = find_audio(tmp_path, include=["*.wav"], exclude=["site2/*"])
    assert [by_name.key(f) for f in by_name.files] == ["a.wav"]
    glob = find_audio(str(tmp_path / "site*" / "*.*"))
    assert [glob.key(f) for f in glob.files] == ["site1/b.WAV", "site2/d.wav", "site2/e.mp3"]
    assert glob.root == tmp_path


def test_no_audio_is_an_error_naming_the_folder_or_glob(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PredictionError, match="no audio files") as ei:
        find_audio(empty)
    assert str(empty) in str(ei.value)
    (empty / "readme.txt").write_text("x")
    with pytest.raises(PredictionError, match=str(empty)):
        find_audio(empty)
    pattern = str(tmp_path / "*" / "*.flac")
    with pytest.raises(PredictionError) as ei:
        find_audio(pattern)
    assert pattern in str(ei.value) and "glob" in str(ei.value)
    with pytest.raises(PredictionError, match="not found"):
        find_audio(tmp_path / "missing")
    (empty / "a.wav").write_bytes(b"x")
    with pytest.raises(PredictionError, match=r"\['\*.flac'\]"):
        find_audio(empty, include=["*.flac"])


# --------------------------------------------------------------------------------- manifest


def test_manifest_append_reload_and_a_line_cut_short(tmp_path):
    (tmp_path / "scores").mkdir()
    (tmp_path / "scores" / "a.wav.csv").write_text("x")
    with Manifest(tmp_path) as m:
        m.append(
            {
                "file": "a.wav",
                "size": 10,
                "mtime": 1.5,
                "status": "done",
                "scores": "scores/a.wav.csv",
            }
        )
        m.append({"file": "b.wav", "size": 3, "mtime": 2.0, "status": "error", "error": "bad"})
    with open(tmp_path / "manifest.jsonl", "ab") as f:
        f.write(b'{"file": "c.wav", "status": "do')  # a crash in the middle of an append
    m = Manifest(tmp_path)
    assert sorted(m.entries) == ["a.wav", "b.wav"]
    assert (tmp_path / "manifest.jsonl").read_bytes().endswith(b"\n")  # repaired
    assert m.state("a.wav", 10, 1.5) == "done" and m.is_done("a.wav", 10, 1.5)
    assert m.state("a.wav", 11, 1.5) is None  # the file changed: score it again
    assert m.state("a.wav", 10, 1.6) is None
    assert m.state("b.wav", 3, 2.0) == "error"
    m.append(
        {"file": "c.wav", "size": 1, "mtime": 1.0, "status": "done", "scores": "scores/c.wav.csv"}
    )
    m.close()
    again = Manifest(tmp_path)
    assert again.state("c.wav", 1, 1.0) is None  # listed done, but its score file is missing
    assert list(again.done()) == ["a.wav", "c.wav"] and list(again.failed()) == ["b.wav"]
    assert len((tmp_path / "manifest.jsonl").read_text().splitlines()) == 3


# -------------------------------------------------------------------------------- streaming


@pytest.mark.parametrize(
    "rate,channels,subtype",
    [(SR, 1, "PCM_16"), (44100, 2, "PCM_16"), (48000, 1, "FLOAT"), (16000, 1, "PCM_24")],
)
def test_streamed_samples_equal_the_whole_file(tmp_path, rate, channels, subtype):
    from woodcock_widgets.audio.clip import Audio

    f = _write(tmp_path / "x.wav", 9.37, 1, rate, channels=channels, subtype=subtype)
    whole = Audio.from_file(f, sample_rate=SR).samples
    stream = AudioStream(f, SR, block_seconds=0.7)
    blocks = list(stream.blocks())
    assert len(blocks) >= 13 and stream.n_samples == len(whole)
    assert max(len(b) for b in blocks) <= int(0.71 * SR) + 2  # bounded by the block size
    np.testing.assert_allclose(np.concatenate(blocks), whole, atol=1e-6)


def test_long_file_streamed_in_chunks_scores_like_whole_file_prediction(tmp_path, random_bundle):
    f = _write(tmp_path / "long.wav", 61.3, 2, 44100)  # resampled, 31 windows, 9 blocks
    whole = predict_recording(random_bundle, f, overlap=0.5, precision="fp32")
    streamed = stream_recording(
        random_bundle, f, overlap=0.5, precision="fp32", block_seconds=7.0, batch_size=5
    )
    assert streamed["file"].eq(str(f)).all()
    pd.testing.assert_frame_equal(
        streamed[["start_time", "end_time"]], whole[["start_time", "end_time"]]
    )
    np.testing.assert_allclose(
        streamed[["absent", "present"]].to_numpy(),
        whole[["absent", "present"]].to_numpy(),
        atol=1e-5,
    )
    assert streamed.attrs["duration"] == pytest.approx(61.3, abs=1e-3)


def test_streaming_names_a_broken_file(tmp_path, random_bundle):
    from woodcock_widgets.errors import AudioLoadError

    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x24\x00\x00\x00WAVEjunkjunkjunk")
    silent = tmp_path / "nosamples.wav"
    sf.write(str(silent), np.zeros(0, np.float32), SR)
    for f in (empty, corrupt, silent):
        with pytest.raises(AudioLoadError) as ei:
            stream_recording(random_bundle, f)
        assert str(f) in str(ei.value)


def test_cpu_batches_are_bounded_by_input_size_with_the_same_scores(
    tmp_path, random_bundle, monkeypatch
):
    import woodcock_widgets.ml.streaming as streaming

    f = _write(tmp_path / "x.wav", 40.0, 3)
    sizes = []
    real = streaming.score_batch

    def spy(prepared, x, raw=False):
        sizes.append(len(x))
        return real(prepared, x, raw)

    monkeypatch.setattr(streaming, "score_batch", spy)
    per_window_mb = 3 * 32 * 32 * 4 / 2**20
    bounded = stream_recording(
        random_bundle, f, precision="fp32", batch_size=32, batch_mb=7 * per_window_mb
    )
    assert sizes == [7, 7, 6]  # 20 windows, at most 7 per pass whatever batch_size asks
    sizes.clear()
    free = stream_recording(random_bundle, f, precision="fp32", batch_size=32, batch_mb=None)
    assert sizes == [20]
    np.testing.assert_allclose(
        bounded[["absent", "present"]].to_numpy(),
        free[["absent", "present"]].to_numpy(),
        atol=1e-5,
    )


def test_worker_compiles_once_and_pads_only_the_last_batch(tmp_path, random_bundle, monkeypatch):
    """``compile=True`` on a worker: one compile for all its files, one batch shape, same scores."""
    import woodcock_widgets.ml.scoring as scoring
    from woodcock_widgets.workflow import folder_worker

    shapes, compiles = [], []

    def fake_compile(model):  # stands in for inductor: the eager model, watched
        compiles.append(model)

        def run(x):
            shapes.append(tuple(x.shape))
            return model(x)

        return run

    monkeypatch.setattr(scoring, "_torch_compile", fake_compile)
    monkeypatch.setattr(folder_worker, "_MODELS", {})
    model = random_bundle.save(tmp_path / "m.pt")
    st = model.stat()
    settings = folder_worker.TaskSettings(
        bundle_path=str(model), bundle_key=(st.st_size, st.st_mtime_ns), out_dir=str(tmp_path),
        fmt="csv", overlap=0.0, thresholds={"present": 0.5}, merge_gap=None, high_freq=11025.0,
        batch_size=8, precision="fp32", torch_threads=1, compile=True,
    )  # fmt: skip
    files = [_write(tmp_path / f"r{i}.wav", s, i) for i, s in enumerate((22.0, 6.0))]
    entries = [folder_worker.score_file(str(f), f.stem, settings) for f in files]
    assert len(compiles) == 1 and all(e["compiled"] for e in entries)
    assert set(shapes) == {(8, 1, 32, 32)}  # 11 = 8 + 3 padded; a 1-channel stem
    for f, e in zip(files, entries):
        got = read_scores(tmp_path / e["scores"])
        want = stream_recording(random_bundle, f, precision="fp32", batch_size=8)
        np.testing.assert_allclose(
            got[["absent", "present"]].to_numpy(), want[["absent", "present"]].to_numpy(), atol=1e-5
        )


def test_streaming_memory_does_not_grow_with_the_file(tmp_path, random_bundle):
    import tracemalloc

    short = _write(tmp_path / "short.wav", 60.0, 4)
    long = _write(tmp_path / "long.wav", 300.0, 5)  # 26 MB of float32 samples if held whole
    peaks = {}
    for f in (short, long):
        tracemalloc.start()
        df = stream_recording(random_bundle, f, precision="fp32", block_seconds=5.0)
        peaks[f.name] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        assert len(df) == round(sf.info(str(f)).duration / 2)
    assert peaks["long.wav"] < 8, peaks  # a few blocks and batches, not the recording
    assert peaks["long.wav"] < peaks["short.wav"] + 4, peaks  # 5x the audio, ~same peak


# ------------------------------------------------------------------------------- detections


def test_default_detect_class_is_the_positive_one():
    assert default_detect_class(_names(["woodcock-absent", "woodcock-present"])) == (
        "woodcock-present"
    )
    assert default_detect_class(_names(["i", "not_i"])) == "i"  # not the alphabetical last
    assert default_detect_class(_names(["other", "cswa"])) == "cswa"
    assert default_detect_class(_names(["absent", "present"], positive_class="absent")) == "absent"
    assert default_detect_class(_names(["a", "b", "c"])) == "c"  # nothing to go by: the last
    assert default_detect_class(_names(["noise", "background"])) == "background"


def test_detection_thresholds_checked_against_the_model():
    b = _names(["absent", "present"])
    assert detection_thresholds(b) == {"present": 0.5}
    assert detection_thresholds(b, ["absent"], 0.2) == {"absent": 0.2}
    with pytest.raises(PredictionError, match="did you mean 'present'"):
        detection_thresholds(b, "presnt")
    with pytest.raises(PredictionError, match=r"\[0, 1\]"):
        detection_thresholds(b, threshold=2)
    with pytest.raises(PredictionError, match=r"\[0, 1\]"):
        detection_thresholds(b, threshold=float("nan"))
    recorded = _names(["a", "b", "c"], thresholds={"b": 0.3, "c": 0.7, "zz": 0.1})
    assert detection_thresholds(recorded) == {"b": 0.3, "c": 0.7}
    assert detection_thresholds(recorded, threshold=0.9) == {"b": 0.9, "c": 0.9}


def test_merge_detections_joins_a_bout_into_one_selection():
    scores = pd.DataFrame(
        {
            "file": ["r.wav"] * 6 + ["s.wav"] * 2,
            "start_time": [0.0, 2, 4, 8, 10, 14, 0, 2],
            "end_time": [2.0, 4, 6, 10, 12, 16, 2, 4],
            "present": [0.9, 0.8, 0.6, 0.7, 0.95, 0.6, 0.9, 0.1],
            "absent": [0.1, 0.2, 0.4, 0.3, 0.05, 0.4, 0.1, 0.9],
        }
    )
    dets = detect(scores, {"present": 0.5, "absent": 0.5})
    assert len(dets) == 8 and list(dets.columns) == [
        "file",
        "start_time",
        "end_time",
        "annotation",
        "score",
    ]
    merged = merge_detections(dets[dets["annotation"] == "present"], gap=0.0)
    assert merged[["file", "start_time", "end_time"]].values.tolist() == [
        ["r.wav", 0.0, 6.0],
        ["r.wav", 8.0, 12.0],
        ["r.wav", 14.0, 16.0],
        ["s.wav", 0.0, 2.0],
    ]
    assert merged["score"].tolist() == [0.9, 0.95, 0.6, 0.9]
    wider = merge_detections(dets, gap=2.0)
    assert wider[wider["annotation"] == "present"]["end_time"].tolist() == [16.0, 2.0]
    assert wider[wider["annotation"] == "absent"]["start_time"].tolist() == [2.0]
    with pytest.raises(PredictionError, match="merge gap"):
        merge_detections(dets, gap=-1)


# ---------------------------------------------------------------------- folders on a cluster


LENGTHS = {"a.wav": 3.0, "site1/b.wav": 7.3, "site1/c.flac": 20.0, "site2/night/d.wav": 31.1}


@pytest.fixture()
def season(tmp_path) -> Path:
    audio = tmp_path / "season"
    for k, (rel, seconds) in enumerate(LENGTHS.items()):
        _write(audio / rel, seconds, k, 44100 if rel.endswith("b.wav") else SR)
    (audio / "site1" / "notes.txt").write_text("not audio")
    return audio


@pytest.fixture(scope="module")
def model_path(trained_run) -> Path:
    return trained_run / "best.pt"


def _expected(rel: str) -> list[tuple[float, float]]:
    return clip_windows(LENGTHS[rel], 2.0)


def _check_every_window_once(out: Path, audio: Path, rels, fmt="parquet") -> None:
    files = sorted((out / "scores").rglob(f"*.{fmt}"))
    assert len(files) == len(rels)
    for rel in rels:
        df = read_scores(out / "scores" / f"{rel}.{fmt}")
        assert list(df.columns) == ["file", "start_time", "end_time", "absent", "present"]
        assert df["file"].eq(str(audio / rel)).all()
        assert list(zip(df["start_time"], df["end_time"])) == _expected(rel)
    # threshold 0, no merging: detections.csv holds every window exactly once
    dets = pd.read_csv(out / "detections.csv")
    assert list(dets.columns) == ["file", "start_time", "end_time", "annotation", "score"]
    assert not dets.duplicated(["file", "start_time"]).any()
    assert len(dets) == sum(len(_expected(r)) for r in rels)
    assert sorted(set(dets["file"])) == sorted(str(audio / r) for r in rels)


@pytest.mark.slow
def test_folder_every_window_once_failures_recorded_and_rerun_skips(model_path, season, tmp_path):
    (season / "site1" / "empty.wav").write_bytes(b"")
    (season / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEjunk" + b"\x00" * 64)
    out = tmp_path / "out"
    seen = []
    s = predict_folder(
        model_path, season, out, workers=2, threshold=0.0, progress=False, on_file_done=seen.append
    )
    assert (s.found, s.scored, s.skipped, s.failed, s.workers) == (6, 4, 0, 2, 2)
    assert s.hours_scored == pytest.approx(sum(LENGTHS.values()) / 3600, rel=1e-3)
    assert s.detections == {"present": sum(len(_expected(r)) for r in LENGTHS)}
    assert "6 recording(s) found: 4 scored now, 0 already done, 2 failed" in str(s)
    _check_every_window_once(out, season, LENGTHS)
    errors = pd.read_csv(out / "errors.csv")
    assert list(errors.columns) == ["file", "error"]
    assert sorted(errors["file"]) == [str(season / "corrupt.wav"), str(season / "site1/empty.wav")]
    assert errors["error"].str.contains("empty|cannot read").all()
    for rel in LENGTHS:  # one Raven table per recording
        raven = pd.read_csv(out / "raven" / f"{rel}.selections.txt", sep="\t")
        assert len(raven) == len(_expected(rel)) and (raven["Annotation"] == "present").all()
    assert sorted(e["status"] for e in seen) == ["done"] * 4 + ["error"] * 2
    assert {e["torch_threads"] for e in seen if e["status"] == "done"} == {
        max(1, len(os.sched_getaffinity(0)) // 2)
    }
    run = json.loads((out / "run.json").read_text())
    assert run["classes"] == ["absent", "present"] and run["format"] == "parquet"
    lines = (out / "manifest.jsonl").read_text().splitlines()
    assert len(lines) == 6

    before = {p: p.stat().st_mtime_ns for p in (out / "scores").rglob("*.parquet")}
    again = predict_folder(model_path, season, out, threshold=0.0, progress=False)
    assert (again.scored, again.skipped, again.failed, again.failed_before) == (0, 4, 0, 2)
    assert again.workers == 0  # nothing to do: no cluster started
    assert {p: p.stat().st_mtime_ns for p in before} == before
    assert len((out / "manifest.jsonl").read_text().splitlines()) == 6
    _check_every_window_once(out, season, LENGTHS)

    # new detection settings: detections redone from the scores, nothing scored again
    merged = predict_folder(model_path, season, out, threshold=0.0, merge_gap=0.0, progress=False)
    assert merged.scored == 0 and merged.detections == {"present": 4}
    assert len(pd.read_csv(out / "detections.csv")) == 4  # one bout per recording
    with pytest.raises(PredictionError, match="overlap"):
        predict_folder(model_path, season, out, overlap=1.0, progress=False)
    other = tmp_path / "other season"
    _write(other / "a.wav", 3.0, 5)
    with pytest.raises(PredictionError, match="holds predictions for the recordings in"):
        predict_folder(model_path, other, out, threshold=0.0, progress=False)


@pytest.mark.slow
def test_folder_resumes_after_an_interruption_without_duplicates(model_path, season, tmp_path):
    out = tmp_path / "out"

    def stop_after_two(entry, done=[]):  # noqa: B006 - counts across calls
        done.append(entry)
        if len(done) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        predict_folder(
            model_path,
            season,
            out,
            workers=1,
            threshold=0.0,
            progress=False,
            fmt="csv",
            on_file_done=stop_after_two,
        )
    assert len((out / "manifest.jsonl").read_text().splitlines()) == 2
    assert len(pd.read_csv(out / "detections.csv")["file"].unique()) == 2  # written on the way out
    with open(out / "manifest.jsonl", "ab") as f:
        f.write(b'{"file": "a.wav", "sta')  # and a crash in the middle of an append
    s = predict_folder(model_path, season, out, workers=1, threshold=0.0, progress=False, fmt="csv")
    assert (s.skipped, s.scored, s.failed) == (2, 2, 0)
    _check_every_window_once(out, season, LENGTHS, fmt="csv")


@pytest.mark.slow
def test_folder_survives_a_killed_worker(model_path, tmp_path):
    from distributed import Client

    audio = tmp_path / "many"
    lengths = {f"r{i:02d}.wav": 40.0 + i for i in range(8)}
    for k, rel in enumerate(lengths):
        _write(audio / rel, lengths[rel], k)
    cluster, threads = local_cluster(2, torch_threads=1)
    killed = []
    with cluster, Client(cluster) as client:
        pids = client.run(os.getpid)

        def kill_a_busy_worker(entry):
            if killed:
                return
            busy = [w for w, tasks in client.processing().items() if tasks and w in pids]
            if busy:
                os.kill(pids[busy[0]], signal.SIGKILL)
                killed.append(pids[busy[0]])

        s = predict_folder(
            model_path,
            audio,
            tmp_path / "out",
            client=client,
            threshold=0.0,
            torch_threads=1,
            progress=False,
            on_file_done=kill_a_busy_worker,
        )
        assert killed, "no worker was busy when the first file finished"
        assert (s.scored, s.failed) == (8, 0)
        client.wait_for_workers(2, timeout=60)
        assert killed[0] not in client.run(os.getpid).values()  # the nanny started a new one
        loads = client.run(model_loads)
        assert set(loads.values()) <= {0, 1}  # once per worker process, not once per file
    out = tmp_path / "out"
    for rel, seconds in lengths.items():
        df = read_scores(out / "scores" / f"{rel}.parquet")
        assert list(zip(df["start_time"], df["end_time"])) == clip_windows(seconds, 2.0)
    dets = pd.read_csv(out / "detections.csv")
    assert len(dets) == sum(len(clip_windows(s, 2.0)) for s in lengths.values())
    assert not dets.duplicated(["file", "start_time"]).any()
    lines = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    assert sorted(e["file"] for e in lines) == sorted(lengths)  # one line each


@pytest.mark.slow
def test_local_cluster_listens_on_localhost_only():
    import psutil
    from distributed import Client

    cluster, _ = local_cluster(1, torch_threads=1)
    with cluster, Client(cluster) as client:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        assert all(a.startswith("tcp://127.0.0.1:") for a in client.scheduler_info()["workers"])
        pids = [os.getpid(), *client.run(os.getpid).values()]
        pids += [p.ppid() for p in map(psutil.Process, pids[1:])]  # the nannies
        for pid in pids:
            for c in psutil.Process(pid).net_connections(kind="inet"):
                if c.status == psutil.CONN_LISTEN:
                    assert c.laddr.ip in ("127.0.0.1", "::1"), (pid, c)


def test_empty_folder_is_an_error_before_any_cluster(tmp_path, random_bundle):
    model = random_bundle.save(tmp_path / "m.pt")
    empty = tmp_path / "nothing here"
    empty.mkdir()
    t = time.perf_counter()
    with pytest.raises(PredictionError, match="no audio files") as ei:
        predict_folder(model, empty, tmp_path / "out", progress=False)
    assert str(empty) in str(ei.value) and time.perf_counter() - t < 10
    with pytest.raises(PredictionError, match=r"\[0, 1\]"):
        predict_folder(model, empty, tmp_path / "out", threshold=1.5)
    with pytest.raises(PredictionError, match="did you mean 'present'"):
        predict_folder(model, empty, tmp_path / "out", detect_classes=["Present"])
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "woodcock_widgets",
            "predict",
            "--model",
            str(model),
            "--audio-dir",
            str(empty),
            "--out",
            str(tmp_path / "o2"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "WOODCOCK_OFFLINE": "1"},
    )
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no audio files"), r.stderr
    assert str(empty) in lines[0]


@pytest.mark.slow
def test_cli_folder_form(model_path, season, tmp_path):
    out = tmp_path / "cli_out"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "woodcock_widgets",
            "predict",
            "--model",
            str(model_path),
            "--audio-dir",
            str(season),
            "--out",
            str(out),
            "--workers",
            "1",
            "--format",
            "csv",
            "--exclude",
            "site2/*",
            "--threshold",
            "0",
            "--merge-gap",
            "0",
            "--no-progress",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "WOODCOCK_OFFLINE": "1"},
    )
    assert r.returncode == 0, r.stderr
    assert "3 recording(s) found: 3 scored now, 0 already done, 0 failed" in r.stdout
    assert "detections: present 3" in r.stdout
    assert sorted(
        p.relative_to(out / "scores").as_posix() for p in out.rglob("*.csv") if "scores" in p.parts
    ) == ["a.wav.csv", "site1/b.wav.csv", "site1/c.flac.csv"]
    assert pd.read_csv(out / "errors.csv").empty
