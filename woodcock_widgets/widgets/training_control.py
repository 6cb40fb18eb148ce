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
from ..workflow.embedding_fit import EMBEDDING_OPTIONS, embedding_factory
from ..workflow.pipeline import resume_trainer, trainer_factory
from ..workflow.run_folder import RunFolder
from ._training_curves import CURVES
from ._training_panel import SHOWN, TrainingPanel, kernel_with_comms, wait_in_kernel

__all__ = ["TrainingControl", "CURVES", "METHODS"]

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


#: The methods a control trains with: a CNN in epochs, or a head on embeddings in one step.
METHODS = ("cnn", "embeddings")


def _split_options(options: dict, method: str = "cnn") -> tuple[dict, dict]:
    """``(TrainingConfig fields, run options)``; anything else is refused.

    For ``embeddings`` the run options are those of
    :func:`~woodcock_widgets.workflow.embedding_fit.embedding_factory`; the CNN's own
    (``preprocessing``, ``arch``, ``augment``...) are accepted and do not apply, so a notebook
    can pass the same options to either method.
    """
    if method not in METHODS:
        raise TrainingError(f"unknown method {method!r}; use one of {list(METHODS)}")
    known = TrainingConfig.field_names()
    passed = EMBEDDING_OPTIONS if method == "embeddings" else _RUN_OPTIONS
    accepted = passed | _RUN_OPTIONS
    unknown = sorted(set(options) - known - accepted)
    if unknown:
        raise TrainingError(
            f"unknown training option(s) {unknown}; TrainingConfig has {sorted(known)}, "
            f"new {method} runs take {sorted(accepted)}"
        )
    return (
        {k: v for k, v in options.items() if k in known},
        {k: v for k, v in options.items() if k in passed},
    )


def _recorded(folder: RunFolder, given: dict) -> TrainingConfig:
    """The folder's recorded settings (where it has them), updated with ``given``."""
    return TrainingConfig.from_dict({**folder.recorded_training(), **given})


def _wait_for(job: TrainingJob, timeout: float | None) -> History:
    """Wait for ``job`` (serving widget messages in a kernel); an interrupt stops it cleanly."""
    try:
        if kernel_with_comms():
            wait_in_kernel(job, timeout)
        return job.wait(timeout)
    except KeyboardInterrupt:
        job.stop()
        return job.wait()


class TrainingControl(TrainingPanel):
    """Train in the background: Start, Stop, Continue (more epochs) or a New run; live curves.

    Training runs on a background thread (:class:`~woodcock_widgets.ml.jobs.TrainingJob`),
    so the kernel is free at once. Stop ends after the current batch; the run folder always
    holds the last finished epoch. A finished or stopped run offers **Continue** (up to the
    ``epochs`` shown, with the learning rate and batch size shown; ``config.json`` records
    a change) and **New run** (the same settings in a new folder beside this one). A button
    that cannot work now is disabled, and the hint line under the status says why.

    With ``method="embeddings"`` a new run is a shallow head on pretrained embeddings
    (:class:`~woodcock_widgets.workflow.embedding_fit.EmbeddingFit`): the control shows the fit
    as its one step, then the precision–recall curve of the validation set; such a run is not
    continued (New run fits again, in seconds on cached embeddings).

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
    method : {"cnn", "embeddings"}
        How a table's new runs train; a folder's recorded method wins in :meth:`from_run`.
    update_interval : float
        Seconds between progress-bar updates (the curves update at every epoch end).
    **options
        :class:`TrainingConfig` fields (``epochs=5``) and, with a table, options of
        :func:`~woodcock_widgets.workflow.pipeline.new_trainer` (``split``,
        ``preprocessing``, ``augment``...) or, for embeddings, of
        :func:`~woodcock_widgets.workflow.embedding_fit.embedding_factory` (``embedder``,
        ``split``, ``cache_dir``, ``zero_shot_species``...).

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
        method: str = "cnn",
        update_interval: float = 0.5,
        **options,
    ) -> None:
        super().__init__()
        fields, run_options = _split_options(options, method)
        if isinstance(make_trainer, LabeledTable):
            factory = embedding_factory if method == "embeddings" else trainer_factory
            make_trainer = factory(make_trainer, **run_options)
        elif make_trainer is not None and not callable(make_trainer):
            raise TrainingError(
                "table must be a LabeledTable (LabelRemapper.table or pipeline.prepare_labels)"
            )
        elif run_options:
            raise TrainingError(f"{sorted(run_options)} need a label table (for_table)")
        self.folder = RunFolder(run_dir)
        self.method = (
            method if make_trainer is not None else self.folder.recorded_method() or method
        )
        self.make_trainer = make_trainer
        self.update_interval = float(update_interval)
        self.base_config = replace(config, **fields) if config else _recorded(self.folder, fields)
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

    # ------------------------------------------------------------------ state
    @property
    def run_dir(self):
        """The run folder's path (New run moves it to the new folder)."""
        return self.folder.path

    @property
    def one_step(self) -> bool:
        """Whether runs are fitted in one step (the embeddings method): never continued."""
        return self.method == "embeddings"

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
        if self.one_step:
            raise TrainingError(
                "an embeddings fit is one step and is not continued; New run fits again "
                "(in seconds: the embeddings are cached)"
            )
        if not self.folder.holds_run():
            raise TrainingError(
                f"cannot resume: {self.folder.last} does not exist (no epoch finished yet); "
                "press Start for a new run"
            )
        self.config()
        done, path, recorded = (
            self.folder.epochs_done(),
            self.folder.path,
            _recorded(self.folder, {}),
        )
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
        return _wait_for(self.job, timeout)

    # ---------------------------------------------------------------- helpers
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
