"""Exceptions the kit raises for user errors.

Every user-facing error derives from :class:`WoodcockError`, so the command line can print
one clear line for it instead of a stack trace. Messages always name the file, row or column.
"""

from __future__ import annotations


class WoodcockError(Exception):
    """Base class for errors caused by input the user can fix."""


class AudioLoadError(WoodcockError):
    """An audio file is missing, unreadable, empty or otherwise unusable."""


class LabelError(WoodcockError):
    """A label table is missing, malformed, or has values that cannot be used."""


class SplitError(WoodcockError):
    """A train/validation split cannot be made as asked."""


class ModelError(WoodcockError):
    """A model cannot be built (e.g. pretrained weights cannot be had)."""


class BundleError(WoodcockError):
    """A model bundle is missing, corrupt, unsafe or from an incompatible version."""


class TrainingError(WoodcockError):
    """Training cannot start or continue (bad parameters, NaN loss, unusable run folder)."""


class DownloadError(WoodcockError):
    """A download failed (no network, bad checksum, HTTP error)."""


class ArchiveError(WoodcockError):
    """An archive is unsafe or corrupt and was not extracted."""


class TutorialError(WoodcockError):
    """The tutorial's notebook chain cannot run as asked, or one of its stages failed."""


class AnnotationError(LabelError):
    """An annotation table (Raven, Audacity, CSV of events) cannot be read or used."""


class EmbeddingError(WoodcockError):
    """An embedding model is missing (an optional extra not installed) or cannot run."""


class PredictionError(WoodcockError):
    """Prediction over a folder cannot run as asked (no audio found, bad output folder)."""
