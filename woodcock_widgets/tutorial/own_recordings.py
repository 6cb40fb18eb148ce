"""The "your own recordings" chain: its stages, presets and run folder.

The chain (``notebooks/own_recordings/``) takes a biologist's own data (long recordings and
annotation tables drawn in Raven Pro, Audacity or a spreadsheet) to an evaluated model and its
detections on new recordings::

    01_annotations_to_windows   tables + audio → labeled windows      RUN/windows.csv
    02_train                    split by recording, train              RUN/train_windows.csv,
                                                                       RUN/valid_windows.csv,
                                                                       RUN/training/ (a RunFolder)
    03_evaluate                 per-class metrics on validation        RUN/evaluation.csv
    04_predict                  scan recordings, detections            RUN/predictions/
    05_labeling_loop            find, label, refit, round by round     RUN/labeling/

``RUN/predictions/`` is :func:`~woodcock_widgets.workflow.folder_predict.predict_folder`'s
output folder (``detections.csv``, ``raven/``, ``scores/``, its manifest). ``RUN/labeling/`` is
a :class:`~woodcock_widgets.workflow.labeling_loop.LabelingLoop`'s run folder (its rounds) with
its label table (``answers.csv``). The notebooks reach
every file through :class:`OwnRecordingsRun` (and the training folder through its
:class:`~woodcock_widgets.workflow.run_folder.RunFolder`), never by name; their other steps
are the few calls of :mod:`woodcock_widgets.tutorial.own_recordings_steps`.
"""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import TutorialError
from ..workflow.run_folder import RunFolder
from .tutorial_run import TRAINING, Stage, TutorialRun

if TYPE_CHECKING:
    from .own_recordings_steps import WindowSplit

__all__ = [
    "CHAIN",
    "NOTEBOOKS_FOLDER",
    "STAGES",
    "PRESETS",
    "REQUIRED",
    "METHODS",
    "OwnRecordingsRun",
]

#: The chain's name (``woodcock-widgets tutorial --chain own-recordings``).
CHAIN = "own-recordings"
#: Its notebooks' folder, inside the tutorial's notebooks folder.
NOTEBOOKS_FOLDER = "own_recordings"
#: Parameters without a usable default: where the user's data is.
REQUIRED = ("audio_dir", "annotations")
#: How notebook 02 trains: a shallow head on BirdNET embeddings, or a CNN.
METHODS = ("embeddings", "cnn")

_WINDOWS = "windows.csv"
_TRAIN_WINDOWS = "train_windows.csv"
_VALID_WINDOWS = "valid_windows.csv"
_EVALUATION = "evaluation.csv"
_PREDICTIONS = "predictions"
_DETECTIONS = "detections.csv"  # predict_folder's names, inside RUN/predictions/
_RAVEN = "raven"
_LABELING = "labeling"
_ANSWERS = "answers.csv"  # the labeling loop's label table, inside RUN/labeling/

#: The chain, in order.
STAGES: tuple[Stage, ...] = (
    Stage("01_annotations_to_windows", (_WINDOWS,)),
    Stage(
        "02_train",
        (_TRAIN_WINDOWS, _VALID_WINDOWS)
        + tuple(f"{TRAINING}/{n}" for n in (RunFolder.CONFIG, RunFolder.HISTORY, RunFolder.BEST)),
    ),
    Stage("03_evaluate", (_EVALUATION,)),
    Stage("04_predict", (f"{_PREDICTIONS}/{_DETECTIONS}", f"{_PREDICTIONS}/{_RAVEN}")),
    Stage("05_labeling_loop", (f"{_LABELING}/{_ANSWERS}",)),
)

#: Named sets of parameter values; ``-p NAME VALUE`` overrides any of them. They set sizes
#: only: where the data is (``audio_dir``, ``annotations``) is always the user's to give.
#: ``smoke`` (8 recordings, 1-second windows, embeddings, labeling pages of 10) checks the whole
#: chain in a minute or two of CPU time, e.g. on the Bengalese finch song of
#: ``../shared/real_labeled``.
PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "smoke": {
        "max_recordings": 8,
        "window_seconds": 1.0,
        "min_overlap": 0.02,
        "train_fraction": 0.7,
        "method": "embeddings",
        "page_size": 10,  # 05: 3 pages of 10 stay within the few training windows
    },
}


