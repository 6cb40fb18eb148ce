"""The run folder: one training run's files, and every read, write and check of them.

Contract (other tools read it)::

    RUN/config.json        every setting needed to rerun (and the changes made on resuming)
    RUN/history.csv        one row per finished epoch
    RUN/labels.json        the label dictionary and the class column (where labels were made)
    RUN/train.csv          the clips trained on
    RUN/valid.csv          the clips validated on
    RUN/last.pt            bundle of the last finished epoch + optimizer state (resume;
                           a finished run keeps the hyper-parameters, not the momentum)
    RUN/best.pt            bundle of the epoch with the best validation macro F1
                           (multi-label: the best valid_map)
    RUN/checkpoints/epoch-NNNN.pt   every ``log_every`` epochs
    RUN/corrections.csv    labels relabeled in a review (written by the review; the next
                           ``train`` into this folder applies them to a clip table)

``config.json`` and every bundle record ``multi_label``, the classes (``label_dict``; also
``classes`` in ``config.json``) and ``positive_class``; a multi-label run's bundles record
``thresholds``, the F1-optimal validation threshold of each target class at its epoch
(``best.pt``: the best epoch's), which ``predict`` and detections use.

Every file is replaced atomically. ``last.pt`` is written first and carries the whole
history, so a kill at any moment leaves a loadable folder, and resuming rewrites
``history.csv`` from it (no partial or duplicated rows).

No other module of the package names these files: they all go through :class:`RunFolder`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import BundleError, TrainingError
from ..io_utils import atomic_link_or_copy, atomic_write_csv, atomic_write_json, remove_temp_files
from ..tables.labeled import LabeledTable
from .bundle import ModelBundle
from .checkpoint_files import read_training_payload, slim_bundle_file

__all__ = ["RunFolder", "int_keys", "slim_bundle_file"]


def int_keys(label_dict: Mapping[Any, str]) -> dict[int, str]:
    """A label dictionary read from JSON (string keys) with its integer codes back."""
    return {int(k): v for k, v in label_dict.items()}


class _File:
    """A path in the run folder, read as an attribute (``folder.last``)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, folder: _Files | None, owner: type | None = None):
        return self if folder is None else folder.path / self.name


class _Files:
    """The run folder's file names and paths (see :class:`RunFolder`)."""

    CONFIG = "config.json"
    HISTORY = "history.csv"
    LABELS = "labels.json"
    TRAIN = "train.csv"
    VALID = "valid.csv"
    LAST = "last.pt"
    BEST = "best.pt"
    CHECKPOINTS = "checkpoints"
    CORRECTIONS = "corrections.csv"

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    # ------------------------------------------------------------------------- paths
    config_path = _File(CONFIG)
    history_path = _File(HISTORY)
    labels_path = _File(LABELS)
    train_csv = _File(TRAIN)
    valid_csv = _File(VALID)
    last = _File(LAST)
    best = _File(BEST)
    checkpoints_dir = _File(CHECKPOINTS)
    corrections_csv = _File(CORRECTIONS)

    def checkpoint(self, epoch: int) -> Path:
        """``checkpoints/epoch-NNNN.pt``."""
        return self.checkpoints_dir / f"epoch-{int(epoch):04d}.pt"

    @classmethod
    def containing(cls, file: str | os.PathLike):
        """The run folder a file (e.g. a bundle) lies in, or ``None`` when it is in none."""
        folder = cls(Path(file).parent)
        return folder if folder.config_path.is_file() else None

    def _cannot_write(self, exc: OSError) -> TrainingError:
        return TrainingError(f"cannot write to run folder {self.path}: {exc.strerror or exc}")

    def _optional_json(self, path: Path) -> dict[str, Any]:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return {}


