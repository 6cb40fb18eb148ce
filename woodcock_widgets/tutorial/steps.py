"""The classroom notebooks' API: each notebook's plumbing as one call, so the notebooks read
as a story (prose, parameters, a call or two, a widget).

Every function takes the tutorial's run folder, reads what the previous notebook wrote there
(through :class:`~woodcock_widgets.tutorial.tutorial_run.TutorialRun` and
:class:`~woodcock_widgets.workflow.run_folder.RunFolder`, which own the file names), writes
its own outputs atomically and prints one line per file it wrote. The widgets are passed in
(this layer never imports a widget library): any object with the attributes used here works.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from ..io_utils import atomic_write_csv
from ..tables.labeled import CODE_COLUMN, LabeledTable
from ..tables.labels import read_labels, save_labels
from .tutorial_run import TutorialRun

__all__ = [
    "setup",
    "get_clips",
    "save_clips",
    "counts",
    "read_clips",
    "save_classes",
    "read_classes",
    "save_split",
    "training_inputs",
    "training_dir",
    "preprocessing",
    "train",
    "method_options",
    "review_files",
    "confusion_table",
    "scan_recording",
    "save_predictions",
]


def setup() -> None:
    """Switch on Colab's widget manager (elsewhere widgets already draw; nothing happens)."""
    if "google.colab" in sys.modules:  # pragma: no cover - only on Colab
        from google.colab import output  # type: ignore[import-not-found]

        output.enable_custom_widget_manager()


# ---------------------------------------------------------------------- 01 get data
def get_clips(
    run_dir: str | os.PathLike,
    download: bool = False,
    n_song: int = 150,
    n_call: int = 30,
    n_absent: int = 120,
    seed: int = 0,
    difficulty: str = "field",
) -> pd.DataFrame:
    """Download the original clips or generate the built-in ones into ``run_dir/data``.

    Returns
    -------
    pandas.DataFrame
        The clips (absolute paths) with their ``woodcock`` and ``sound_type`` labels.
    """
    from ..data import download_woodcock, make_woodcock_dataset

    run = TutorialRun(run_dir)
    data_dir = run.path / "data"
    if download:
        labels_csv = download_woodcock(data_dir)
    else:
        labels_csv = make_woodcock_dataset(
            data_dir,
            n_song=n_song,
            n_call=n_call,
            n_absent=n_absent,
            seed=seed,
            difficulty=difficulty,
        )
    clips = read_labels(labels_csv, required_columns=["filename", "woodcock", "sound_type"])
    print(f"{len(clips)} clips in {data_dir}; label table {labels_csv}")
    return clips


def save_clips(run_dir: str | os.PathLike, clips: pd.DataFrame) -> None:
    """Save the clip table as the run's ``clips.csv``, paths relative to the run folder."""
    run = TutorialRun(run_dir)
    to_save = clips.copy()
    root = run.path.resolve()
    to_save["filename"] = [Path(f).relative_to(root).as_posix() for f in clips["filename"]]
    save_labels(to_save, run.clips_csv)
    print(f"wrote {run.clips_csv} ({len(clips)} clips)")


def counts(table: pd.DataFrame, rows: str, columns: str) -> pd.DataFrame:
    """How many clips have each pair of values of two columns (with totals)."""
    return pd.crosstab(table[rows], table[columns], margins=True)


# ----------------------------------------------------------- 02 inspect and relabel
def read_clips(run_dir: str | os.PathLike) -> pd.DataFrame:
    """The clip table notebook 1 wrote (paths resolved)."""
    clips = read_labels(TutorialRun(run_dir).clips_csv)
    print(f"{len(clips)} clips; columns: {', '.join(clips.columns)}")
    return clips


def save_classes(run_dir: str | os.PathLike, remapper: Any) -> pd.DataFrame:
    """Save the remapper's table and its classes; return original value × class counts."""
    run = TutorialRun(run_dir)
    remapper.save(run.labels_csv)
    table: LabeledTable = remapper.table
    classes = run.labels.write_labels(
        table, source_column=remapper.source_column, mapping=remapper.mapping
    )
    per_class = table.df[table.class_column].value_counts().to_dict()
    print(f"wrote {run.labels_csv} ({len(table.df)} clips; {table.class_column}: {per_class})")
    print(f"wrote {classes} (label dictionary {table.label_dict})")
    return counts(table.df, remapper.source_column, table.class_column)


# ------------------------------------------------------------------------ 03 split
def read_classes(run_dir: str | os.PathLike) -> tuple[pd.DataFrame, str]:
    """The remapped table of notebook 2 and the name of its class column."""
    run = TutorialRun(run_dir)
    labels = read_labels(run.labels_csv)
    class_column = run.labels.read_labels()["class_column"]
    print(f"{len(labels)} clips; classes in column {class_column!r}")
    return labels, class_column


def save_split(run_dir: str | os.PathLike, balance: Any) -> pd.DataFrame:
    """Save the split a SplitBalance shows, and its class shares; return the shares."""
    run = TutorialRun(run_dir)
    train_csv, valid_csv = balance.save(run.path)
    split = balance.result
    atomic_write_csv(run.balance_csv, split.report, index=True)
    for warning in split.warnings:
        print("warning:", warning)
    print(f"wrote {train_csv} ({len(split.train)} clips)")
    print(f"wrote {valid_csv} ({len(split.valid)} clips)")
    print(f"wrote {run.balance_csv} (class shares in all, train and valid)")
    return split.report.round(2)