class OwnRecordingsRun(TutorialRun):
    """One run folder of the "your own recordings" chain.

    Parameters
    ----------
    path : str or path-like
        The folder.

    Attributes
    ----------
    training : RunFolder
        The training run (02).
    """

    chain = CHAIN
    stages = STAGES

    @property
    def windows_csv(self) -> Path:
        """01: the window table (``file, start_time, end_time`` + one 0/1 column per class)."""
        return self.path / _WINDOWS

    @property
    def train_windows_csv(self) -> Path:
        """02: the training windows (a window table)."""
        return self.path / _TRAIN_WINDOWS

    @property
    def valid_windows_csv(self) -> Path:
        """02: the validation windows (a window table; ``woodcock-widgets evaluate`` reads it)."""
        return self.path / _VALID_WINDOWS

    def write_split(self, split: WindowSplit) -> tuple[Path, Path]:
        """Write the split's two parts as window tables (paths relative to the run folder)."""
        from ..tables.windows import write_window_table

        return (
            write_window_table(split.train, self.train_windows_csv),
            write_window_table(split.valid, self.valid_windows_csv),
        )

    @property
    def evaluation_csv(self) -> Path:
        """03: the per-class metrics on the validation windows."""
        return self.path / _EVALUATION

    def write_evaluation(self, metrics: pd.DataFrame) -> Path:
        """Write the per-class metrics (indexed by class) to :attr:`evaluation_csv`."""
        from ..io_utils import atomic_write_csv

        return atomic_write_csv(self.evaluation_csv, metrics.reset_index())

    @property
    def predictions_dir(self) -> Path:
        """04: the output folder of the scan of new recordings."""
        return self.path / _PREDICTIONS

    @property
    def detections_csv(self) -> Path:
        """04: every detection (``file, start_time, end_time, annotation, score``)."""
        return self.predictions_dir / _DETECTIONS

    @property
    def raven_dir(self) -> Path:
        """04: one Raven selection table of detections per recording scanned."""
        return self.predictions_dir / _RAVEN

    @property
    def labeling_dir(self) -> Path:
        """05: the labeling loop's run folder (each round's heads and metrics)."""
        return self.path / _LABELING

    @property
    def answers_csv(self) -> Path:
        """05: the labeling loop's label table (every answer, with its provenance)."""
        return self.labeling_dir / _ANSWERS

    def training_for(self, method: str) -> RunFolder:
        """The training folder, ready for ``method`` (notebook 02, maybe run again).

        An embeddings fit takes seconds, so an earlier run in the folder is replaced; a CNN
        run of an earlier try is continued (or shown, when finished), while a run of the
        other method is replaced. Only the run folder's own files are removed.
        """
        folder = self.training
        if method == "cnn" and folder.holds_run():
            recorded = folder.read_config().get("method")
            if recorded != "embeddings":
                return folder
        for path in (
            folder.config_path,
            folder.history_path,
            folder.labels_path,
            folder.train_csv,
            folder.valid_csv,
            folder.last,
            folder.best,
        ):
            path.unlink(missing_ok=True)
        shutil.rmtree(folder.checkpoints_dir, ignore_errors=True)
        return folder

    def validation_recordings(self) -> tuple[Path, list[str]]:
        """The recordings notebook 02 held out: their folder, and their names in it.

        Given to :func:`~woodcock_widgets.workflow.folder_predict.predict_folder` as
        ``audio_dir`` and ``include``, they scan exactly those files.

        Raises
        ------
        TutorialError
            Notebook 02 has not run (no split in the training folder).
        """
        from ..tables.windows import read_window_table

        if not self.valid_windows_csv.is_file():
            raise TutorialError(
                f"no validation windows in {self.path}: run notebook 02 first, or give the "
                "recordings to scan"
            )
        valid = read_window_table(self.valid_windows_csv)
        files = sorted({os.path.abspath(f) for f in valid["file"].astype(str)})
        if not files:
            raise TutorialError(f"{self.valid_windows_csv} holds no window")
        root = Path(os.path.commonpath([os.path.dirname(f) for f in files]))
        return root, [glob.escape(Path(os.path.relpath(f, root)).as_posix()) for f in files]

    def scanned_recordings(self) -> list[str]:
        """The recordings notebook 04 finished scanning, in name order."""
        from ..workflow.manifest import Manifest

        with Manifest(self.predictions_dir) as manifest:
            done = manifest.done()
        return sorted(str(entry.get("path", key)) for key, entry in done.items())
