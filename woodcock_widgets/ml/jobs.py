"""One background runner for training, used by the command line, the widgets and scripts."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable

from .trainer import History, Trainer

__all__ = ["TrainingJob"]


class TrainingJob:
    """:meth:`Trainer.fit` running on a daemon thread, optionally building the trainer first.

    Building (imports, the model, maybe weights) can take seconds; passing a factory lets the
    caller return at once, and Stop works before the trainer even exists.

    Parameters
    ----------
    trainer : Trainer or callable
        The trainer, or a function without arguments that builds it (on the job's thread).
    on_built : callable, optional
        ``on_built(trainer)`` once the trainer is built (on the job's thread).
    on_build_error : callable, optional
        ``on_build_error(exc)`` when building fails; the error is also kept for :meth:`wait`.
    on_warning : callable, optional
        ``on_warning(text)`` for each warning raised while building (e.g. random weights
        instead of missing ImageNet weights); without it they go to the usual warnings.

    Attributes
    ----------
    trainer : Trainer or None
        ``None`` until built.
    error : BaseException or None
        What ended the job abnormally (re-raised by :meth:`wait`).
    """

    def __init__(
        self,
        trainer: Trainer | Callable[[], Trainer],
        *,
        on_built: Callable[[Trainer], None] | None = None,
        on_build_error: Callable[[BaseException], None] | None = None,
        on_warning: Callable[[str], None] | None = None,
    ) -> None:
        self.trainer: Trainer | None = trainer if isinstance(trainer, Trainer) else None
        self._make = None if isinstance(trainer, Trainer) else trainer
        self._on_built = on_built
        self._on_build_error = on_build_error
        self._on_warning = on_warning
        self.error: BaseException | None = None
        self._stop = threading.Event()
        # waiting uses this Event, not Thread.join(): in Python 3.11 a KeyboardInterrupt
        # during join() can mark the still-running thread as finished
        self._finished = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="woodcock-train")
        self._thread.start()

    def _build(self) -> Trainer | None:
        try:
            if self._on_warning is None:
                trainer = self._make()
            else:
                # catching warnings swaps the global filters briefly; only the build can
                # warn, and the caller shows what it catches
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    trainer = self._make()
                for w in caught:
                    self._on_warning(str(w.message))
        except BaseException as exc:  # kept for wait(), reported to the caller
            self.error = exc
            if self._on_build_error is not None:
                self._on_build_error(exc)
            return None
        self.trainer = trainer
        if self._on_built is not None:
            self._on_built(trainer)
        return trainer

    def _run(self) -> None:
        try:
            trainer = self.trainer if self._make is None else self._build()
            if trainer is None:
                return
            if self._stop.is_set():
                trainer.stop()
            trainer.fit()
        except BaseException as exc:  # kept for the waiting thread
            self.error = exc
        finally:
            self._finished.set()

    @property
    def done(self) -> bool:
        """Whether the job has ended."""
        return self._finished.is_set()

    @property
    def stop_requested(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stop.is_set()

    @property
    def status(self) -> str:
        """``preparing`` (building), ``stopping``, then the trainer's status (``running``,
        ``finished``, ``stopped``, ``failed``)."""
        if self.trainer is None:
            return "failed" if self.done else "preparing"
        if not self.done and self._stop.is_set():
            return "stopping"
        return self.trainer.status if self.done or self.trainer.status != "idle" else "running"

    def __repr__(self) -> str:
        where = f" in {self.trainer.run_dir}" if self.trainer is not None else ""
        return f"<TrainingJob{where}: {self.status}>"

    def stop(self) -> None:
        """Ask training to stop (before it starts, or after the current batch); returns at
        once (use :meth:`wait` to wait)."""
        self._stop.set()
        if self.trainer is not None:
            self.trainer.stop()

    def wait(self, timeout: float | None = None) -> History:
        """Block until training ends; re-raise its error; return the history.

        Raises
        ------
        TimeoutError
            If ``timeout`` passes first.
        """
        if not self._finished.wait(timeout):
            raise TimeoutError(f"training still running after {timeout} s")
        if self.error is not None:
            raise self.error
        return self.trainer.history
