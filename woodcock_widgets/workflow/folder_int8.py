"""The int8 calibration of a folder run: measured once, kept in the output folder.

``predict --precision int8`` quantizes the model with activation ranges measured on windows
of the recordings (:func:`~woodcock_widgets.ml.int8.int8_calibration`). The first run into an
output folder measures them on the client and writes ``OUT_DIR/int8_calibration.pt``
(atomically; tensors only, read back with ``weights_only=True``); a rerun that resumes the
folder reads it, so every recording of a folder is scored by the same int8 network.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch

from ..errors import PredictionError
from ..io_utils import atomic_torch_save
from ..ml.bundle import ModelBundle

__all__ = ["CALIBRATION_NAME", "folder_calibration"]

CALIBRATION_NAME = "int8_calibration.pt"


def _read(path: Path, model_sha256: str) -> tuple[dict, dict]:
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        observers, record = saved["observers"], saved["record"]
    except Exception as exc:
        raise PredictionError(
            f"cannot read the int8 calibration {path}: {exc}; delete it to measure it again"
        ) from exc
    if record.get("model_sha256") != model_sha256:
        raise PredictionError(
            f"{path} was measured for another model; delete it to measure it again"
        )
    return observers, record


def folder_calibration(
    out_dir: Path,
    bundle: ModelBundle,
    model_sha256: str,
    files: Sequence[str | os.PathLike],
) -> tuple[dict, dict]:
    """The run's int8 observers and their record, read from ``out_dir`` or measured now.

    Parameters
    ----------
    out_dir : Path
        The run's output folder.
    bundle : ModelBundle
        The model (measured on the CPU in float32).
    model_sha256 : str
        The bundle file's hash (a calibration belongs to one model).
    files : sequence of path
        The run's recordings, in the order to draw calibration windows from.

    Returns
    -------
    (dict, dict)
        The observers (:func:`~woodcock_widgets.ml.int8.calibrate_int8`) and a JSON-ready
        record: windows, files, how far int8 scores landed from float32 ones on them.
    """
    from ..ml.int8 import int8_calibration, require_cnn_bundle
    from ..ml.scoring import prepare_model

    require_cnn_bundle(bundle)
    path = Path(out_dir) / CALIBRATION_NAME
    if path.is_file():
        return _read(path, model_sha256)
    cal = int8_calibration(prepare_model(bundle, "cpu", "fp32"), bundle.preprocessing, files)
    record = {**cal.describe(), "model_sha256": model_sha256}
    atomic_torch_save({"observers": cal.observers, "record": record}, path)
    return cal.observers, record
