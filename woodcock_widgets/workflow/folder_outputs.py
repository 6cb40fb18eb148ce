"""The output folder of a folder prediction: score files, merged tables, run settings.

See :mod:`.folder_predict` for the layout. Everything here is written atomically (temporary
file and rename), so a crash leaves each file either as it was or complete.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

from ..errors import PredictionError
from ..io_utils import atomic_write_bytes, atomic_write_csv
from .manifest import Manifest

__all__ = [
    "DETECTION_COLUMNS",
    "write_scores",
    "read_scores",
    "write_tables",
    "redo_detections",
    "check_run_settings",
    "file_sha256",
]

DETECTION_COLUMNS = ["file", "start_time", "end_time", "annotation", "score"]


def write_scores(path: str | os.PathLike, df, fmt: str) -> Path:
    """Write a score table as Parquet or CSV, atomically."""
    if fmt == "csv":
        return atomic_write_csv(path, df)
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return atomic_write_bytes(path, buf.getvalue())


def read_scores(path: str | os.PathLike):
    """Read a score file written by :func:`write_scores` (by its suffix)."""
    import pandas as pd

    path = Path(path)
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file (read in 1 MiB pieces)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_run_settings(out_dir: Path, settings: dict[str, Any]) -> bool:
    """Compare with the ``run.json`` of an earlier run into ``out_dir``.

    Returns
    -------
    bool
        True when only the detection settings changed (their detections must be redone).

    Raises
    ------
    PredictionError
        The folder holds scores of another model, window overlap or format, of recordings
        in another folder, or made with int8 when this run is not (or the reverse).
    """
    path = out_dir / "run.json"
    if not path.is_file():
        return False
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise PredictionError(f"cannot read {path}: {exc}; use a new output folder") from exc
    changed = [k for k in ("model_sha256", "overlap", "format") if old.get(k) != settings[k]]
    if changed:
        raise PredictionError(
            f"{out_dir} holds predictions made with another {' and '.join(changed)} "
            f"(see {path}); choose a new output folder, or delete it to start over"
        )
    was_int8 = old.get("precision") == "int8"
    if was_int8 != (settings.get("precision") == "int8"):
        raise PredictionError(
            f"{out_dir} holds scores made {'with' if was_int8 else 'without'} int8 (see "
            f"{path}); resume it with the same precision, or choose a new output folder"
        )
    if old.get("audio_root", settings["audio_root"]) != settings["audio_root"]:
        raise PredictionError(
            f"{out_dir} holds predictions for the recordings in {old['audio_root']}, not "
            f"{settings['audio_root']}; choose a new output folder (if the recordings moved, "
            f"set audio_root in {path} to their new place)"
        )
    return old.get("detection") != settings["detection"]


def redo_detections(
    manifest: Manifest,
    thresholds: dict[str, float],
    merge_gap: float | None,
    high_freq: float,
) -> int:
    """Detections and Raven tables of the finished files again, from their score files.

    Returns
    -------
    int
        Files redone.
    """
    from ..ml.predict import detect, merge_detections, to_raven_table, write_raven_table

    n = 0
    for entry in manifest.done().values():
        score_path = manifest.out_dir / entry["scores"]
        if not score_path.is_file():
            continue
        dets = detect(read_scores(score_path), thresholds)
        if merge_gap is not None:
            dets = merge_detections(dets, merge_gap)
        table = to_raven_table(dets, high_freq=high_freq)
        write_raven_table(table, manifest.out_dir / entry["raven"])
        counts = dets["annotation"].value_counts().to_dict() if len(dets) else {}
        manifest.append({**entry, "detections": {c: int(counts.get(c, 0)) for c in thresholds}})
        n += 1
    return n


def write_tables(manifest: Manifest) -> None:
    """``detections.csv`` (every finished file) and ``errors.csv``, from the manifest."""
    import pandas as pd

    from ..ml.predict import read_raven_table

    out_dir = manifest.out_dir
    parts = []
    for entry in manifest.done().values():
        raven = out_dir / entry.get("raven", "")
        if not entry.get("raven") or not raven.is_file():
            continue
        table = read_raven_table(raven)
        if table.empty:
            continue
        parts.append(
            pd.DataFrame(
                {
                    "file": entry.get("path", entry["file"]),
                    "start_time": table["Begin Time (s)"].to_numpy(float),
                    "end_time": table["End Time (s)"].to_numpy(float),
                    "annotation": table["Annotation"].astype(str).to_numpy(),
                    "score": table["Score"].to_numpy(float),
                }
            )
        )
    dets = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=DETECTION_COLUMNS)
    atomic_write_csv(out_dir / "detections.csv", dets)
    errors = pd.DataFrame(
        [(e.get("path", k), e.get("error", "")) for k, e in manifest.failed().items()],
        columns=["file", "error"],
    )
    atomic_write_csv(out_dir / "errors.csv", errors)