class _Inputs(_Files):
    """What a run is trained on: the classes (``labels.json``) and the split."""

    def class_column(self) -> str | None:
        """The class-name column of the run's tables (``None`` when not recorded)."""
        for path in (self.labels_path, self.config_path):
            column = self._optional_json(path).get("class_column")
            if column:
                return str(column)
        return None

    def read_label_dict(self) -> dict[int, str]:
        """Code → class name, from ``config.json`` (a run's own) or ``labels.json``."""
        for path in (self.config_path, self.labels_path):
            recorded = self._optional_json(path).get("label_dict")
            if recorded:
                return int_keys(recorded)
        raise TrainingError(f"no label dictionary in {self.path} ({self.LABELS} is missing)")

    # -------------------------------------------------------------------- labels.json
    def write_labels(
        self,
        table: LabeledTable,
        source_column: str | None = None,
        mapping: Mapping[str, str] | None = None,
    ) -> Path:
        """Record the classes of a label table in ``labels.json`` (atomically).

        Parameters
        ----------
        table : LabeledTable
            Gives the class column and the label dictionary.
        source_column : str, optional
            The column the classes were made from.
        mapping : mapping, optional
            Source value → class.
        """
        return atomic_write_json(
            self.labels_path,
            {
                "source_column": source_column,
                "mapping": dict(mapping or {}),
                "class_column": table.class_column,
                "label_dict": {str(k): v for k, v in table.label_dict.items()},
            },
        )

    def read_labels(self) -> dict[str, Any]:
        """``labels.json``, codes as integers (a :class:`TrainingError` when unreadable)."""
        try:
            info = json.loads(self.labels_path.read_text())
            info["label_dict"] = int_keys(info["label_dict"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise TrainingError(f"cannot read the labels of {self.path}: {exc}") from exc
        return info

    # -------------------------------------------------------------------------- split
    def write_split(self, train: pd.DataFrame, valid: pd.DataFrame) -> tuple[Path, Path]:
        """Write ``train.csv`` and ``valid.csv`` atomically."""
        try:
            return atomic_write_csv(self.train_csv, train), atomic_write_csv(self.valid_csv, valid)
        except OSError as exc:
            raise self._cannot_write(exc) from exc

    def read_split(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``train.csv`` and ``valid.csv`` (a :class:`TrainingError` when unreadable)."""
        try:
            return pd.read_csv(self.train_csv), pd.read_csv(self.valid_csv)
        except (OSError, ValueError) as exc:
            raise TrainingError(f"cannot read the split of {self.path}: {exc}") from exc

    def labeled_table(self) -> tuple[LabeledTable, tuple[pd.DataFrame, pd.DataFrame]]:
        """The split's clips as one :class:`LabeledTable` (classes from ``labels.json``),
        and the split itself."""
        info = self.read_labels()
        train, valid = self.read_split()
        table = LabeledTable(pd.concat([train, valid]), info["class_column"], info["label_dict"])
        return table, (train, valid)


class RunFolder(_Inputs):
    """One training run's folder (it need not exist yet): every file, read and write.

    Parameters
    ----------
    path : str or path-like
        The folder.

    Attributes
    ----------
    config_path, history_path, labels_path, train_csv, valid_csv : pathlib.Path
        ``config.json``, ``history.csv``, ``labels.json``, ``train.csv``, ``valid.csv``.
    last, best : pathlib.Path
        ``last.pt`` and ``best.pt``.
    checkpoints_dir : pathlib.Path
        ``checkpoints/`` (see :meth:`checkpoint`).
    """

    # ------------------------------------------------------------------------- state
    def holds_run(self) -> bool:
        """Whether an epoch of a run has finished here (``last.pt`` exists)."""
        return self.last.exists()

    def check_new(self, hint: str = "resume it (--resume / Trainer.resume)") -> None:
        """Raise :class:`TrainingError` when the folder already holds a run."""
        if self.holds_run():
            raise TrainingError(
                f"run folder {self.path} already holds a run; {hint} or choose a new folder"
            )

    def epochs_planned(self) -> int:
        """The epochs the run was last asked for (``config.json``; 0 when not recorded)."""
        return int(self.recorded_training().get("epochs", 0))

    def recorded_training(self) -> dict[str, Any]:
        """The training settings ``config.json`` records (empty when missing or unreadable)."""
        return dict(self._optional_json(self.config_path).get("training", {}))

    def recorded_method(self) -> str | None:
        """How the recorded run trains (``cnn`` when ``config.json`` names no method);
        ``None`` when ``config.json`` is missing or unreadable."""
        try:
            return self.read_config().get("method") or "cnn"
        except TrainingError:
            return None

    def epochs_done(self) -> int:
        """Finished epochs as ``history.csv`` lists them (0 for none)."""
        try:
            return len(self.history())
        except (OSError, ValueError):
            return 0

    def next_free(self) -> RunFolder:
        """A sibling folder for a new run: ``NAME-2``, ``NAME-3``, … (the first not in use)."""
        stem = self.path.name
        base, _, number = stem.rpartition("-")
        if not (base and number.isdigit()):
            base, number = stem, "1"
        k = int(number) + 1
        while True:
            candidate = RunFolder(self.path.with_name(f"{base}-{k}"))
            if not candidate.path.exists() or not any(candidate.path.iterdir()):
                return candidate
            k += 1

    # ------------------------------------------------------------------------ config
    def read_config(self) -> dict[str, Any]:
        """``config.json`` (a :class:`TrainingError` naming it when unreadable)."""
        try:
            return json.loads(self.config_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise TrainingError(f"{self.config_path} is missing or unreadable") from exc

    def read_config_for_resume(self) -> dict[str, Any]:
        """:meth:`read_config`, its error saying that the run cannot be resumed."""
        try:
            return self.read_config()
        except TrainingError as exc:
            raise TrainingError(f"cannot resume: {exc}") from exc

    def write_config(self, config: Mapping[str, Any]) -> Path:
        """Write ``config.json`` atomically."""
        try:
            return atomic_write_json(self.config_path, dict(config))
        except OSError as exc:
            raise self._cannot_write(exc) from exc

    # ------------------------------------------------------------------------ history
    def history(self) -> pd.DataFrame:
        """``history.csv`` (empty when no epoch has finished)."""
        if not self.history_path.exists():
            return pd.DataFrame()
        return pd.read_csv(self.history_path)

    def write_history(self, history: pd.DataFrame) -> Path:
        """Replace ``history.csv`` atomically."""
        try:
            return atomic_write_csv(self.history_path, history)
        except OSError as exc:
            raise self._cannot_write(exc) from exc

    # ---------------------------------------------------------------- training files
    def prepare(self, config: Mapping[str, Any], resumed: bool = False) -> None:
        """Make the folder ready for ``fit``: refuse another run's folder (unless resuming),
        clear what killed writes left, write ``config.json``."""
        if not resumed:
            self.check_new()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            for folder in (self.path, self.checkpoints_dir):
                remove_temp_files(folder)  # left by a run that was killed mid-write
        except OSError as exc:
            raise self._cannot_write(exc) from exc
        self.write_config(config)

    def write_epoch(
        self,
        bundle: ModelBundle,
        training_state: dict[str, Any],
        history: pd.DataFrame,
        *,
        checkpoint: bool,
        best: bool,
        finished: bool,
        best_was_previous: bool,
    ) -> None:
        """Persist a finished epoch: ``last.pt``, then links, then ``history.csv``.

        ``checkpoint`` keeps a copy in ``checkpoints/``; ``best`` makes ``best.pt`` this epoch.
        ``finished`` (the run's last epoch) drops the optimizer's per-parameter state (SGD's
        momentum buffers, as large as the weights) and keeps its hyper-parameters, so the
        folder stays at 1-2x the weights (training further restarts the momentum).
        ``best_was_previous``: ``best.pt`` stops sharing ``last.pt``'s file now, so it can
        drop its optimizer state (:meth:`slim_best`).
        """
        if finished:
            training_state = {
                **training_state,
                "optimizer": {**training_state["optimizer"], "state": {}},
            }
        try:
            bundle.save(self.last, training_state=training_state)
            if checkpoint:
                atomic_link_or_copy(self.last, self.checkpoint(training_state["epoch"]))
            if best:
                atomic_link_or_copy(self.last, self.best)
            atomic_write_csv(self.history_path, history)
        except OSError as exc:
            raise self._cannot_write(exc) from exc
        if best_was_previous:
            self.slim_best()

    def slim_best(self) -> None:
        """Drop the optimizer state from ``best.pt`` once it no longer shares ``last.pt``'s file.

        ``best.pt`` only needs the weights; the optimizer state is for resuming, which reads
        ``last.pt``. Skipped when a checkpoint shares the file (no space to gain); a failure
        leaves the complete copy in place.
        """
        slim_bundle_file(self.best)

    def read_checkpoint(self) -> dict[str, Any]:
        """``last.pt``'s payload, with its training state.

        Raises
        ------
        TrainingError
            No epoch finished yet, or an unreadable or foreign file.
        """
        return read_training_payload(self.last)

    # ------------------------------------------------------------------------ bundles
    def bundle_path(self) -> Path:
        """``best.pt``, else ``last.pt`` (a :class:`BundleError` when neither exists)."""
        for path in (self.best, self.last):
            if path.is_file():
                return path
        raise BundleError(
            f"run folder {self.path} has no {self.BEST} or {self.LAST} (no epoch finished)"
        )

    def latest_bundle(self) -> ModelBundle:
        """The run's model: the best epoch's, else the last one's (see :meth:`bundle_path`)."""
        return ModelBundle.load(self.bundle_path())
