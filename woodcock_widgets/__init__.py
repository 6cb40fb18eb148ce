"""woodcock_widgets: from labeled audio clips to a trained, evaluated, saved classifier.

The original tutorial's names are importable from here::

    from woodcock_widgets import Audio, Spectrogram, SingleTargetAudioDataset
    from woodcock_widgets import run_command, binary_train_valid_split, train

Submodules are imported on first use, so ``import woodcock_widgets`` stays fast.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "Audio": "audio",
    "Spectrogram": "audio",
    "Preprocessing": "audio",
    "LabelMap": "tables.labels",
    "read_labels": "tables.labels",
    "remap_labels": "tables.labels",
    "numeric_labels": "tables.labels",
    "split_train_valid": "tables.splits",
    "balance_report": "tables.splits",
    "AudioClipDataset": "ml.datasets",
    "SingleTargetAudioDataset": "ml.datasets",
    "build_model": "ml.models",
    "Trainer": "ml.trainer",
    "TrainingConfig": "ml.training_config",
    "Callback": "ml.trainer",
    "TrainingJob": "ml.jobs",
    "train": "ml.training",
    "RunFolder": "workflow.run_folder",
    "run_command": "tutorial.classic",
    "binary_train_valid_split": "tutorial.classic",
    "ModelBundle": "ml.bundle",
    "predict": "ml.predict",
    "make_woodcock_dataset": "data",
    "download_woodcock": "data",
    "WoodcockError": "errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'woodcock_widgets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
