"""What the results review reviews: the model, its run folder, the table and its scores."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import LabelError
from ..ml.bundle import ModelBundle
from ..ml.review import ClipScores, score_clips
from ..ml.window_scores import WindowScores, is_window_frame, is_window_table, score_windows
from ..tables.labeled import CODE_COLUMN
from ..tables.labels import read_labels
from ..workflow.run_folder import RunFolder

__all__ = ["ReviewSource", "open_bundle", "open_review"]


def open_bundle(source: ModelBundle | str | os.PathLike) -> tuple[ModelBundle, RunFolder | None]:
    """The bundle and the run folder it belongs to (``None`` when it is in none).

    ``source`` is a bundle, a bundle file, or a run folder (its best epoch's bundle).
    """
    if not isinstance(source, str | os.PathLike):
        run_dir = getattr(source, "extra", {}).get("run_dir")
        folder = RunFolder(run_dir) if run_dir else None
        return source, folder if folder is not None and folder.config_path.is_file() else None
    path = Path(source)
    if path.is_dir():
        folder = RunFolder(path)
        return folder.latest_bundle(), folder
    return ModelBundle.load(path), RunFolder.containing(path)


@dataclass
class ReviewSource:
    """A model's scores on a labeled table, and where they came from.

    ``windows`` is true for a window table (rows read from ``start_time`` of ``file``;
    ``label_column`` is then ``None``).
    """

    bundle: ModelBundle
    run: RunFolder | None
    df: pd.DataFrame
    scores: ClipScores | WindowScores
    label_column: str | None
    filename_column: str
    source_path: Path | None
    windows: bool


def open_review(
    source: ModelBundle | str | os.PathLike,
    df: pd.DataFrame | str | os.PathLike | None,
    label_column: str | None,
    filename_column: str,
    scores: ClipScores | WindowScores | None,
    batch_size: int,
    device: str,
) -> ReviewSource:
    """Open the model, read the table to review (default: the run's ``valid.csv``), score it.

    Raises
    ------
    LabelError
        No table to review, or labels that do not fit the model.
    """
    bundle, run = open_bundle(source)
    path = None
    if df is None:
        if run is None or not run.valid_csv.is_file():
            raise LabelError("no table to review: pass df (or a run folder with its clips)")
        df = run.valid_csv
    if not isinstance(df, pd.DataFrame):
        path = Path(df)
        if is_window_table(path):
            scores = scores or score_windows(bundle, path, batch_size, device)
            return ReviewSource(bundle, run, scores.df, scores, None, "file", path, True)
        df = read_labels(path, filename_column=filename_column, check_files=False)
    if is_window_frame(df, bundle.class_names):
        scores = scores or score_windows(bundle, df, batch_size, device)
        return ReviewSource(bundle, run, df, scores, None, "file", path, True)
    if label_column is None and run is not None:
        label_column = run.class_column()
    if label_column is not None and label_column not in df.columns:
        label_column = None if CODE_COLUMN in df.columns else label_column
    scores = scores or score_clips(bundle, df, label_column, filename_column, batch_size, device)
    return ReviewSource(bundle, run, df, scores, label_column, filename_column, path, False)
