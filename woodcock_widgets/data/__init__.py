"""Data layer: the built-in synthetic woodcock set, safe archive extraction, the download."""

from .synthetic import make_woodcock_dataset

__all__ = ["download_woodcock", "make_woodcock_dataset"]


def __getattr__(name: str):
    if name == "download_woodcock":
        from .synthetic import download_woodcock

        return download_woodcock
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
