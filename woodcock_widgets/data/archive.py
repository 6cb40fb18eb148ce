"""Safe extraction of downloaded tar and zip archives.

Tar archives go through the standard library's ``data`` extraction filter
(:func:`tarfile.data_filter`, Python 3.10.12+, 3.11.4+, 3.12+): it refuses members that would
land outside the destination (``..``, links already in the destination), device files and
FIFOs, and drops owners, setuid bits and group/other write permission. On top of it this
module adds only what the filter lacks:

* the whole member list is checked **before anything is written** (the filter judges one
  member at a time, while extracting);
* absolute names and every link are refused (the filter would silently re-root an absolute
  name, and allows links that stay inside the destination; a labeled-clip archive needs
  neither);
* limits on the member count, the total size and the compression ratio (decompression
  bombs);
* zip archives, which have no such filter: the same checks, by hand, and sizes enforced again
  while writing;
* on failure, whatever this call created is removed again.
"""

from __future__ import annotations

import contextlib
import lzma
import os
import re
import stat
import tarfile
import zipfile
import zlib
from pathlib import Path

from ..errors import ArchiveError

__all__ = ["safe_extract"]

# Archives whose members add up to less than this are never refused for their ratio alone:
# nothing that small can fill a disk, and small silent WAVs or tables compress very well.
_RATIO_FLOOR_BYTES = 1024**2
_CHUNK = 1024**2
_READ_ERRORS = (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError)
_DRIVE = re.compile(r"^[A-Za-z]:")
_HAS_DATA_FILTER = hasattr(tarfile, "data_filter")
_FILTER_ERROR = getattr(tarfile, "FilterError", ArchiveError)


def _refusal(archive: Path, name: str, why: str) -> ArchiveError:
    return ArchiveError(f"refusing to extract {archive}: member {name!r} {why}")


def _name_parts(archive: Path, name: str) -> list[str]:
    """The path components of a member name; refuses empty and absolute names.

    ``..`` is left to the caller, which refuses it too: a clip archive has no use for it,
    even where it would stay inside the destination.
    """
    if not name or "\x00" in name:
        raise _refusal(archive, name, "has an empty or invalid name")
    norm = name.replace("\\", "/")
    if norm.startswith("/") or _DRIVE.match(norm):
        raise _refusal(archive, name, "has an absolute path")
    return [p for p in norm.split("/") if p not in ("", ".")]


def _outside(archive: Path, root: Path, name: str, parts: list[str]) -> ArchiveError:
    if ".." in parts:
        return _refusal(archive, name, "has a '..' path component")
    return _refusal(archive, name, f"resolves outside the destination {root}")


def _check_totals(
    archive: Path, sizes: list[tuple[str, int]], max_total_bytes: int, max_ratio: float
) -> None:
    total = sum(size for _, size in sizes)
    if total > max_total_bytes:
        raise ArchiveError(
            f"refusing to extract {archive}: its members add up to {total} bytes, over the "
            f"limit of {max_total_bytes} bytes"
        )
    archive_size = max(1, archive.stat().st_size)
    if total > _RATIO_FLOOR_BYTES and total / archive_size > max_ratio:
        biggest = max(sizes, key=lambda item: item[1])[0]
        raise ArchiveError(
            f"refusing to extract {archive}: it would expand {total / archive_size:.0f}-fold "
            f"(limit {max_ratio}), a likely decompression bomb; largest member {biggest!r}"
        )


def _too_many(archive: Path, limit: int, name: str) -> ArchiveError:
    return ArchiveError(f"refusing to extract {archive}: more than {limit} members (at {name!r})")


