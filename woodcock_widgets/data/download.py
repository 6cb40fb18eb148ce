"""Downloads with a checksum and a cache, through :mod:`pooch`; the tutorial's archive.

:func:`fetch` is the kit's one downloader (the tutorial's clips here, ImageNet weights in
:mod:`woodcock_widgets.ml.models`). It hands the transfer, the temporary file, the SHA-256
check and the cache to :func:`pooch.retrieve`, and adds what the kit needs around it:

* the offline switch: with the environment variable ``WOODCOCK_OFFLINE`` set (to anything but
  ``0``, ``false``, ``no``, ``off`` or nothing), no http(s) request is made at all and the
  error says so;
* ``file://`` URLs (pooch knows none), copied by a small pooch downloader and never cached;
* a check of the SHA-256 *prefix* that file names like ``resnet18-f37072fd.pth`` carry;
* errors as :class:`~woodcock_widgets.errors.DownloadError` naming the URL.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import DownloadError
from .archive import safe_extract

__all__ = [
    "LABELS_FILENAME",
    "OFFLINE_ENV",
    "WOODCOCK_URL",
    "default_cache_dir",
    "download_woodcock",
    "fetch",
    "offline",
]

#: The ``woodcock_labeled_data.tar.gz`` archive used by the OpenSoundscape tutorial.
WOODCOCK_URL = "https://pitt.box.com/shared/static/79fi7d715dulcldsy6uogz02rsn5uesd.gz"

#: Name of the label table inside a dataset folder.
LABELS_FILENAME = "woodcock_labels.csv"

#: Set this environment variable (``1``) to forbid every network download.
OFFLINE_ENV = "WOODCOCK_OFFLINE"

Progress = Callable[[int, int], None]
_CHUNK = 1024**2
_NOT_SET = {"", "0", "false", "no", "off"}


def offline() -> bool:
    """Whether the ``WOODCOCK_OFFLINE`` switch forbids network downloads."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in _NOT_SET


def default_cache_dir() -> Path:
    """Where downloads are cached: the user's cache folder (``pooch.os_cache``)."""
    import pooch

    return Path(pooch.os_cache("woodcock_widgets"))


def _hint(url: str, reason: object) -> str:
    return (
        f"could not download {url}: {reason}. The network may be unavailable (or the address "
        "is wrong). Without a network, use make_woodcock_dataset() (or make_preset_dataset()) "
        "to generate the built-in woodcock-like dataset instead."
    )


class _Progress:
    """The progress-bar object pooch drives (``total``, ``update``, ``reset``, ``close``)."""

    def __init__(self, report: Progress) -> None:
        self.report = report
        self.total = 0
        self.done = 0

    def update(self, n: int) -> None:
        if n <= 0:
            return
        self.done += n
        if self.total:
            self.done = min(self.done, self.total)
        self.report(self.done, self.total)

    def reset(self) -> None:
        self.done = 0

    def close(self) -> None:
        pass


class _FileDownloader:
    """A pooch downloader for ``file://`` URLs: copies the file in chunks."""

    def __init__(self, progress: _Progress | None) -> None:
        self.progress = progress

    def __call__(self, url: str, output_file, pooch) -> None:
        source = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
        if self.progress is not None:
            self.progress.total = source.stat().st_size
        with open(source, "rb") as src, open(output_file, "wb") as out:
            while chunk := src.read(_CHUNK):
                out.write(chunk)
                if self.progress is not None:
                    self.progress.update(len(chunk))


