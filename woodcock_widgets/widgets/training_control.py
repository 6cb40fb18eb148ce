"""TrainingControl: hyper-parameters, Start / Stop / Continue / New run, progress, live curves."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace

from ..errors import TrainingError
from ..ml.jobs import TrainingJob
from ..ml.trainer import History, Trainer
from ..ml.training_config import TrainingConfig
from ..tables.labeled import LabeledTable
from ..workflow.pipeline import resume_trainer, trainer_factory
from ..workflow.run_folder import RunFolder
from ._training_curves import CURVES
from ._training_panel import SHOWN, TrainingPanel, kernel_with_comms, wait_in_kernel

__all__ = ["TrainingControl", "CURVES"]

#: :func:`~woodcock_widgets.workflow.pipeline.new_trainer` options a table's control takes.
_RUN_OPTIONS = {
    "split",
    "preprocessing",
    "train_fraction",
    "group_column",
    "arch",
    "weights_path",
    "on_missing_weights",
    "augment",
    "extra_config",
}


def _split_options(options: dict) -> tuple[dict, dict]:
    """``(TrainingConfig fields, new_trainer options)``; anything else is refused."""
    known = TrainingConfig.field_names()
    unknown = sorted(set(options) - known - _RUN_OPTIONS)
    if unknown:
        raise TrainingError(
            f"unknown training option(s) {unknown}; TrainingConfig has {sorted(known)}, "
            f"new runs take {sorted(_RUN_OPTIONS)}"
        )
    return (
        {k: v for k, v in options.items() if k in known},
        {k: v for k, v in options.items() if k in _RUN_OPTIONS},
    )


class TrainingControl(TrainingPanel):
    """Train in the background: Start, Stop, Continue (more epochs) or a New run; live curves.

    Training runs on a background thread (:class:`~woodcock_widgets.ml.jobs.TrainingJob`),
    so the kernel is free at once. Stop ends after the current batch; the run folder always
    holds the last finished epoch. A finished or stopped run offers **Continue** (up to the
    ``epochs`` shown, with the learning rate and batch size shown; ``config.json`` records
    a change) and **New run** (the same settings in a new folder beside this one). A button
    that cannot work now is disabled, and the hint line under the status says why.

    Value state is in traits (observe or link them): ``epochs``, ``learning_rate``,
    ``batch_size``, ``pretrained``, ``status``, ``message``, ``hint``, ``epochs_done``; the
    controls are ``epochs_input``, ``start_button``, ``status_html`` and so on.

    Parameters
    ----------
    run_dir : path
        The run folder (see :class:`~woodcock_widgets.workflow.run_folder.RunFolder`).
    make_trainer : callable, optional
        ``make_trainer(run_dir, config, callbacks=..., pretrained=...)`` builds the trainer
        of a new run (e.g. :func:`~woodcock_widgets.workflow.pipeline.trainer_factory`);
        without it the control can only continue the run already in ``run_dir``. A
        :class:`LabeledTable` here means ``trainer_factory(table, **options)``.
    config : TrainingConfig, optional
        Starting settings; default: the run folder's (when it has them), else defaults.
    pretrained : bool
        Start new runs from ImageNet weights.
    update_interval : float
        Seconds between progress-bar updates (the curves update at every epoch end).
    **options
        :class:`TrainingConfig` fields (``epochs=5``) and, with a table, options of
        :func:`~woodcock_widgets.workflow.pipeline.new_trainer` (``split``,
        ``preprocessing``, ``augment``...).

    Examples
    --------
    >>> control = TrainingControl.for_table("runs/r1", remapper.table,   # doctest: +SKIP
    ...                                     split=balance.result, epochs=5, pretrained=False)
    >>> control.start_or_resume()    # returns at once; training runs in the background
    >>> history = control.wait()     # a later cell blocks until training ends (papermill)
    >>> TrainingControl.from_run("runs/r1")   # a control for a run folder, to continue it
    """

    def __init__(
        self,
        run_dir: str | os.PathLike,
        make_trainer: Callable[..., Trainer] | LabeledTable | None = None,
        *,
        config: TrainingConfig | None = None,
        pretrained: bool = True,
        update_interval: float = 0.5,
        **options,
    ) -> None:
        super().__init__()
        fields, run_options = _split_options(options)
        if isinstance(make_trainer, LabeledTable):
            make_trainer = trainer_factory(make_trainer, **run_options)
        elif make_trainer is not None and not callable(make_trainer):
            raise TrainingError(
                "table must be a LabeledTable (LabelRemapper.table or pipeline.prepare_labels)"
            )
        elif run_options:
            raise TrainingError(f"{sorted(run_options)} need a label table (for_table)")
        self.folder = RunFolder(run_dir)
        self.make_trainer = make_trainer
        self.update_interval = float(update_interval)
        self.base_config = replace(config, **fields) if config else self._recorded(fields)
        self.trainer: Trainer | None = None
        self.job: TrainingJob | None = None
        self._build(self.base_config.epochs)
        self.pretrained = bool(pretrained)
        for name in SHOWN:
            setattr(self, name, getattr(self.base_config, name))
        self.observe(self._refresh, names=["epochs", "status"])
        self._refresh()

    @classmethod
    def for_table(cls, run_dir, table: LabeledTable, **options) -> TrainingControl:
        """A control that starts new runs of ``table`` (see the class parameters)."""
        return cls(run_dir, table, **options)

    @classmethod
    def from_run(cls, run_dir, **options) -> TrainingControl:
        """A control to continue the run in ``run_dir``, its settings read from the folder."""
        return cls(run_dir, None, **options)

    def _recorded(self, given: dict) -> TrainingConfig:
        """The folder's recorded settings (where it has them), updated with ``given``."""
        recorded = {}
        if self.folder.config_path.exists():
            try:
                recorded = self.folder.read_config().get("training", {})
            except TrainingError:
                recorded = {}
        return TrainingConfig.from_dict({**recorded, **given})

    # ------------------------------------------------------------------ state
    @property
    def run_dir(self):
        """The run folder's path (New run moves it to the new folder)."""
        return self.folder.path

    @property
    def running(self) -> bool:
        """Whether a background run (or its preparation) is in progress."""
        return self.job is not None and not self.job.done

    @property
    def history(self) -> History:
        """Finished epochs of the current run (empty before the first)."""
        return self.trainer.history if self.trainer is not None else History()

    def config(self) -> TrainingConfig:
        """The :class:`TrainingConfig` the controls describe now (checked)."""
        config = replace(self.base_config, **{k: getattr(self, k) for k in SHOWN})
        config.validate()
        return config

    # ---------------------------------------------------------------- actions
    def start(self) -> TrainingJob:
        """Start a new run in the run folder in the background and return at once.

        Raises
        ------
        TrainingError
            Already running, no label table, bad settings, or a folder that already holds
            a run (checked before returning; errors while building show in the widget and
            are re-raised by :meth:`wait`).
        """
        self._check_idle()
        if self.make_trainer is None:
            raise TrainingError(
                "no label table: use TrainingControl.for_table(run_dir, table) to start a "
                "new run, or continue the run in this folder"
            )
        config, folder, pretrained = self.config(), self.folder, bool(self.pretrained)
        folder.check_new(hint="Continue it")

        def make() -> Trainer:
            return self.make_trainer(folder.path, config, callbacks=[self], pretrained=pretrained)

        return self._launch(
            make, f"new run in {folder.path}: training up to {config.epochs} epochs"
        )

    def new_run(self) -> TrainingJob:
        """Start a new run with the current settings in a new folder beside this one."""
        self._check_idle()
        if self.make_trainer is not None:
            self.config()  # bad settings are refused before the folder changes
            self.folder = self.folder.next_free()
            self.trainer, self.epochs_done = None, 0
        return self.start()

    def resume(self) -> TrainingJob:
        """Continue the run in the folder up to ``epochs`` (never fewer than it has).

        A learning rate or batch size changed in the controls applies from the next epoch;
        ``config.json`` records the new values and the change.

        Raises
        ------
        TrainingError
            Already running, bad settings, or the folder holds no finished epoch.
        """
        self._check_idle()
        if not self.folder.holds_run():
            raise TrainingError(
                f"cannot resume: {self.folder.last} does not exist (no epoch finished yet); "
                "press Start for a new run"
            )
        self.config()
        done, path, recorded = self.folder.epochs_done(), self.folder.path, self._recorded({})
        target = max(int(self.epochs), done)
        changed = {
            k: getattr(self, k) for k in SHOWN[1:] if getattr(self, k) != getattr(recorded, k)
        }

        def make() -> Trainer:
            return resume_trainer(path, epochs=target, callbacks=[self], **changed)

        if target > done:
            text = f"continuing {path} from epoch {done}: training up to {target} epochs"
        else:
            text = f"{path} already has {done} epochs (epochs is {self.epochs}): nothing to train"
        return self._launch(make, text)

    def start_or_resume(self) -> TrainingJob:
        """:meth:`resume` when the folder holds a run, else :meth:`start` (for notebooks)."""
        return self.resume() if self.folder.holds_run() else self.start()

    def stop(self) -> None:
        """Ask training to stop after the current batch (returns at once)."""
        if self.running:
            self.job.stop()
            self.status = "stopping"
            self._say("stopping after the current batch", "warning")

    def wait(self, timeout: float | None = None) -> History:
        """Block until the run ends and return its history (for papermill and Run All).

        The Stop button keeps working while a cell waits here; interrupting the kernel also
        stops training cleanly and returns the finished epochs.

        Raises
        ------
        TrainingError
            Nothing was started, or training failed (its own error is re-raised).
        TimeoutError
            ``timeout`` seconds passed first.
        """
        if self.job is None:
            raise TrainingError("training has not been started: call .start() or .resume()")
        try:
            if kernel_with_comms():
                wait_in_kernel(self.job, timeout)
            return self.job.wait(timeout)
        except KeyboardInterrupt:
            self.job.stop()
            return self.job.wait()

    # ---------------------------------------------------------------- helpers
    def _check_idle(self) -> None:
        if self.running:
            raise TrainingError("training is already running; Stop it first")

    def _launch(self, make: Callable[[], Trainer], text: str) -> TrainingJob:
        self.errors.clear()
        self.trainer = None
        self._last_update = 0.0
        self.status = "preparing"
        self._say(text)
        self.job = TrainingJob(
            make,
            on_built=self._built,
            on_build_error=self._build_failed,
            on_warning=self.errors.warn,
        )
        return self.job

    def _built(self, trainer: Trainer) -> None:
        self.trainer = trainer
        if self.status == "preparing":
            self.status = "running"

    def _build_failed(self, exc: BaseException) -> None:
        self.errors.report(exc)
        self._say(f"could not start: {exc}", "error")
        self.status = "failed"

    def _draw_curves(self, history: History, epochs: int = 0) -> None:
        self.plots.draw(history, epochs)
