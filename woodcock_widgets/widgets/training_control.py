"""TrainingControl: hyper-parameters, Start / Stop / Resume, progress and live curves."""

from __future__ import annotations

import math
import os
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

import ipywidgets as widgets
import numpy as np

from ..audio.preprocessing import Preprocessing
from ..errors import TrainingError
from ..ml.training import Callback, History, Trainer, TrainingConfig
from ..tables.splits import SplitResult
from ..workflow.pipeline import LabeledTable, new_trainer, resume_trainer
from ._errors import ErrorLog
from ._plots import line_figure
from ._tables import status_html

__all__ = ["TrainingControl", "CURVES"]


class _BackgroundRun:
    """Build a trainer and fit it on a daemon thread (like ``TrainingJob``, plus the build).

    Building includes importing torchvision and making the model, which can take seconds:
    doing it here lets Start return the kernel at once.
    """

    def __init__(self, control: TrainingControl, make: Callable[[], Trainer]) -> None:
        self.control = control
        self.trainer: Trainer | None = None
        self.error: BaseException | None = None
        self._stop = threading.Event()
        # wait() blocks on this Event, not on Thread.join(): in Python 3.11 an interrupt
        # during join() can mark a still-running thread as finished.
        self._finished = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(make,), daemon=True, name="woodcock-train"
        )
        self._thread.start()

    def _run(self, make: Callable[[], Trainer]) -> None:
        try:
            self._build_and_fit(make)
        finally:
            self._finished.set()

    def _build_and_fit(self, make: Callable[[], Trainer]) -> None:
        try:
            # Catching warnings swaps the global filters briefly; only the build can warn
            # (e.g. random weights when ImageNet weights are missing), and users must see it.
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                trainer = make()
            for w in caught:
                self.control.errors.warn(str(w.message))
        except BaseException as exc:  # kept for wait(), shown in the widget
            self.error = exc
            self.control._build_failed(exc)
            return
        self.trainer = self.control.trainer = trainer
        if self._stop.is_set():
            trainer.stop()
        try:
            trainer.fit()  # its on_fit_end callback reports a failure in the widget
        except BaseException as exc:
            self.error = exc

    @property
    def done(self) -> bool:
        """Whether the run has ended."""
        return self._finished.is_set()

    def __repr__(self) -> str:
        return f"<training run in {self.control.run_dir}: {self.control.status}>"

    @property
    def stop_requested(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stop.is_set()

    def stop(self) -> None:
        """Ask the run to stop (before it starts, or after the current batch)."""
        self._stop.set()
        if self.trainer is not None:
            self.trainer.stop()

    def wait(self, timeout: float | None = None) -> History:
        """Block until the run ends; re-raise its error; return the history."""
        if not self._finished.wait(timeout):
            raise TimeoutError(f"training still running after {timeout} s")
        if self.error is not None:
            raise self.error
        return self.trainer.history


def _kernel_with_comms() -> bool:
    """Whether we run inside a Jupyter kernel (where widget clicks arrive as messages)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _wait_handling_ui_events(job: _BackgroundRun, timeout: float | None) -> None:
    """Wait for ``job`` while the kernel keeps handling widget messages.

    A kernel runs one message at a time, so while a cell blocks in ``wait()`` a click on
    Stop would only arrive after training ended. jupyter-ui-poll handles the pending widget
    messages from inside the waiting cell (and replays queued cell executions afterwards).
    """
    from jupyter_ui_poll import ui_events

    deadline = None if timeout is None else time.monotonic() + timeout
    with ui_events() as poll:
        while not job.done:
            if deadline is not None and time.monotonic() >= deadline:
                return
            poll(20)
            time.sleep(0.05)


#: Figure name → (metric key in the history, y-axis label, series shown).
CURVES = {
    "loss": ("loss", "cross-entropy", ("train", "valid")),
    "accuracy": ("accuracy", "accuracy", ("train", "valid")),
    "F1": ("f1", "macro F1", ("train", "valid")),
}


class TrainingControl(widgets.VBox, Callback):
    """Train in the background with Start / Stop / Resume, progress bars and live curves.

    Start builds a trainer with :func:`woodcock_widgets.pipeline.new_trainer` and runs it
    on a background thread, so the kernel is free at once; Resume continues the run folder
    with :func:`woodcock_widgets.pipeline.resume_trainer`. Stop asks the trainer to stop
    after the current batch; the run folder always holds the last finished epoch.

    Parameters
    ----------
    run_dir : path
        The run folder (``config.json``, ``history.csv``, ``last.pt``, ``best.pt``, ...).
    table : LabeledTable, optional
        Clips with class codes (``LabelRemapper.table`` or ``pipeline.prepare_labels``).
        Not needed to Resume an existing run.
    split : SplitResult or (DataFrame, DataFrame), optional
        Train/validation split (e.g. ``SplitBalance.result``); default: a stratified
        split of ``table`` with ``train_fraction`` and ``seed``.
    preprocessing : Preprocessing, optional
        How clips become images; default: the tutorial's (224x224).
    epochs, learning_rate, batch_size, pretrained
        Starting values of the controls (the tutorial's defaults).
    on_missing_weights : {"error", "random"}
        When ImageNet weights cannot be had: stop with a message, or train from random
        weights with a visible warning.
    weights_path : path, optional
        An ImageNet weights file.
    train_fraction : float
        Used when ``split`` is not given.
    group_column : str, optional
        Used when ``split`` is not given.
    seed : int
        Seed for the split, batch order and model initialisation.
    augment : bool
        Augment training images.
    log_every : int
        Keep a checkpoint every this many epochs.
    arch : str
        Network architecture.
    update_interval : float
        Seconds between progress-bar updates (the curves update at every epoch end); keeps
        the widget's cost on training time small.
    **training_options
        More :class:`~woodcock_widgets.training.TrainingConfig` fields (e.g. ``momentum``,
        ``num_threads``, ``device``).

    Attributes
    ----------
    trainer : Trainer or None
        The current trainer.
    job : object or None
        The background run: ``done``, ``stop()``, ``wait(timeout)`` (like
        :class:`~woodcock_widgets.training.TrainingJob`).
    history : History
        Finished epochs (as in ``history.csv``).
    status : str
        ``idle``, ``preparing`` (building the trainer), ``running``, ``stopping``,
        ``finished``, ``stopped`` or ``failed``.
    curves : dict
        ``{"loss" | "accuracy" | "F1": {"train" | "valid": bqplot.Lines}}``.
    errors : ErrorLog
        Errors and warnings shown in the widget.

    Examples
    --------
    >>> from woodcock_widgets.widgets import TrainingControl
    >>> control = TrainingControl("runs/r1", remapper.table,         # doctest: +SKIP
    ...                           split=balance.result, epochs=5, pretrained=False)
    >>> control                      # display it; click Start, or:
    >>> control.start()              # returns at once; training runs in the background
    >>> history = control.wait()     # a later cell blocks until training ends (papermill)
    >>> control.history.to_frame()   # the same rows as runs/r1/history.csv

    While ``wait()`` blocks, the Stop button still works: the waiting cell handles widget
    messages (through jupyter-ui-poll). Interrupting the kernel stops training too.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike,
        table: LabeledTable | None = None,
        *,
        split: SplitResult | tuple | None = None,
        preprocessing: Preprocessing | None = None,
        epochs: int = 5,
        learning_rate: float = 1e-3,
        batch_size: int = 32,
        pretrained: bool = True,
        on_missing_weights: str = "error",
        weights_path: str | os.PathLike | None = None,
        train_fraction: float = 0.8,
        group_column: str | None = None,
        seed: int = 0,
        augment: bool = False,
        log_every: int = 5,
        arch: str = "resnet18",
        update_interval: float = 0.5,
        **training_options,
    ) -> None:
        super().__init__()
        known = {f.name for f in fields(TrainingConfig)}
        unknown = sorted(set(training_options) - known)
        if unknown:
            raise TrainingError(
                f"unknown training option(s) {unknown}; TrainingConfig has {sorted(known)}"
            )
        if table is not None and not isinstance(table, LabeledTable):
            raise TrainingError(
                "table must be a LabeledTable (LabelRemapper.table or pipeline.prepare_labels)"
            )
        self.run_dir = Path(run_dir)
        self.table = table
        self.split = split
        self.preprocessing = preprocessing
        self.on_missing_weights = on_missing_weights
        self.weights_path = weights_path
        self.train_fraction = train_fraction
        self.group_column = group_column
        self.seed = int(seed)
        self.augment = augment
        self.log_every = int(log_every)
        self.arch = arch
        self.update_interval = float(update_interval)
        self.training_options = dict(training_options)
        self.trainer: Trainer | None = None
        self.job: _BackgroundRun | None = None
        self.errors = ErrorLog()
        self._last_update = 0.0
        self._build(epochs, learning_rate, batch_size, pretrained)
        self._show_idle()

    # ------------------------------------------------------------------ layout
    def _build(self, epochs, learning_rate, batch_size, pretrained) -> None:
        guard = self.errors.guard
        style = {"description_width": "8em"}
        self.epochs = widgets.BoundedIntText(
            value=epochs, min=1, max=10_000, description="epochs", style=style
        )
        self.learning_rate = widgets.BoundedFloatText(
            value=learning_rate,
            min=0.0,
            max=10.0,
            step=1e-4,
            description="learning rate",
            style=style,
        )
        self.batch_size = widgets.BoundedIntText(
            value=batch_size, min=1, max=4096, description="batch size", style=style
        )
        self.pretrained = widgets.Checkbox(value=pretrained, description="ImageNet weights")
        self.start_button = widgets.Button(description="Start", icon="play", button_style="success")
        self.stop_button = widgets.Button(description="Stop", icon="stop", button_style="danger")
        self.resume_button = widgets.Button(description="Resume", icon="forward")
        self.epoch_progress = widgets.IntProgress(value=0, min=0, max=1, description="batches")
        self.total_progress = widgets.IntProgress(value=0, min=0, max=1, description="epochs")
        self.status_html = widgets.HTML()
        self.curves: dict[str, dict] = {}
        self.figures: dict[str, object] = {}
        figures = []
        for title, (_, y_label, series) in CURVES.items():
            y_range = (0.0, 1.0) if title != "loss" else None
            # falling loss leaves the top right free; rising scores leave the bottom right
            legend = "top-right" if title == "loss" else "bottom-right"
            fig, lines = line_figure(
                title, y_label, series, y_range=y_range, legend_location=legend
            )
            fig.layout.width = "33%"
            self.curves[title] = lines
            self.figures[title] = fig
            figures.append(fig)
        self.start_button.on_click(guard(lambda _: self.start()))
        self.stop_button.on_click(guard(lambda _: self.stop()))
        self.resume_button.on_click(guard(lambda _: self.resume()))
        self.children = [
            widgets.HBox([self.epochs, self.learning_rate]),
            widgets.HBox([self.batch_size, self.pretrained]),
            widgets.HBox([self.start_button, self.stop_button, self.resume_button]),
            widgets.HBox([self.epoch_progress, self.total_progress]),
            self.status_html,
            widgets.HBox(figures),
            self.errors.output,
        ]

    # ------------------------------------------------------------ public API
    @property
    def running(self) -> bool:
        """Whether a background run (or its preparation) is in progress."""
        return self.job is not None and not self.job.done

    @property
    def status(self) -> str:
        """``idle``, ``preparing``, ``running``, ``stopping``, ``finished``, ``stopped`` or
        ``failed``."""
        if self.job is None:
            return "idle"
        if self.running:
            if self.job.stop_requested:
                return "stopping"
            return "running" if self.trainer is not None else "preparing"
        if self.trainer is None:
            return "failed"
        return self.trainer.status

    @property
    def history(self) -> History:
        """Finished epochs of the current run (empty before the first)."""
        return self.trainer.history if self.trainer is not None else History()

    def config(self) -> TrainingConfig:
        """The :class:`TrainingConfig` the controls describe now."""
        config = TrainingConfig(
            epochs=int(self.epochs.value),
            batch_size=int(self.batch_size.value),
            learning_rate=float(self.learning_rate.value),
            seed=self.seed,
            log_every=self.log_every,
            **self.training_options,
        )
        config.validate()
        return config

    def start(self) -> _BackgroundRun:
        """Start a new run in ``run_dir`` in the background and return at once.

        Building the trainer (split, datasets, model) also happens in the background;
        its errors are shown in the widget and re-raised by :meth:`wait`.

        Raises
        ------
        TrainingError
            Already running, no table, or bad settings (checked before returning).
        """
        self._check_idle()
        if self.table is None:
            raise TrainingError(
                "no label table: pass TrainingControl(run_dir, table=...) to start a new run, "
                "or Resume an existing run folder"
            )
        config = self.config()
        if (self.run_dir / "last.pt").exists():
            raise TrainingError(
                f"run folder {self.run_dir} already holds a run; Resume it or choose a new folder"
            )
        pretrained = bool(self.pretrained.value)

        def make() -> Trainer:
            return new_trainer(
                self.table,
                self.run_dir,
                config,
                train_fraction=self.train_fraction,
                group_column=self.group_column,
                arch=self.arch,
                pretrained=pretrained,
                weights_path=self.weights_path,
                on_missing_weights=self.on_missing_weights,
                preprocessing=self.preprocessing,
                augment=self.augment,
                callbacks=[self],
                split=self.split,
            )

        return self._launch(make, f"preparing a new run in {self.run_dir}")

    def resume(self) -> _BackgroundRun:
        """Continue the run in ``run_dir`` up to the epochs control, in the background.

        The other settings come from the run folder, so the run stays reproducible.

        Raises
        ------
        TrainingError
            Already running, or the folder holds no finished epoch.
        """
        self._check_idle()
        if not (self.run_dir / "last.pt").exists():
            raise TrainingError(
                f"cannot resume: {self.run_dir / 'last.pt'} does not exist (no epoch finished "
                "yet); press Start for a new run"
            )
        epochs, batch_size = int(self.epochs.value), int(self.batch_size.value)

        def make() -> Trainer:
            return resume_trainer(
                self.run_dir, epochs=epochs, callbacks=[self], batch_size=batch_size
            )

        return self._launch(make, f"resuming {self.run_dir}")

    def stop(self) -> None:
        """Ask training to stop after the current batch (returns at once)."""
        if self.job is not None and self.running:
            self.job.stop()
            self.status_html.value = status_html("stopping after the current batch", "warning")

    def wait(self, timeout: float | None = None) -> History:
        """Block until the run ends and return its history (for papermill and Run All).

        The Stop button keeps working while a cell waits here (widget messages are handled
        during the wait); interrupting the kernel also stops training cleanly and returns
        the finished epochs.

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
            if _kernel_with_comms():
                _wait_handling_ui_events(self.job, timeout)
            return self.job.wait(timeout)
        except KeyboardInterrupt:
            self.job.stop()
            return self.job.wait()

    # ------------------------------------------------------------- callbacks
    # They run on the training thread: each is guarded so a display problem can never
    # stop training, and progress updates are throttled to ``update_interval``.
    def on_fit_start(self, trainer: Trainer) -> None:
        """Reset the progress bars and draw the epochs a resumed run already has."""
        try:
            with self.total_progress.hold_sync():
                self.total_progress.max = trainer.config.epochs
                self.total_progress.value = trainer.epoch
            self.epoch_progress.value = 0
            self._draw_curves(trainer.history)
            self.status_html.value = status_html(
                f"training epoch {trainer.epoch + 1} of {trainer.config.epochs} in {self.run_dir}"
            )
        except Exception as exc:  # never let the display stop training
            self.errors.report(exc)

    def on_batch_end(
        self, trainer: Trainer, epoch: int, batch: int, n_batches: int, loss: float
    ) -> None:
        """Move the batch progress bar (at most every ``update_interval`` seconds)."""
        now = time.monotonic()
        if batch < n_batches and now - self._last_update < self.update_interval:
            return
        self._last_update = now
        try:
            with self.epoch_progress.hold_sync():
                self.epoch_progress.max = n_batches
                self.epoch_progress.value = batch
            self.status_html.value = status_html(
                f"epoch {epoch} of {trainer.config.epochs} · batch {batch} of {n_batches} · "
                f"loss {loss:.4f}"
            )
        except Exception as exc:
            self.errors.report(exc)

    def on_epoch_end(self, trainer: Trainer, record: dict[str, float]) -> None:
        """Extend the curves and the epoch progress bar."""
        try:
            self.total_progress.value = int(record["epoch"])
            self._draw_curves(trainer.history)
        except Exception as exc:
            self.errors.report(exc)

    def on_fit_end(self, trainer: Trainer, status: str) -> None:
        """Show how the run ended and re-enable the controls."""
        try:
            if status == "failed" and trainer.error is not None:
                self.errors.report(trainer.error)
            self._set_running(False)
            self.status_html.value = self._summary(trainer, status)
        except Exception as exc:
            self.errors.report(exc)

    # --------------------------------------------------------------- helpers
    def _check_idle(self) -> None:
        if self.running:
            raise TrainingError("training is already running; Stop it first")

    def _launch(self, make: Callable[[], Trainer], text: str) -> _BackgroundRun:
        self.errors.clear()
        self.trainer = None
        self._last_update = 0.0
        self._set_running(True)
        self.status_html.value = status_html(text)
        self.job = _BackgroundRun(self, make)
        return self.job

    def _build_failed(self, exc: BaseException) -> None:
        self.errors.report(exc)
        self._set_running(False)
        self.status_html.value = status_html(f"could not start: {exc}", "error")

    def _set_running(self, running: bool) -> None:
        for control in (
            self.start_button,
            self.resume_button,
            self.epochs,
            self.learning_rate,
            self.batch_size,
            self.pretrained,
        ):
            control.disabled = running
        self.stop_button.disabled = not running
        if not running and (self.run_dir / "last.pt").exists():
            # the folder holds a run now: Start would be refused, Resume continues it
            self.start_button.disabled = True

    def _draw_curves(self, history: History) -> None:
        records = list(history.records)
        last_epoch = max([int(r["epoch"]) for r in records], default=1)
        for figure in self.figures.values():
            # whole-epoch ticks only: one per epoch up to ten, never repeated labels
            x_axis = figure.axes[0]
            with x_axis.hold_sync():
                x_axis.num_ticks = min(max(last_epoch, 2), 10)
                x_axis.scale.min, x_axis.scale.max = 1.0, float(max(last_epoch, 2))
        for title, (metric, _, series) in CURVES.items():
            for part in series:
                key = f"{part}_{metric}"
                points = [
                    (float(r["epoch"]), float(r[key]))
                    for r in records
                    if key in r and r[key] is not None and math.isfinite(float(r[key]))
                ]
                xs = np.array([p[0] for p in points], dtype=float)
                ys = np.array([p[1] for p in points], dtype=float)
                line = self.curves[title][part]
                with line.hold_sync():
                    line.x = xs
                    line.y = ys

    def _summary(self, trainer: Trainer, status: str) -> str:
        done = f"{trainer.epoch} of {trainer.config.epochs} epochs"
        best = ""
        if trainer.best_epoch and math.isfinite(trainer.best_score):
            best = f" · best valid F1 {trainer.best_score:.3f} at epoch {trainer.best_epoch}"
        kind = {"finished": "ok", "stopped": "warning", "failed": "error"}.get(status, "info")
        return status_html(f"{status}: {done}{best} · run folder {self.run_dir}", kind)

    def _show_idle(self) -> None:
        self.stop_button.disabled = True
        has_run = (self.run_dir / "last.pt").exists()
        self.start_button.disabled = self.table is None or has_run
        self.resume_button.disabled = False
        hint = "Resume continues it" if has_run else "press Start"
        self.status_html.value = status_html(f"idle · run folder {self.run_dir} · {hint}")
