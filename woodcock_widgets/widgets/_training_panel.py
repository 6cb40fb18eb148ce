"""The view half of TrainingControl: its value traits, controls, status lines and progress.

:class:`TrainingPanel` shows a run and says what can be done next; the actions (Start,
Continue, New run, Stop, wait) are :class:`~.training_control.TrainingControl`'s.
"""

from __future__ import annotations

import math
import time

import ipywidgets as widgets
import traitlets

from ..errors import TrainingError
from ..ml.trainer import Callback, History, Trainer
from ._errors import ErrorLog
from ._tables import status_html
from ._training_curves import TrainingCurves

__all__ = ["TrainingPanel", "button_reasons", "kernel_with_comms", "wait_in_kernel"]

#: The settings the controls show, each with an ``<name>_input`` control linked to it.
SHOWN = ("epochs", "learning_rate", "batch_size")


def button_reasons(
    *, has_run: bool, done: int, epochs: int, folder: str, can_start: bool, one_step: bool = False
) -> dict[str, str]:
    """Why ``start``, ``continue`` and ``new_run`` cannot work now (``""`` when they can).

    Parameters
    ----------
    has_run : bool
        The folder holds a finished epoch.
    done : int
        Epochs the folder holds.
    epochs : int
        The epochs control (the run's total after Continue).
    folder : str
        The folder's name, for the messages.
    can_start : bool
        The control can build a new run (it has a label table).
    one_step : bool
        The run is fitted in one step (the embeddings method): it is never continued.
    """
    no_table = "needs a label table (TrainingControl.for_table)"
    if not has_run:
        return {
            "start": "" if can_start else f"Start {no_table}",
            "continue": f"Continue needs a finished epoch in {folder}; press Start",
            "new_run": "New run is for after a run; press Start",
        }
    if one_step:
        again = "an embeddings fit is one step; New run fits again in seconds"
    else:
        again = f"set epochs above {done} to continue" if epochs <= done else ""
    return {
        "start": f"Start is for a new folder: {folder} holds {done} epoch(s)",
        "continue": again,
        "new_run": "" if can_start else f"New run {no_table}",
    }


