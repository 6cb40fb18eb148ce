"""Run a notebook chain of the tutorial with papermill, all stages into one run folder.

The default chain (``classroom``) is ``notebooks/01_get_data.ipynb`` … ``05_evaluate.ipynb``;
``own-recordings`` is ``notebooks/own_recordings/01_annotations_to_windows.ipynb`` …
``04_predict.ipynb`` (see :data:`~woodcock_widgets.tutorial.parameters.CHAINS`). Each notebook
has one
cell tagged ``parameters`` (``epochs: int = 5  # passes over the training clips``); each reads
what the previous one wrote in the run folder and writes its own outputs there. The runner

* checks the asked parameters against what the notebooks declare (name and type),
* executes the stages in order and keeps the executed notebooks in ``RUN_DIR/notebooks/``,
* records every stage in ``RUN_DIR/tutorial.json``,
* stops at the first failing stage with a :class:`~woodcock_widgets.errors.TutorialError`
  naming the stage and the error,
* and, asked to resume, skips the stages already done with the same parameters. A folder
  holding another run (other parameters, or no ``resume``) is refused, so two runs are
  never mixed.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..errors import TutorialError
from .parameters import (
    CHAINS,
    PRESETS,
    declared_parameters,
    get_chain,
    notebooks_dir,
    parse_parameters,
    resolve_parameters,
)
from .tutorial_run import CLASSROOM, RECORD_FILENAME, STAGES, Stage

__all__ = [
    "STAGES",
    "PRESETS",
    "CHAINS",
    "RECORD_FILENAME",
    "Stage",
    "notebooks_dir",
    "declared_parameters",
    "parse_parameters",
    "resolve_parameters",
    "run_tutorial",
]

#: The kernel every stage runs in (``make venv`` installs it into the venv).
KERNEL_NAME = "python3"


def _stage_parameters(stage: str, declared: Mapping, values: Mapping, run_dir: Path) -> dict:
    """What a stage gets: the given values it declares, and its own defaults for the rest."""
    params = declared[stage]
    given = {k: v for k, v in values.items() if k in params}
    if "run_dir" in params:
        given["run_dir"] = str(run_dir)
    defaults = {k: info["default"] for k, info in params.items() if k not in given}
    return {"given": given, "defaults": defaults}


class _Indented:
    """A text stream that prefixes every line (the notebooks' printed output)."""

    def __init__(self, stream, prefix: str = "    ") -> None:
        self.stream = stream
        self.prefix = prefix
        self._at_line_start = True

    def write(self, text: str) -> int:
        for piece in text.splitlines(keepends=True):
            if self._at_line_start:
                self.stream.write(self.prefix)
            self.stream.write(piece)
            self._at_line_start = piece.endswith("\n")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def _describe_failure(exc: BaseException) -> str:
    """One line for what went wrong in a stage."""
    ename = getattr(exc, "ename", None)
    if ename:  # papermill's PapermillExecutionError: the error raised inside the notebook
        evalue = str(getattr(exc, "evalue", "")).strip().splitlines()
        return f"{ename}: {evalue[0]}" if evalue else ename
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _execute(nb_in: Path, nb_out: Path, parameters: dict, cwd: Path, echo) -> None:
    import papermill as pm
    from jupyter_client.kernelspec import NoSuchKernel

    try:
        pm.execute_notebook(
            str(nb_in),
            str(nb_out),
            parameters=parameters,
            kernel_name=KERNEL_NAME,
            language="python",
            cwd=str(cwd),
            progress_bar=False,
            stdout_file=echo,
            request_save_on_cell_execute=True,
            # the kernel's own log is noise here: its note on unencrypted local sockets, and
            # the KeyboardInterrupt that jupyter_client sends before every shutdown
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
        )
    except NoSuchKernel as exc:
        raise TutorialError(
            f"the Jupyter kernel {KERNEL_NAME!r} is not installed; run "
            f"`{sys.executable} -m ipykernel install --sys-prefix --name {KERNEL_NAME}` "
            "(make venv does this)"
        ) from exc
    _trust(nb_out)


def _trust(nb_path: Path) -> None:
    """Mark an executed notebook as trusted by this user, so its saved widgets show.

    papermill saves the widgets' state in the notebook, but JupyterLab draws widget outputs
    only for trusted notebooks; one this user's own run produced is trusted like one they
    ran by hand.
    """
    import nbformat
    from nbformat.sign import NotebookNotary

    NotebookNotary().sign(nbformat.read(str(nb_path), as_version=4))


# --------------------------------------------------------------------------------- runner
def run_tutorial(
    run_dir: str | os.PathLike,
    parameters: Mapping[str, Any] | None = None,
    resume: bool = False,
    *,
    notebooks: str | os.PathLike | None = None,
    stop_after: str | None = None,
    log: Callable[[str], None] | None = print,
    chain: str = CLASSROOM,
) -> dict:
    """Execute the notebook chain into ``run_dir``.

    Parameters
    ----------
    run_dir : str or path-like
        The run folder: new or empty for a new run, or a folder of an earlier run to resume.
    parameters : mapping, optional
        Name → value; ``preset`` (``default`` or ``smoke``) and any parameter a notebook
        declares. Text values (from the command line) are converted to the declared types.
        A chain's required parameters (``own-recordings``: ``audio_dir`` and
        ``annotations``) must be given.
    resume : bool
        Continue the run already in ``run_dir``: stages done with the same parameters are
        skipped, the rest are run. Without it, a folder that holds a run is refused.
    notebooks : str or path-like, optional
        Folder of the notebooks (default :func:`notebooks_dir`).
    stop_after : str, optional
        Name of the last stage to run (default: the whole chain); a later resume continues.
    log : callable, optional
        Receives progress lines, and the notebooks' printed output is echoed to stdout;
        ``None`` keeps quiet.
    chain : str
        The notebook chain: ``classroom`` (default) or ``own-recordings``. A run folder
        holds one chain's run.

    Returns
    -------
    dict
        The run record, as written to ``run_dir/tutorial.json``.

    Raises
    ------
    TutorialError
        An unknown chain, bad or missing parameters, a folder that holds another run, or a
        failing stage (the message names the stage, the error and the executed notebook that
        shows it).
    """
    say = log or (lambda _line: None)
    echo = _Indented(sys.stdout) if log is not None else None
    chain_ = get_chain(chain)
    folder = Path(notebooks) if notebooks is not None else notebooks_dir(chain_)
    declared = declared_parameters(folder, chain_)
    preset, values = resolve_parameters(parameters, declared, chain_)
    stages = chain_.stages
    names = [s.name for s in stages]
    if stop_after is not None and stop_after not in names:
        raise TutorialError(f"unknown stage {stop_after!r}; stages are {', '.join(names)}")
    request = {
        "preset": preset,
        "parameters": {k: v for k, v in (parameters or {}).items() if k != "preset"},
    }
    # the request as typed values, so "3" and 3 compare equal on resume
    request["parameters"] = {k: values[k] for k in request["parameters"]}
    if chain_.name != CLASSROOM:  # records of the default chain name none
        request["chain"] = chain_.name

    run_dir = Path(run_dir).expanduser().resolve()
    if run_dir.exists() and not run_dir.is_dir():
        raise TutorialError(f"run folder {run_dir} is a file, not a folder")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TutorialError(f"cannot create run folder {run_dir}: {exc}") from exc
    run = chain_.run_class(run_dir)
    with run.lock():
        record = run.check(request, resume)
        run.notebooks_dir.mkdir(exist_ok=True)
        rerun_rest = False
        which = f"chain {chain_.name}, " if chain_.name != CLASSROOM else ""
        say(f"tutorial run in {run_dir} ({which}preset {preset})")
        for k, stage in enumerate(stages, start=1):
            tag = f"[{k}/{len(stages)}] {stage.name}"
            stage_params = json.loads(
                json.dumps(_stage_parameters(stage.name, declared, values, run_dir))
            )
            prev = record["stages"].get(stage.name)
            if prev and prev.get("status") == "done" and not rerun_rest:
                if prev.get("parameters") != stage_params:
                    raise TutorialError(
                        f"cannot resume the run in {run_dir}: the notebook of stage {stage.name} "
                        "now declares other parameters or defaults than when it ran; "
                        "choose another run folder"
                    )
                if not run.missing_outputs(stage):
                    say(f"{tag}: already done, skipped")
                    if stage.name == stop_after:
                        break
                    continue
            rerun_rest = True
            nb_in = folder / f"{stage.name}.ipynb"
            nb_out = run.executed_notebook(stage)
            entry = run.stage_started(record, stage, stage_params)
            say(f"{tag}: running")
            t0 = time.perf_counter()
            try:
                _execute(nb_in, nb_out, stage_params["given"], run_dir, echo)
                missing = run.missing_outputs(stage)
                if missing:
                    raise TutorialError(
                        f"the notebook finished but did not write {', '.join(missing)}"
                    )
            except BaseException as exc:
                run.stage_ended(
                    record,
                    entry,
                    time.perf_counter() - t0,
                    status="failed",
                    error=_describe_failure(exc),
                )
                if isinstance(exc, KeyboardInterrupt):
                    raise
                raise TutorialError(
                    f"stage {stage.name} failed: {entry['error']} (the executed notebook "
                    f"{nb_out} shows where)"
                ) from exc
            run.stage_ended(record, entry, time.perf_counter() - t0, status="done")
            say(f"{tag}: done in {entry['seconds']:.1f} s")
            if stage.name == stop_after:
                break
        if stop_after is None or stop_after == names[-1]:
            say(f"the run's report (executed notebooks) is in {run.notebooks_dir}")
    return record
