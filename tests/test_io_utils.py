"""Atomic writes: a reader sees the old file or the new one, flushed to disk unless told."""

from __future__ import annotations

import os

import numpy as np

from woodcock_widgets import io_utils
from woodcock_widgets.io_utils import atomic_write_bytes, atomic_write_json


def _count_fsyncs(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = os.fsync

    def spy(fd):
        calls.append(fd)
        return real(fd)

    monkeypatch.setattr(io_utils.os, "fsync", spy)
    return calls


def test_durable_by_default_and_not_when_told(tmp_path, monkeypatch):
    calls = _count_fsyncs(monkeypatch)
    atomic_write_bytes(tmp_path / "a.bin", b"abc")
    assert len(calls) == 1 and (tmp_path / "a.bin").read_bytes() == b"abc"
    atomic_write_json(tmp_path / "b.json", {"x": 1}, durable=False)
    atomic_write_bytes(tmp_path / "a.bin", b"new", durable=False)
    assert len(calls) == 1  # no more flushes
    assert (tmp_path / "a.bin").read_bytes() == b"new"
    assert '"x": 1' in (tmp_path / "b.json").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_embedding_cache_entries_skip_the_flush_and_a_damaged_one_is_recomputed(
    tmp_path, monkeypatch
):
    from woodcock_widgets.ml.embedding_cache import EmbeddingCache

    class Tiny:
        name, dim, window_seconds, sample_rate = "tiny", 3, 1.0, 8000

    cache = EmbeddingCache(tmp_path / "cache")
    path = tmp_path / "cache" / "entry.npz"
    calls = _count_fsyncs(monkeypatch)
    cache._save(path, {(0, 1_000_000): np.ones(3, np.float32)}, Tiny(), "clip.wav")
    assert calls == [] and cache._load(path, 3)[(0, 1_000_000)].tolist() == [1.0, 1.0, 1.0]
    path.write_bytes(path.read_bytes()[:20])  # what a power cut could leave
    assert cache._load(path, 3) == {}