# ------------------------------------------------------------------------------------- tar
def _plan_tar(archive: Path, tf: tarfile.TarFile, root: Path, limits: dict) -> list:
    """``[(member, target)]`` after every member passed the checks (nothing written yet)."""
    plan, sizes, total = [], [], 0
    while (member := tf.next()) is not None:
        if len(plan) >= limits["max_members"]:
            raise _too_many(archive, limits["max_members"], member.name)
        parts = _name_parts(archive, member.name)
        if ".." in parts:
            raise _outside(archive, root, member.name, parts)
        if member.issym() or member.islnk():
            kind = "a symbolic link" if member.issym() else "a hard link"
            raise _refusal(archive, member.name, f"is {kind}")
        try:
            tarfile.data_filter(member, str(root))
        except tarfile.OutsideDestinationError:
            raise _outside(archive, root, member.name, parts) from None
        except tarfile.SpecialFileError:
            kind = "a FIFO" if member.isfifo() else "a device file"
            if not (member.isfifo() or member.ischr() or member.isblk()):
                kind = "an unsupported special file"
            raise _refusal(archive, member.name, f"is {kind}") from None
        except _FILTER_ERROR as exc:
            raise _refusal(
                archive, member.name, f"is refused by tarfile's filter ({exc})"
            ) from None
        if not (member.isreg() or member.isdir()):
            raise _refusal(archive, member.name, "is an unsupported special file")
        if member.isreg():
            if not parts:
                raise _refusal(archive, member.name, "has no file name")
            sizes.append((member.name, member.size))
            total += member.size
            if total > limits["max_total_bytes"]:
                break  # refused below; no need to read on through a bomb
        plan.append((member, root.joinpath(*parts) if parts else None))
    _check_totals(archive, sizes, limits["max_total_bytes"], limits["max_ratio"])
    return plan


def _extract_tar(tf: tarfile.TarFile, plan: list, root: Path, undo: _Undo) -> list[Path]:
    for _, target in plan:
        if target is not None:
            undo.will_create(target)
    tf.extractall(root, members=[member for member, _ in plan], filter="data")
    return [target for _, target in plan if target is not None]


# ------------------------------------------------------------------------------------- zip
def _plan_zip(archive: Path, zf: zipfile.ZipFile, root: Path, limits: dict) -> list:
    """``[(info, target, is_dir)]`` after every member passed the checks."""
    infos = zf.infolist()
    if len(infos) > limits["max_members"]:
        raise _too_many(archive, limits["max_members"], infos[limits["max_members"]].filename)
    plan, sizes = [], []
    for info in infos:
        name = info.filename
        fmt = stat.S_IFMT((info.external_attr >> 16) & 0xFFFF)
        if fmt not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise _refusal(
                archive, name, "is a symbolic link" if fmt == stat.S_IFLNK else "is a special file"
            )
        if info.flag_bits & 0x1:
            raise _refusal(archive, name, "is encrypted")
        is_dir = info.is_dir() or fmt == stat.S_IFDIR
        parts = _name_parts(archive, name)
        if ".." in parts:
            raise _outside(archive, root, name, parts)
        if not parts and not is_dir:
            raise _refusal(archive, name, "has no file name")
        target = root.joinpath(*parts) if parts else None
        if target is not None:
            real = os.path.realpath(target)
            if os.path.commonpath([str(root), real]) != str(root):
                raise _outside(archive, root, name, parts)
            plan.append((info, target, is_dir))
        if not is_dir:
            sizes.append((name, info.file_size))
    _check_totals(archive, sizes, limits["max_total_bytes"], limits["max_ratio"])
    return plan


def _extract_zip(archive: Path, zf: zipfile.ZipFile, plan: list, root: Path, undo, limit: int):
    written = 0
    for info, target, is_dir in plan:
        undo.will_create(target)
        if is_dir:
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        real = os.path.realpath(target)
        if os.path.commonpath([str(root), real]) != str(root):
            raise _refusal(archive, info.filename, "escapes the destination")
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
        size = 0
        with zf.open(info) as src, os.fdopen(os.open(target, flags, 0o644), "wb") as out:
            while chunk := src.read(_CHUNK):
                size += len(chunk)
                written += len(chunk)
                if size > info.file_size:
                    raise _refusal(
                        archive,
                        info.filename,
                        f"holds more than its declared {info.file_size} bytes",
                    )
                if written > limit:
                    raise ArchiveError(
                        f"refusing to extract {archive}: over {limit} bytes written (at member "
                        f"{info.filename!r})"
                    )
                out.write(chunk)
    return [target for _, target, _ in plan]


