"""The manifest of a folder prediction: what is done, so a rerun picks up where a run stopped.

``OUT_DIR/manifest.jsonl`` holds one JSON object per line, appended (and flushed to disk)
the moment a recording is finished, by the one process that drives the run::

    {"file": "site1/a.wav", "size": 1234, "mtime": 1712000000.0, "status": "done",
     "n_windows": 1800, "seconds": 3600.0, "scores": "scores/site1/a.wav.parquet", ...}

``status`` is ``done`` or ``error`` (with ``error``, the reason). The last line of a file
wins. A recording counts as finished when its last line says ``done``, its size and
modification time are unchanged and its score file exists: a rerun skips it (and, unless
asked to retry, a failed one whose size and modification time are unchanged). Its score file
was written (atomically) before the line, so a crash between the two only means the file is
scored again and its output replaced, never a duplicated or a lost row. A line cut short by
a crash is dropped when the manifest is next opened.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["Manifest", "MANIFEST_NAME"]

MANIFEST_NAME = "manifest.jsonl"


class Manifest:
    """Read and append ``OUT_DIR/manifest.jsonl`` (see the module docstring).

    Parameters
    ----------
    out_dir : str or path-like
        The output folder (created when missing).
    """

    def __init__(self, out_dir: str | os.PathLike) -> None:
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / MANIFEST_NAME
        self.entries: dict[str, dict[str, Any]] = {}
        self.bad_lines = 0
        self._fd: int | None = None
        self._load()

    def _load(self) -> None:
        if not self.path.is_file():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            # the last append was cut short by a crash: drop the partial line for good
            keep = data.rfind(b"\n") + 1
            with open(self.path, "r+b") as f:
                f.truncate(keep)
                f.flush()
                os.fsync(f.fileno())
            data = data[:keep]
        for line in data.decode("utf-8", errors="replace").splitlines():
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                self.entries[str(entry["file"])] = entry
            except (ValueError, KeyError, TypeError):
                self.bad_lines += 1

    def append(self, entry: dict[str, Any]) -> None:
        """Add one line (one ``write`` of the whole line, then ``fsync``)."""
        if self._fd is None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        line = (json.dumps(entry, sort_keys=True, default=str) + "\n").encode("utf-8")
        written = os.write(self._fd, line)
        while written < len(line):  # a short write to a local file is rare, but possible
            written += os.write(self._fd, line[written:])
        os.fsync(self._fd)
        self.entries[str(entry["file"])] = entry

    def state(self, key: str, size: int, mtime: float) -> str | None:
        """``done`` or ``error`` when ``key``'s last line says so for this very file, else None.

        ``done`` also needs the score file to exist (see the module docstring); a file whose
        size or modification time changed since is ``None`` (to be scored).
        """
        entry = self.entries.get(key)
        if not entry or entry.get("size") != size:
            return None
        if round(float(entry.get("mtime", -1)), 6) != round(float(mtime), 6):
            return None
        status = entry.get("status")
        if status == "done":
            scores = entry.get("scores")
            return "done" if scores and (self.out_dir / scores).is_file() else None
        return "error" if status == "error" else None

    def is_done(self, key: str, size: int, mtime: float) -> bool:
        """Whether ``key`` is finished with this size and modification time (see above)."""
        return self.state(key, size, mtime) == "done"

    def done(self) -> dict[str, dict[str, Any]]:
        """The entries whose last status is ``done``, by relative name."""
        return {k: e for k, e in sorted(self.entries.items()) if e.get("status") == "done"}

    def failed(self) -> dict[str, dict[str, Any]]:
        """The entries whose last status is ``error``, by relative name."""
        return {k: e for k, e in sorted(self.entries.items()) if e.get("status") == "error"}

    def close(self) -> None:
        """Close the file (appending opens it again)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