class _PrefixChecked:
    """Wraps a pooch downloader: the downloaded file's SHA-256 must start with ``prefix``.

    Raising inside the downloader makes pooch delete its temporary file, so a file that
    fails the check never reaches the cache.
    """

    def __init__(self, downloader, prefix: str) -> None:
        self.downloader = downloader
        self.prefix = prefix

    def __call__(self, url: str, output_file, pooch) -> None:
        self.downloader(url, output_file, pooch)
        digest = hashlib.sha256()
        with open(output_file, "rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
        if not digest.hexdigest().startswith(self.prefix):
            raise ValueError(
                f"SHA256 hash of downloaded file ({digest.hexdigest()}) does not start with the "
                f"expected {self.prefix}"
            )


def _check_sha256(value: str | None, name: str, full: bool) -> str | None:
    if value is None:
        return None
    text = value.strip().lower()
    pattern = r"[0-9a-f]{64}" if full else r"[0-9a-f]{1,64}"
    if not re.fullmatch(pattern, text):
        what = "64 hexadecimal digits" if full else "1 to 64 hexadecimal digits"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return text


def fetch(
    url: str,
    path: str | os.PathLike,
    fname: str | None = None,
    *,
    sha256: str | None = None,
    sha256_prefix: str | None = None,
    timeout: float = 30.0,
    progress: Progress | None = None,
    allow_network: bool | None = None,
) -> Path:
    """Download ``url`` to ``path/fname`` once, checked, and return the file.

    A file already there is reused when it matches ``sha256`` (or when no ``sha256`` is
    given); otherwise it is downloaded again. The transfer goes to a temporary file in
    ``path`` that replaces ``path/fname`` only after the checks pass, so a failed or
    tampered download leaves nothing behind.

    Parameters
    ----------
    url : str
        ``http``, ``https`` or ``file`` URL.
    path : str or path-like
        The folder (cache) to keep the file in; created when missing.
    fname : str, optional
        File name in ``path``; default: the URL's last component.
    sha256 : str, optional
        Expected SHA-256 of the file, as 64 hex digits.
    sha256_prefix : str, optional
        Expected first hex digits of the SHA-256 (as in ``resnet18-f37072fd.pth``).
    timeout : float
        Seconds to wait for the server on connecting and on each read.
    progress : callable, optional
        Called as ``progress(bytes_done, bytes_total)``; ``bytes_total`` is 0 when the server
        does not say.
    allow_network : bool, optional
        Whether http(s) downloads are allowed; default: unless :func:`offline`.

    Returns
    -------
    pathlib.Path
        The checked file.

    Raises
    ------
    DownloadError
        When the download is forbidden or fails, sends nothing, or fails a checksum (the
        message names the URL).
    ValueError
        When ``sha256`` or ``sha256_prefix`` is not hex digits.
    """
    import pooch
    import requests

    expected = _check_sha256(sha256, "sha256", full=True)
    prefix = _check_sha256(sha256_prefix, "sha256_prefix", full=False)
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https", "file"):
        raise DownloadError(
            f"cannot download {url!r}: only http, https and file URLs are supported"
        )
    if allow_network is None:
        allow_network = not offline()
    if scheme != "file" and not allow_network:
        raise DownloadError(
            f"not downloading {url}: {OFFLINE_ENV} is set, so this kit makes no network "
            f"requests (unset it, or set it to 0, to download). Without a network, use "
            "make_woodcock_dataset() (or make_preset_dataset()) to generate the built-in "
            "woodcock-like dataset instead."
        )
    bar = _Progress(progress) if progress is not None else None
    if scheme == "file":
        downloader = _FileDownloader(bar)
    else:
        downloader = pooch.HTTPDownloader(
            progressbar=bar or False, chunk_size=64 * 1024, timeout=timeout
        )
    if prefix:
        downloader = _PrefixChecked(downloader, prefix)
    fname = fname or urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1] or "download"
    try:
        got = Path(pooch.retrieve(url, expected, fname=fname, path=path, downloader=downloader))
    except ValueError as exc:
        raise DownloadError(
            f"checksum mismatch for {url}: {str(exc).split('. Deleted')[0]}; the file was discarded"
        ) from exc
    except requests.exceptions.HTTPError as exc:
        response = exc.response
        reason = f"HTTP {response.status_code} {response.reason}" if response is not None else exc
        raise DownloadError(_hint(url, reason)) from exc
    except (requests.exceptions.RequestException, OSError) as exc:
        raise DownloadError(_hint(url, _reason(exc))) from exc
    if got.stat().st_size == 0:
        got.unlink()
        raise DownloadError(_hint(url, "the server sent nothing"))
    return got


def _reason(exc: BaseException) -> str:
    """The innermost message of a requests/urllib3 error chain, on one line."""
    while exc.args and isinstance(exc.args[0], BaseException):
        exc = exc.args[0]
    inner = getattr(exc, "reason", None)
    text = str(inner or exc) or type(exc).__name__
    return text.splitlines()[0]


def _find_labels(paths: Iterable[Path]) -> Path | None:
    found = [p for p in paths if p.name == LABELS_FILENAME and p.is_file()]
    return min(found, key=lambda p: (len(p.parts), str(p))) if found else None


def download_woodcock(
    dest: str | os.PathLike,
    url: str = WOODCOCK_URL,
    *,
    sha256: str | None = None,
    timeout: float = 30.0,
    progress: Progress | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Path:
    """Download the tutorial's labeled woodcock clips and extract them safely.

    The archive is fetched with :func:`fetch` (an http(s) download is kept in ``cache_dir``
    and reused next time; a ``file://`` archive is read where it is), checked against
    ``sha256`` when given, and extracted into ``dest`` with
    :func:`~woodcock_widgets.data.archive.safe_extract`. ``dest`` receives only the archive's
    contents.

    Parameters
    ----------
    dest : str or path-like
        Folder to extract into (created when missing); the archive holds a
        ``woodcock_labeled_data`` folder.
    url : str
        ``http``, ``https`` or ``file`` URL of a tar or zip archive.
    sha256 : str, optional
        Expected SHA-256 of the archive, as 64 hex digits.
    timeout : float
        Seconds to wait for the server on connecting and on each read.
    progress : callable, optional
        Called as ``progress(bytes_done, bytes_total)`` while downloading; ``bytes_total``
        is 0 when the server does not say.
    cache_dir : str or path-like, optional
        Where http(s) downloads are kept (default :func:`default_cache_dir`).

    Returns
    -------
    pathlib.Path
        The extracted ``woodcock_labels.csv`` (the shallowest one, if several).

    Raises
    ------
    DownloadError
        When the download is forbidden (``WOODCOCK_OFFLINE``) or fails (the message names the
        URL and suggests the built-in dataset), the checksum differs, or the archive holds no
        ``woodcock_labels.csv``.
    ArchiveError
        When the archive is unsafe or corrupt (nothing is extracted then).
    ValueError
        When ``sha256`` is not 64 hex digits.
    """
    _check_sha256(sha256, "sha256", full=True)
    dest_path = Path(dest)
    dest_path.mkdir(parents=True, exist_ok=True)
    fname = hashlib.sha256(url.encode()).hexdigest()[:16] + "-woodcock-archive"
    kw = dict(sha256=sha256, timeout=timeout, progress=progress)
    if urllib.parse.urlsplit(url).scheme.lower() == "file":
        with tempfile.TemporaryDirectory(prefix="woodcock-download-") as tmp:
            extracted = safe_extract(fetch(url, tmp, fname, **kw), dest_path)
    else:
        cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        archive = fetch(url, cache, fname, **kw)
        try:
            extracted = safe_extract(archive, dest_path)
        except Exception:
            archive.unlink(missing_ok=True)  # a refused archive is not kept for next time
            raise
    labels = _find_labels(extracted)
    if labels is None:
        raise DownloadError(
            f"the archive from {url} holds no {LABELS_FILENAME} (extracted into {dest_path})"
        )
    return labels