# ------------------------------------------------------------------------ 04 train
def training_inputs(run_dir: str | os.PathLike):
    """The classes of notebook 2 and the split of notebook 3: ``(table, (train, valid))``."""
    table, split = TutorialRun(run_dir).labels.labeled_table()
    print(f"{len(split[0])} training clips, {len(split[1])} validation clips")
    print(f"classes {table.label_dict}")
    return table, split


#: BirdNET's label of the tutorial's species: its zero-shot score sits beside ours in 04.
ZERO_SHOT_SPECIES = "Scolopax minor_American Woodcock"


def training_dir(run_dir: str | os.PathLike) -> Path:
    """The training run's folder inside the tutorial run."""
    return TutorialRun(run_dir).training.path


def train(control: Any) -> pd.DataFrame:
    """Start a TrainingControl unless it was started by hand, wait for it, show the history.

    A new folder starts; a stopped run continues where it was; a finished one says so.
    """
    if control.status == "idle":
        control.start_or_resume()
    print(control.message)
    history = control.wait()
    trainer = control.trainer
    print(f"training {trainer.status} after {len(history)} epoch(s)")
    if trainer.best_epoch is not None:
        print(f"best epoch: {trainer.best_epoch} (validation F1 {trainer.best_score:.3f})")
    folder = control.folder
    for path in (folder.config_path, folder.history_path, folder.best, folder.last):
        if path.exists():  # only what the run wrote (a stop before epoch 1 writes no model)
            print(f"wrote {path}")
    columns = ["epoch", "train_loss", "train_accuracy", "valid_accuracy", "valid_f1", "seconds"]
    frame = history.to_frame()
    zero_shot = [c for c in frame.columns if c.startswith("zero_shot")]
    return frame[[c for c in columns if c in frame.columns] + zero_shot].round(3)


def method_options(method: str) -> dict:
    """Options of notebook 04's TrainingControl that only one training method takes.

    With ``"embeddings"`` BirdNET's own score for the American Woodcock is fitted beside ours
    (the zero-shot baseline in the history); the CNN takes nothing extra.
    """
    if method == "embeddings":
        return {"zero_shot_species": ZERO_SHOT_SPECIES}
    return {}


# --------------------------------------------------------------------- 05 evaluate
def confusion_table(review: Any) -> pd.DataFrame:
    """The review's confusion matrix with named rows and columns, and its metrics line."""
    target = review.class_names[review.positive]
    m = review.threshold_metrics
    print(
        f"{target} at threshold {review.threshold:g}: "
        + ", ".join(f"{k} {v:.3g}" for k, v in m.items())
    )
    return pd.DataFrame(
        review.confusion,
        index=[f"true {c}" for c in review.class_names],
        columns=[f"predicted {c}" for c in review.class_names],
    )


def scan_recording(
    review: Any, run_dir: str | os.PathLike, recording: str | os.PathLike = ""
) -> pd.DataFrame:
    """Score a long recording window by window (default: validation clips joined into one).

    Returns the window scores; the review shows them and their detections.
    """
    import numpy as np

    from ..audio.clip import Audio

    run = TutorialRun(run_dir)
    bundle, valid = review.bundle, review.df
    if recording:
        long_path = Path(recording)
    else:
        picked = valid.groupby(CODE_COLUMN, group_keys=False).head(3).sort_index()
        parts = [bundle.preprocessing.load_clip(f) for f in picked["filename"]]
        long_path = run.long_recording
        Audio(np.concatenate([a.samples for a in parts]), parts[0].sample_rate).save(long_path)
        print("true classes of the joined clips, in order:")
        print([bundle.label_dict[c] for c in picked[CODE_COLUMN]])
    windows = review.score_recording(long_path)
    found = review.detections
    target = review.class_names[review.positive]
    n_found = 0 if found is None else len(found)
    print(f"{n_found} detection(s) of {target!r} in {len(windows)} windows of {long_path.name}")
    return windows


def save_predictions(review: Any, run_dir: str | os.PathLike, windows: pd.DataFrame) -> None:
    """Write the validation clip scores, the window scores and the Raven table."""
    run = TutorialRun(run_dir)
    clip_table = review.scores.table(review.positive, review.threshold)
    atomic_write_csv(run.valid_predictions_csv, clip_table)
    atomic_write_csv(run.predictions_csv, windows)
    raven_path = review.export_raven()
    found = review.detections
    print(f"wrote {run.valid_predictions_csv} (scores of {len(clip_table)} validation clips)")
    print(f"wrote {run.predictions_csv} (scores of {len(windows)} windows)")
    print(f"wrote {raven_path} ({0 if found is None else len(found)} detections)")


def preprocessing(image_size: int):
    """The tutorial's spectrogram settings with square model images of ``image_size`` pixels."""
    from ..audio.preprocessing import Preprocessing

    return Preprocessing(image_shape=(int(image_size), int(image_size)))


def review_files(run_dir: str | os.PathLike) -> dict[str, Path]:
    """Where a ResultsReview of the tutorial run keeps corrections and Raven tables."""
    run = TutorialRun(run_dir)
    return {"corrections_path": run.corrections_csv, "raven_dir": run.raven_dir}
