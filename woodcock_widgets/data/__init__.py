"""Data layer: the built-in generated woodcock set, the download, safe archive extraction.

* :mod:`.synthetic` — :func:`make_woodcock_dataset` (recipes in :mod:`.sounds`, :mod:`.field`);
* :mod:`.download` — :func:`fetch` (pooch: checksum, cache, the offline switch) and
  :func:`download_woodcock`, the original tutorial's clips;
* :mod:`.archive` — :func:`safe_extract`.
"""

from .archive import safe_extract
from .download import LABELS_FILENAME, OFFLINE_ENV, download_woodcock, fetch, offline
from .synthetic import DATASET_SIZES, DIFFICULTIES, make_sized_dataset, make_woodcock_dataset

__all__ = [
    "DATASET_SIZES",
    "DIFFICULTIES",
    "LABELS_FILENAME",
    "OFFLINE_ENV",
    "download_woodcock",
    "fetch",
    "make_sized_dataset",
    "make_woodcock_dataset",
    "offline",
    "safe_extract",
]
