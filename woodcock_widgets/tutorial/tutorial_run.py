"""The tutorial's run folder: what each stage writes, the run record, and the folder lock.

Layout (the runner and the notebooks go through :class:`TutorialRun` and
:class:`~woodcock_widgets.workflow.run_folder.RunFolder`, never through file names)::

    RUN/tutorial.json        the run record: parameters asked, each stage's status
    RUN/.tutorial.lock       the process working in the folder
    RUN/notebooks/           the executed notebooks (the run's report)
    RUN/clips.csv            01: the clips and their original labels
    RUN/labels.csv, labels.json             02: the classes (labels.json: a RunFolder's)
    RUN/train.csv, valid.csv, balance.csv   03: the split (train/valid: a RunFolder's)
    RUN/training/            04: the training run (a RunFolder)
    RUN/valid_predictions.csv, predictions.csv, raven/   05: scores and detections
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import TutorialError
from ..io_utils import atomic_write_json
from ..workflow.run_folder import RunFolder

__all__ = ["Stage", "STAGES", "RECORD_FILENAME", "CLASSROOM", "TutorialRun"]

#: The run's record, in the run folder.
RECORD_FILENAME = "tutorial.json"
_RECORD_FORMAT = 1
_LOCK_FILENAME = ".tutorial.lock"
#: The training run's folder inside the tutorial run.
TRAINING = "training"
#: The default chain (the classroom tutorial); its run records name no chain.
CLASSROOM = "classroom"


@dataclass(frozen=True)
class Stage:
    """One notebook of the chain.

    Attributes
    ----------
    name : str
        The notebook's file name without ``.ipynb``.
    outputs : tuple of str
        Paths, relative to the run folder, that the stage promises to write.
    """

    name: str
    outputs: tuple[str, ...]


def _in_training(*names: str) -> tuple[str, ...]:
    return tuple(f"{TRAINING}/{n}" for n in names)


#: The chain, in order.
STAGES: tuple[Stage, ...] = (
    Stage("01_get_data", ("clips.csv",)),
    Stage("02_inspect_and_relabel", ("labels.csv", RunFolder.LABELS)),
    Stage("03_split", (RunFolder.TRAIN, RunFolder.VALID, "balance.csv")),
    Stage(
        "04_train",
        _in_training(RunFolder.CONFIG, RunFolder.HISTORY, RunFolder.BEST, RunFolder.LAST),
    ),
    Stage("05_evaluate", ("valid_predictions.csv", "predictions.csv", "raven")),
)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _first_difference(old: Mapping, new: Mapping) -> str:
    def show(d: Mapping, name: str) -> str:
        return repr(d[name]) if name in d else "not given"

    for name in sorted(set(old) | set(new)):
        if show(old, name) != show(new, name):
            return f"parameter {name!r} was {show(old, name)} there, now {show(new, name)}"
    return "the parameters differ"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class TutorialRun:
    """One tutorial run's folder.

    Parameters
    ----------
    path : str or path-like
        The folder.

    Attributes
    ----------
    labels : RunFolder
        The folder itself seen as a run folder: ``labels.json`` (02) and the split (03).
    training : RunFolder
        The training run (04).
    """

    #: The notebook chain whose runs this class keeps, and its stages in order.
    chain: str = CLASSROOM
    stages: tuple[Stage, ...] = STAGES

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.labels = RunFolder(self.path)
        self.training = RunFolder(self.path / TRAINING)

    @property
    def record_path(self) -> Path:
        """``tutorial.json``."""
        return self.path / RECORD_FILENAME

    @property
    def notebooks_dir(self) -> Path:
        """Where the executed notebooks go."""
        return self.path / "notebooks"

    # ------------------------------------------------------- the stages' own files
    @property
    def clips_csv(self) -> Path:
        """01: the clips and their original labels."""
        return self.path / "clips.csv"

    @property
    def labels_csv(self) -> Path:
        """02: the remapped label table."""
        return self.path / "labels.csv"

    @property
    def balance_csv(self) -> Path:
        """03: class shares in all, train and valid."""
        return self.path / "balance.csv"

    @property
    def corrections_csv(self) -> Path:
        """05: labels corrected while listening (applied by the next training)."""
        return self.path / "corrections.csv"

    @property
    def valid_predictions_csv(self) -> Path:
        """05: scores of the validation clips."""
        return self.path / "valid_predictions.csv"

    @property
    def predictions_csv(self) -> Path:
        """05: window scores of the long recording."""
        return self.path / "predictions.csv"

    @property
    def long_recording(self) -> Path:
        """05: validation clips joined into one recording, when none is given."""
        return self.path / "long_recording.wav"

    @property
    def raven_dir(self) -> Path:
        """05: Raven selection tables of detections."""
        return self.path / "raven"

    def executed_notebook(self, stage: Stage) -> Path:
        """The executed copy of ``stage``'s notebook."""
        return self.notebooks_dir / f"{stage.name}.ipynb"

    def missing_outputs(self, stage: Stage) -> list[str]:
        """What ``stage`` promises and the folder lacks."""
        return [p for p in stage.outputs if not (self.path / p).exists()]

    # ------------------------------------------------------------------ the record
    def read_record(self) -> dict | None:
        """The run record, or ``None`` when the folder has none.

        Raises
        ------
        TutorialError
            An unreadable record, or one of another format.
        """
        path = self.record_path
        if not path.exists():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TutorialError(f"cannot read the run record {path}: {exc}") from exc
        if not isinstance(record, dict) or record.get("format") != _RECORD_FORMAT:
            raise TutorialError(f"{path} is not a tutorial run record this version can resume")
        return record

    def write_record(self, record: dict) -> None:
        """Replace the run record atomically."""
        atomic_write_json(self.record_path, record)

    def stage_started(self, record: dict, stage: Stage, parameters: dict) -> dict:
        """Record ``stage`` as running (written at once); returns its entry."""
        entry = {
            "status": "running",
            "parameters": parameters,
            "notebook": str(self.executed_notebook(stage).relative_to(self.path)),
            "started": _now(),
        }
        record["stages"][stage.name] = entry
        self.write_record(record)
        return entry

    def stage_ended(self, record: dict, entry: dict, seconds: float, **outcome) -> None:
        """Record how a stage ended (``status`` and maybe ``error``), written at once."""
        entry.update(finished=_now(), seconds=round(seconds, 1), **outcome)
        self.write_record(record)

    def check(self, request: dict, resume: bool) -> dict:
        """The record to continue: a new one for an empty folder, else the folder's own.

        Raises
        ------
        TutorialError
            A folder with other files and no record, a run without ``resume``, or a run
            asked with other parameters.
        """
        record = self.read_record()
        if record is None:
            others = sorted(p.name for p in self.path.iterdir() if p.name != _LOCK_FILENAME)
            if others:
                raise TutorialError(
                    f"run folder {self.path} is not empty ({', '.join(others[:3])}"
                    f"{', ...' if len(others) > 3 else ''}) and holds no tutorial run "
                    f"({RECORD_FILENAME} is missing); choose a new or empty folder"
                )
            return {"format": _RECORD_FORMAT, "request": request, "stages": {}}
        other = record.get("request", {}).get("chain", CLASSROOM)
        if other != self.chain:
            raise TutorialError(
                f"run folder {self.path} holds a run of the {other!r} chain, not of "
                f"{self.chain!r}; choose another run folder"
            )
        names = [s.name for s in self.stages]
        done = [n for n in names if record.get("stages", {}).get(n, {}).get("status") == "done"]
        summary = f"stages done: {', '.join(done) if done else 'none'}"
        if not resume:
            raise TutorialError(
                f"run folder {self.path} already holds a tutorial run ({summary}); resume it "
                "(--resume, or resume=True) or choose another run folder"
            )
        old = record.get("request", {})
        if old != json.loads(json.dumps(request)):
            diff = (
                f"preset was {old.get('preset')!r} there, now {request['preset']!r}"
                if old.get("preset") != request["preset"]
                else _first_difference(old.get("parameters", {}), request["parameters"])
            )
            raise TutorialError(
                f"cannot resume the run in {self.path} with other parameters ({diff}); "
                "use the same parameters, or choose another run folder"
            )
        record.setdefault("stages", {})
        return record

    # -------------------------------------------------------------------- the lock
    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Keep a second runner out of the folder while this one works in it."""
        path = self.path / _LOCK_FILENAME
        for _ in range(2):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                break
            except FileExistsError:
                try:
                    pid = int(path.read_text().strip() or 0)
                except (OSError, ValueError):
                    pid = 0
                if pid and pid != os.getpid() and _alive(pid):
                    raise TutorialError(
                        f"another tutorial run (process {pid}) is working in {self.path}; "
                        "wait for it to end or choose another run folder"
                    ) from None
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()  # left behind by a run that was killed
        else:
            raise TutorialError(f"cannot lock the run folder {self.path}")
        try:
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            yield
        finally:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
