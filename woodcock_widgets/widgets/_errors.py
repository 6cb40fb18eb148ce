"""Route exceptions raised in widget callbacks into an ``ipywidgets.Output`` users can see.

An exception in a button or slider callback is otherwise lost in the kernel log. The log
works from any thread (it appends to the Output's ``outputs`` instead of capturing with
``with output:``, which depends on the executing cell).
"""

from __future__ import annotations

import contextlib
import functools
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import ipywidgets as widgets
from traitlets import TraitError

from ..errors import WoodcockError

__all__ = ["ErrorLog"]

# Errors whose message says what to fix: one line. Anything else is a bug: full traceback.
_USER_ERRORS = (WoodcockError, ValueError, TraitError, OSError)


def _one_line(exc: BaseException) -> list[str]:
    return [f"{type(exc).__name__}: {exc}"]


def mark_shown(exc: BaseException) -> BaseException:
    """Mark ``exc`` as already shown in a widget, and make IPython print it as one line.

    IPython renders an exception through its ``_render_traceback_`` when it has one (as
    ipyparallel does for remote errors), so a notebook cell that calls ``widget.save()``
    and fails for a reason the widget already explains prints ``LabelError: …`` instead of
    a traceback. The exception still propagates: papermill and "Run All" stop at it.
    """
    exc._woodcock_shown = True  # type: ignore[attr-defined]
    exc._render_traceback_ = functools.partial(_one_line, exc)  # type: ignore[attr-defined]
    return exc


def format_error(exc: BaseException) -> str:
    """One line for user errors, the traceback for anything else."""
    if isinstance(exc, _USER_ERRORS):
        return f"{type(exc).__name__}: {exc}"
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()


class ErrorLog:
    """Errors and warnings of one widget, shown in :attr:`output` and kept in :attr:`messages`.

    Attributes
    ----------
    output : ipywidgets.Output
        Put this in the widget's layout.
    messages : list of str
        Everything reported since the last :meth:`clear` (for scripts and tests).
    """

    def __init__(self) -> None:
        self.output = widgets.Output(layout=widgets.Layout(max_height="12em", overflow="auto"))
        self.messages: list[str] = []

    def report(self, exc: BaseException) -> str:
        """Show an exception; return the text shown."""
        text = format_error(exc)
        self.messages.append(text)
        self.output.append_stderr(text + "\n")
        return text

    def warn(self, text: str) -> None:
        """Show a warning line."""
        self.messages.append(f"warning: {text}")
        self.output.append_stderr(f"warning: {text}\n")

    def clear(self) -> None:
        """Remove the shown messages."""
        self.messages = []
        self.output.outputs = ()

    @contextlib.contextmanager
    def raising(self) -> Iterator[None]:
        """Show a user error raised inside the block here, then let it propagate.

        For public methods a notebook cell calls (``save``, ``export_raven``): the widget's
        error area explains the problem and the cell prints one line, not a traceback (see
        :func:`mark_shown`). Other exceptions (bugs) propagate untouched.
        """
        try:
            yield
        except _USER_ERRORS as exc:
            if not getattr(exc, "_woodcock_shown", False):
                self.report(exc)
                mark_shown(exc)
            raise

    def guard(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Wrap a callback so its exceptions are reported here instead of lost."""

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except Exception as exc:  # shown to the user; nothing is swallowed silently
                if not getattr(exc, "_woodcock_shown", False):
                    self.report(exc)
                return None

        return wrapper
