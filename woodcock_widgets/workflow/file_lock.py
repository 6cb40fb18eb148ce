"""An exclusive lock on a file that the operating system releases when its holder dies.

POSIX: ``flock`` on the lock file; Windows: ``msvcrt.locking`` on its first byte. Either lock
belongs to one open file description, so a second :class:`FileLock` on the same file is
refused in the same process too. A holder writes its pid, host and start time into the file
and empties it on a clean release; a non-empty file found by a new holder was left by a process
that died holding the lock (a *stale* lock, taken over: the dead holder's details are kept in
:attr:`FileLock.previous`). The file itself is never deleted (deleting a lock file races with
a process about to lock it).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["FileLock", "LockHeld"]


class LockHeld(OSError):
    """The lock is held by another open :class:`FileLock` (``holder`` says whose)."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"{path} is locked by {holder}")
        self.path, self.holder = path, holder


class FileLock:
    """An exclusive, non-blocking (or bounded-wait) lock on ``path`` (module docstring)."""

    def __init__(self, path) -> None:
        self.path = Path(path)
        self.fd: int | None = None
        self.previous: dict | None = None

    @staticmethod
    def _try(fd: int) -> bool:
        try:
            if os.name == "nt":  # pragma: no cover - exercised on Windows only
                import msvcrt

                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True

    def holder(self) -> str:
        """Who holds the lock, as its file says (``pid N on HOST since TIME``)."""
        with contextlib.suppress(OSError, ValueError):
            info = json.loads(self.path.read_text(encoding="utf-8") or "{}")
            if info:
                return f"pid {info.get('pid')} on {info.get('host')} since {info.get('since')}"
        return "another process"

    def acquire(self, timeout: float = 0.0) -> None:
        """Take the lock, waiting up to ``timeout`` seconds; raise :class:`LockHeld` if not."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        deadline = time.monotonic() + max(0.0, float(timeout))
        while not self._try(fd):
            if time.monotonic() >= deadline:
                os.close(fd)
                raise LockHeld(self.path, self.holder())
            time.sleep(0.05)
        if os.name != "nt":  # on Windows the locked byte cannot be read back
            old = os.pread(fd, 4096, 0)
            with contextlib.suppress(ValueError):
                self.previous = json.loads(old) if old.strip() else None
            since = datetime.now(timezone.utc).isoformat(timespec="seconds")
            me = {"pid": os.getpid(), "host": socket.gethostname(), "since": since}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(me).encode(), 0)
            os.fsync(fd)
        self.fd = fd

    def release(self) -> None:
        """Release the lock (emptying the file first: a clean release)."""
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        with contextlib.suppress(OSError):
            if os.name != "nt":
                os.ftruncate(fd, 0)
        os.close(fd)  # closing the descriptor drops the lock
