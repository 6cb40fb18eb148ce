"""Find the recordings of a field season: a folder (searched recursively) or a glob.

Rules, in order, for every file under the folder (or matched by the glob):

- names starting with ``.`` are skipped, folders too (hidden files, macOS ``._`` resource
  forks, the temporary files of interrupted atomic writes);
- with ``include`` patterns, a file is kept when one matches; without, when its suffix is
  one of :data:`AUDIO_SUFFIXES` (case-insensitive);
- a file that an ``exclude`` pattern matches is dropped.

Patterns are shell globs (``fnmatch``, case-sensitive as the file system is) matched against
both the file's path relative to the folder (``site1/2024-04-01/*.wav``, with ``/``
separators and ``*`` crossing folders) and its bare name (``*.flac``).
"""

from __future__ import annotations

import fnmatch
import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import PredictionError

__all__ = ["AUDIO_SUFFIXES", "Discovered", "find_audio"]

#: Suffixes taken as audio when no include pattern is given.
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".opus"})

_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class Discovered:
    """Recordings found under ``root``.

    Parameters
    ----------
    source : str
        What the user gave (folder or glob), for messages.
    root : pathlib.Path
        The folder that relative names (``keys``) are relative to.
    files : list of pathlib.Path
        The recordings, sorted by relative name.
    """

    source: str
    root: Path
    files: list[Path]

    def key(self, path: Path) -> str:
        """The relative name of ``path`` (``/`` separators): its identity in the outputs."""
        return PurePosixPath(*Path(os.path.relpath(path, self.root)).parts).as_posix()


def _matches(rel: str, name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(rel, p) or fnmatch.fnmatchcase(name, p) for p in patterns)


def _walk(folder: Path) -> list[Path]:
    out = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out.extend(Path(root) / f for f in files if not f.startswith("."))
    return out


def find_audio(
    source: str | os.PathLike,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
) -> Discovered:
    """The recordings in a folder (recursively) or matched by a glob.

    Parameters
    ----------
    source : str or path-like
        A folder, or a glob (``/data/2024/**/*.wav``; ``**`` crosses folders). Folders a
        glob matches are searched recursively.
    include, exclude : sequence of str, optional
        Patterns (see the module docstring).

    Returns
    -------
    Discovered
        Files sorted by relative name; ``root`` is the folder (for a glob, the deepest
        folder holding every match).

    Raises
    ------
    PredictionError
        The folder does not exist, or no audio file is found (the message names the folder
        or glob and the patterns).
    """
    include, exclude = list(include or []), list(exclude or [])
    text = os.fspath(source)
    path = Path(text)
    if path.is_dir():
        root, candidates = path, _walk(path)
    elif _GLOB_CHARS & set(text):
        matches = [Path(m) for m in sorted(glob.glob(text, recursive=True))]
        candidates = []
        for m in matches:
            if m.is_dir():
                candidates.extend(_walk(m))
            elif m.is_file() and not m.name.startswith("."):
                candidates.append(m)
        parents = {os.path.abspath(c.parent) for c in candidates}
        root = Path(os.path.commonpath(sorted(parents))) if parents else Path(".")
        if candidates and not path.is_absolute():
            root = Path(os.path.relpath(root))
    elif path.exists():
        raise PredictionError(f"expected a folder of recordings (or a glob), got a file: {path}")
    else:
        raise PredictionError(f"audio folder not found: {path}")

    found = Discovered(text, root, [])
    files = []
    for f in candidates:
        rel = found.key(f)
        if include:
            if not _matches(rel, f.name, include):
                continue
        elif f.suffix.lower() not in AUDIO_SUFFIXES:
            continue
        if exclude and _matches(rel, f.name, exclude):
            continue
        files.append(f)
    if not files:
        what = "folder" if path.is_dir() else "glob"
        rules = f" matching {include}" if include else f" ({', '.join(sorted(AUDIO_SUFFIXES))})"
        if exclude:
            rules += f" once {exclude} are excluded"
        raise PredictionError(f"no audio files{rules} in {what} {text}")
    files = sorted(set(files), key=found.key)
    return Discovered(text, root, files)