# ----------------------------------------------------------------------------------- common
class _Undo:
    """Remembers the files and folders an extraction is about to create, to remove them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.paths: list[Path] = []
        self._seen: set[Path] = set()

    def will_create(self, target: Path) -> None:
        missing = []
        p = target
        while p != self.root and p not in self._seen and not os.path.lexists(p):
            missing.append(p)
            p = p.parent
        for path in reversed(missing):
            self._seen.add(path)
            self.paths.append(path)

    def undo(self) -> None:
        for path in reversed(self.paths):
            with contextlib.suppress(OSError):
                if path.is_dir() and not path.is_symlink():
                    path.rmdir()
                elif os.path.lexists(path):
                    path.unlink()


def _archive_kind(archive: Path) -> str:
    with open(archive, "rb") as f:
        head = f.read(4)
    return "zip" if head[:2] == b"PK" and zipfile.is_zipfile(archive) else "tar"


def safe_extract(
    archive_path: str | os.PathLike,
    dest: str | os.PathLike,
    *,
    max_total_bytes: int = 2 * 1024**3,
    max_members: int = 100_000,
    max_ratio: float = 200,
) -> list[Path]:
    """Extract a tar (plain, gzip, bzip2, xz) or zip archive, refusing anything unsafe.

    The whole member list is checked before anything is written. Refused: absolute paths,
    names resolving outside ``dest`` (through ``..`` or through links already in ``dest``),
    symbolic and hard links, device files, FIFOs, encrypted zip members, more than
    ``max_members`` members, and likely decompression bombs. Tar members are then written by
    :mod:`tarfile` with its ``data`` filter (owners dropped; no setuid, setgid, sticky or
    group/other write bits); zip members with mode 0644, their sizes enforced while writing.
    If writing fails, the files and folders this call created are removed.

    Parameters
    ----------
    archive_path : str or path-like
        The archive. Its format is recognised from its content, not its name.
    dest : str or path-like
        Destination folder; created when missing.
    max_total_bytes : int
        Largest total of the members' sizes (declared, and for zip also actually written).
    max_members : int
        Largest number of members.
    max_ratio : float
        Largest ratio of the members' total size to the archive's size on disk. Only applied
        when the members add up to more than 1 MiB.

    Returns
    -------
    list of pathlib.Path
        The extracted files and folders, in archive order.

    Raises
    ------
    ArchiveError
        When the archive is unsafe, corrupt or unreadable, or (for tar) when this Python's
        :mod:`tarfile` has no extraction filters; the message names the archive and, where
        there is one, the offending member.
    """
    archive = Path(archive_path)
    if not archive.is_file():
        raise ArchiveError(f"cannot extract {archive}: no such file")
    limits = dict(max_total_bytes=max_total_bytes, max_members=max_members, max_ratio=max_ratio)
    dest_path = Path(dest)
    dest_path.mkdir(parents=True, exist_ok=True)
    root = Path(os.path.realpath(dest_path))
    undo = _Undo(root)
    try:
        if _archive_kind(archive) == "zip":
            with zipfile.ZipFile(archive) as zf:
                plan = _plan_zip(archive, zf, root, limits)
                return _extract_zip(archive, zf, plan, root, undo, max_total_bytes)
        if not _HAS_DATA_FILTER:
            raise ArchiveError(
                f"cannot extract {archive} safely: this Python's tarfile has no extraction "
                "filters (they came with Python 3.10.12, 3.11.4 and 3.12); upgrade Python"
            )
        with tarfile.open(archive, "r:*") as tf:
            plan = _plan_tar(archive, tf, root, limits)
            return _extract_tar(tf, plan, root, undo)
    except ArchiveError:
        undo.undo()
        raise
    except _FILTER_ERROR as exc:  # a member the filter refused while writing (a race)
        undo.undo()
        raise ArchiveError(f"refusing to extract {archive}: {exc}") from exc
    except (*_READ_ERRORS, NotImplementedError) as exc:
        undo.undo()
        detail = str(exc).splitlines()[0].rstrip(":") if str(exc) else type(exc).__name__
        raise ArchiveError(
            f"cannot extract {archive}: it is corrupt or not a tar, tar.gz/tgz, tar.bz2, "
            f"tar.xz or zip archive ({detail})"
        ) from exc
    except OSError as exc:
        undo.undo()
        raise ArchiveError(f"cannot extract {archive} into {root}: {exc}") from exc
    except BaseException:
        undo.undo()
        raise
