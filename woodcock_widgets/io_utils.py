"""Atomic file writes: a crash or a full disk never leaves a half-written file behind."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "atomic_write_csv",
    "atomic_torch_save",
    "atomic_link_or_copy",
    "remove_temp_files",
]


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextlib.contextmanager
def _atomic_target(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; rename it over ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file normal permissions
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def atomic_write_bytes(path: str | os.PathLike, data: bytes, durable: bool = True) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    Parameters
    ----------
    path : str or path-like
        Destination; its folder is created when missing.
    data : bytes
        The content.
    durable : bool
        Flush the content to the disk before the rename (``fsync``). Readers never see a
        partial file either way; without it, a power cut may leave an empty or older file,
        so turn it off only for data a reader checks and can recompute (a cache).

    Returns
    -------
    pathlib.Path
        The destination path.
    """
    with _atomic_target(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, durable: bool = True) -> Path:
    """Write UTF-8 text atomically (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode("utf-8"), durable)


def atomic_write_json(path: str | os.PathLike, obj: Any, durable: bool = True) -> Path:
    """Write ``obj`` as indented JSON atomically (see :func:`atomic_write_bytes`)."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n"
    return atomic_write_text(path, text, durable)


def atomic_write_csv(path: str | os.PathLike, df, **to_csv_kwargs) -> Path:
    """Write a pandas DataFrame as CSV atomically (``index=False`` unless given)."""
    to_csv_kwargs.setdefault("index", False)
    buf = io.StringIO()
    df.to_csv(buf, **to_csv_kwargs)
    return atomic_write_text(path, buf.getvalue())


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` through a temporary file and a rename."""
    import torch

    with _atomic_target(path) as tmp:
        torch.save(obj, tmp)
        _fsync_file(tmp)
    return Path(path)


def atomic_link_or_copy(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Make ``dst`` show the content of ``src``, atomically.

    A hard link is used where the file system allows it (no extra disk space); otherwise
    a copy. Either way ``dst`` is replaced in one rename.
    """
    import shutil

    src, dst = Path(src), Path(dst)
    with _atomic_target(dst) as tmp:
        os.unlink(tmp)
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
    return dst


# the names _atomic_target gives its temporary files: ".NAME." + 8 random characters + ".tmp"
_TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


def remove_temp_files(
    folder: str | os.PathLike, name: str | None = None, min_age_s: float = 0.0
) -> list[Path]:
    """Delete the temporary files that interrupted atomic writes left in ``folder``.

    A process killed during a write (``kill -9``, power loss) cannot clean up after
    itself; the destination file is intact, but its temporary sibling stays behind.

    Parameters
    ----------
    folder : str or path-like
        The folder to clean (not its subfolders); a missing folder is fine.
    name : str, optional
        Only the temporary files of this destination file name.
    min_age_s : float
        Only files last modified at least this many seconds ago (leaves alone a write
        that another process has in progress).

    Returns
    -------
    list of pathlib.Path
        The files removed.
    """
    removed = []
    now = time.time()
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for entry in os.scandir(folder):
            if not _TEMP_NAME.match(entry.name) or not entry.is_file(follow_symlinks=False):
                continue
            if name is not None and not entry.name.startswith(f".{name}."):
                continue
            with contextlib.suppress(FileNotFoundError):
                if min_age_s and now - entry.stat(follow_symlinks=False).st_mtime < min_age_s:
                    continue
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed
