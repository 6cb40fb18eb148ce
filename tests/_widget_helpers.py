"""Helpers for the widget tests (no browser): decode widget bytes, record comm messages."""

from __future__ import annotations

import io

import comm
import numpy as np
import soundfile as sf
from comm.base_comm import BaseComm
from PIL import Image


def png_size(data: bytes) -> tuple[int, int]:
    """``(width, height)`` of PNG bytes (fails on anything else)."""
    img = Image.open(io.BytesIO(bytes(data)))
    assert img.format == "PNG"
    return img.size


def wav(data: bytes) -> tuple[np.ndarray, int]:
    """Samples and rate of WAV bytes (fails on anything else)."""
    info = sf.info(io.BytesIO(bytes(data)))
    assert info.format == "WAV"
    return sf.read(io.BytesIO(bytes(data)), dtype="float32")


class RecordingComm(BaseComm):
    """A comm that keeps what a widget would send to the front end (after ipywidgets' tests)."""

    def __init__(self, *args, **kwargs):
        self.messages: list[tuple[str, dict | None, list | None]] = []
        super().__init__(*args, **kwargs)

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        self.messages.append((msg_type, data, buffers))

    def updates(self) -> list[set[str]]:
        """The names each update message sent so far carries (binary ones included)."""
        return [
            set(d["state"]) | {path[0] for path in d.get("buffer_paths", [])}
            for t, d, _ in self.messages
            if t == "comm_msg" and d and d.get("method") == "update"
        ]


def record_comms(monkeypatch) -> type[RecordingComm]:
    """Make widgets built from now on (in this test) get a :class:`RecordingComm`."""
    monkeypatch.setattr(comm, "create_comm", lambda *a, **k: RecordingComm(*a, **k))
    return RecordingComm