def kernel_with_comms() -> bool:
    """Whether we run inside a Jupyter kernel (where widget clicks arrive as messages)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def wait_in_kernel(job, timeout: float | None) -> None:
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


class TrainingPanel(widgets.VBox, Callback):
    """Settings, buttons, progress bars, status and hint lines, live curves.

    Subclasses give ``folder`` (a RunFolder), ``make_trainer``, ``one_step`` (a run fitted
    in one step, never continued) and the button actions ``start``, ``stop``, ``resume``
    and ``new_run``. As a :class:`Callback` it follows a
    running trainer; the callbacks run on the training thread, are guarded so a display
    problem never stops training, and update the progress bars at most every
    ``update_interval`` seconds.
    """

    epochs = traitlets.Int(5, help="total epochs of the run (Start, Continue)")
    learning_rate = traitlets.Float(1e-3, help="SGD step size")
    batch_size = traitlets.Int(32, help="clips per step")
    pretrained = traitlets.Bool(True, help="new runs start from ImageNet weights")
    status = traitlets.Unicode(
        "idle", help="idle, preparing, running, stopping, finished, stopped or failed"
    )
    message = traitlets.Unicode("", help="what the status line says")
    hint = traitlets.Unicode("", help="what can be done next, and why a button is off")
    epochs_done = traitlets.Int(0, help="finished epochs in the run folder")

    @traitlets.validate("epochs", "batch_size")
    def _at_least_one(self, proposal):
        if proposal["value"] < 1:
            name = proposal["trait"].name
            raise traitlets.TraitError(f"{name} must be at least 1, got {proposal['value']}")
        return proposal["value"]

    def _build(self, epochs: int) -> None:
        self.errors = ErrorLog()
        self._last_update = 0.0
        self._session_start = 0
        guard, style = self.errors.guard, {"description_width": "8em"}
        self.epochs_input = widgets.BoundedIntText(
            min=1, max=100_000, description="epochs", style=style
        )
        self.learning_rate_input = widgets.BoundedFloatText(
            min=0.0, max=10.0, step=1e-4, description="learning rate", style=style
        )
        self.batch_size_input = widgets.BoundedIntText(
            min=1, max=4096, description="batch size", style=style
        )
        self.pretrained_input = widgets.Checkbox(description="ImageNet weights")
        for name in (*SHOWN, "pretrained"):
            traitlets.link((self, name), (getattr(self, f"{name}_input"), "value"))
        self.start_button = widgets.Button(description="Start", icon="play", button_style="success")
        self.stop_button = widgets.Button(description="Stop", icon="stop", button_style="danger")
        self.resume_button = widgets.Button(description="Continue", icon="forward")
        self.new_run_button = widgets.Button(description="New run", icon="plus")
        self.epoch_progress = widgets.IntProgress(value=0, min=0, max=1, description="batches")
        self.total_progress = widgets.IntProgress(value=0, min=0, max=1, description="epochs")
        self.status_html = widgets.HTML()
        self.hint_html = widgets.HTML()
        self.plots = TrainingCurves(epochs)
        self.curves, self.figures = self.plots.curves, self.plots.figures
        for button, action in (
            (self.start_button, "start"),
            (self.stop_button, "stop"),
            (self.resume_button, "resume"),
            (self.new_run_button, "new_run"),
        ):
            button.on_click(guard(lambda _, action=action: getattr(self, action)()))
        buttons = [self.start_button, self.stop_button, self.resume_button, self.new_run_button]
        self.children = [
            widgets.HBox([self.epochs_input, self.learning_rate_input]),
            widgets.HBox([self.batch_size_input, self.pretrained_input]),
            widgets.HBox(buttons),
            widgets.HBox([self.epoch_progress, self.total_progress]),
            self.status_html,
            self.hint_html,
            self.plots,
            self.errors.output,
        ]

    # ---------------------------------------------------------------- showing state
    def _say(self, text: str, kind: str = "info") -> None:
        self.message = text
        self.status_html.value = status_html(text, kind)

    def _refresh(self, _change=None) -> None:
        """Enable what can work now; the hint line says why the rest cannot."""
        try:
            self._show_options()
        except Exception as exc:  # a display problem never stops a state change
            self.errors.report(exc)

    def _show_options(self) -> None:
        busy = self.status in ("preparing", "running", "stopping")
        one_step = self.one_step
        for name in SHOWN:
            # a one-step fit has no epochs or learning rate (batch size: windows per model call)
            getattr(self, f"{name}_input").disabled = busy or (one_step and name != "batch_size")
        self.pretrained_input.disabled = busy or one_step or self.make_trainer is None
        self.stop_button.disabled = not busy
        has_run = self.folder.holds_run()
        done = self.folder.epochs_done() if has_run and not busy else self.epochs_done
        self.epochs_done = done
        self.plots.set_epoch_axis(max(int(self.epochs), done))
        reasons = button_reasons(
            has_run=has_run,
            done=done,
            epochs=int(self.epochs),
            folder=self.folder.path.name,
            can_start=self.make_trainer is not None,
            one_step=one_step,
        )
        buttons = (self.start_button, self.resume_button, self.new_run_button)
        for button, reason in zip(buttons, reasons.values()):
            button.disabled = busy or bool(reason)
            button.tooltip = reason
        # a stopped run resumes; a finished one continues for more epochs
        stopped = has_run and done < self.folder.epochs_planned()
        verb = "Resume" if stopped and not one_step else "Continue"
        self.resume_button.description = (
            verb if stopped or not has_run else f"{verb} to {self.epochs}"
        )
        hints = [] if busy else [r for r in reasons.values() if r]
        if not busy and has_run and self.epochs > done and not one_step:
            hints.append(f"{verb} trains up to {self.epochs} epochs")
        if not busy and has_run and self.make_trainer is not None:
            hints.append(f"New run starts over in {self.folder.next_free().path.name}")
        self.hint = " · ".join(hints)
        self.hint_html.value = status_html(self.hint) if self.hint else ""
        if self.status == "idle":
            held = f"holds {done} epoch(s)" if has_run else "holds no run yet"
            self._say(f"idle · run folder {self.folder.path} {held}")

    def _summary(self, trainer: Trainer, status: str) -> tuple[str, str]:
        done = f"{trainer.epoch} of {trainer.config.epochs} epochs"
        best = ""
        if trainer.best_epoch and math.isfinite(trainer.best_score):
            name = "mAP" if getattr(trainer, "best_metric", "") == "valid_map" else "F1"
            best = f" · best valid {name} {trainer.best_score:.3f} at epoch {trainer.best_epoch}"
        kind = {"finished": "ok", "stopped": "warning", "failed": "error"}.get(status, "info")
        return f"{status}: {done}{best} · run folder {self.folder.path}", kind

    # ------------------------------------------------------------------ job state
    def _check_idle(self) -> None:
        if self.running:
            raise TrainingError("training is already running; Stop it first")

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

    # ------------------------------------------------------------------ callbacks
    def on_fit_start(self, trainer: Trainer) -> None:
        """Reset the progress bars and draw the epochs a resumed run already has."""
        try:
            self._session_start = trainer.epoch
            with self.total_progress.hold_sync():
                self.total_progress.max = trainer.config.epochs
                self.total_progress.value = trainer.epoch
            self.epoch_progress.value = 0
            self.plots.draw(trainer.history, trainer.config.epochs)
            if trainer.epoch < trainer.config.epochs:
                e, n = trainer.epoch + 1, trainer.config.epochs
                self._say(f"training epoch {e} of {n} in {self.folder.path}")
        except Exception as exc:  # never let the display stop training
            self.errors.report(exc)

    def on_batch_end(self, trainer, epoch, batch, n_batches, loss) -> None:
        """Move the batch progress bar (at most every ``update_interval`` seconds)."""
        now = time.monotonic()
        if batch < n_batches and now - self._last_update < self.update_interval:
            return
        self._last_update = now
        try:
            with self.epoch_progress.hold_sync():
                self.epoch_progress.max = n_batches
                self.epoch_progress.value = batch
            n = trainer.config.epochs
            self._say(f"epoch {epoch} of {n} · batch {batch} of {n_batches} · loss {loss:.4f}")
        except Exception as exc:
            self.errors.report(exc)

    def on_epoch_end(self, trainer: Trainer, record: dict[str, float]) -> None:
        """Extend the curves and the epoch progress bar."""
        try:
            self.total_progress.value = int(record["epoch"])
            self.epochs_done = int(record["epoch"])
            self.plots.draw(trainer.history, trainer.config.epochs)
        except Exception as exc:
            self.errors.report(exc)

    def on_fit_end(self, trainer: Trainer, status: str) -> None:
        """Show how the run ended; make Continue ready to train more epochs."""
        try:
            if status == "failed" and trainer.error is not None:
                self.errors.report(trainer.error)
            self._say(*self._summary(trainer, status))
            done = trainer.epoch
            if status == "finished" and hasattr(trainer, "pr_curve"):  # an embeddings fit
                precision, recall = trainer.pr_curve()
                self.plots.draw_pr(precision, recall, trainer.result.bundle.positive_class)
            elif status == "finished" and self.epochs <= done:
                self.epochs = done + max(done - self._session_start, 1)
        except Exception as exc:
            self.errors.report(exc)
        finally:
            self.status = status  # the state is right even when showing it failed
