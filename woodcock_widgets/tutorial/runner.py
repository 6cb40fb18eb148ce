"""Run the tutorial's notebook chain with papermill, all stages into one run folder.

The chain is ``notebooks/01_get_data.ipynb`` … ``05_evaluate.ipynb``. Each notebook has one
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

import contextlib
import datetime as _dt
import difflib
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import TutorialError
from ..io_utils import atomic_write_json

__all__ = [
    "STAGES",
    "PRESETS",
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

#: The run's record, in the run folder.
RECORD_FILENAME = "tutorial.json"
_RECORD_FORMAT = 1
_LOCK_FILENAME = ".tutorial.lock"


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


#: The chain, in order.
STAGES: tuple[Stage, ...] = (
    Stage("01_get_data", ("clips.csv",)),
    Stage("02_inspect_and_relabel", ("labels.csv", "labels.json")),
    Stage("03_split", ("train.csv", "valid.csv", "balance.csv")),
    Stage(
        "04_train",
        (
            "training/config.json",
            "training/history.csv",
            "training/best.pt",
            "training/last.pt",
        ),
    ),
    Stage("05_evaluate", ("valid_predictions.csv", "predictions.csv", "raven")),
)

#: Named sets of parameter values; ``-p NAME VALUE`` overrides any of them.
#: ``default`` is the notebooks' own defaults (the class's run: 300 clips, 128x128 images,
#: 5 epochs from random weights); ``smoke`` is a tiny run (20 clips, 64x64 images, 2 epochs)
#: that checks the whole chain in about half a minute of CPU time.
PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "smoke": {
        "n_song": 8,
        "n_call": 4,
        "n_absent": 8,
        "image_size": 64,
        "epochs": 2,
        "batch_size": 8,
        "log_every": 1,
    },
}

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
_TYPE_WORDS = {
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "str": "text",
    "dict": 'a JSON object, e.g. \'{"song": "present"}\'',
    "list": "a JSON list, e.g. '[1, 2]'",
}


def notebooks_dir() -> Path:
    """The folder holding the chain's notebooks.

    Looks in the package (``woodcock_widgets/notebooks``, for installs that ship them) and in
    the source tree (``notebooks/`` beside the package).

    Raises
    ------
    TutorialError
        When neither holds the first notebook.
    """
    here = Path(__file__).resolve().parent
    candidates = (here / "notebooks",)
    for folder in candidates:
        if (folder / f"{STAGES[0].name}.ipynb").is_file():
            return folder
    raise TutorialError(
        "cannot find the tutorial notebooks (looked in "
        + " and ".join(str(c) for c in candidates)
        + "); run from a checkout of the woodcock_widgets repository"
    )


def declared_parameters(folder: str | os.PathLike | None = None) -> dict[str, dict[str, dict]]:
    """The parameters each notebook declares, as :func:`papermill.inspect_notebook` sees them.

    Parameters
    ----------
    folder : str or path-like, optional
        Where the notebooks are (default :func:`notebooks_dir`).

    Returns
    -------
    dict
        ``{stage name: {parameter name: {"name", "inferred_type_name", "default", "help"}}}``.

    Raises
    ------
    TutorialError
        When a notebook is missing or unreadable.
    """
    import papermill as pm

    folder = Path(folder) if folder is not None else notebooks_dir()
    out = {}
    for stage in STAGES:
        path = folder / f"{stage.name}.ipynb"
        if not path.is_file():
            raise TutorialError(f"notebook of stage {stage.name} not found: {path}")
        try:
            out[stage.name] = pm.inspect_notebook(str(path))
        except Exception as exc:  # nbformat and papermill raise many kinds here
            raise TutorialError(f"cannot read notebook {path}: {exc}") from exc
    return out


def parse_parameters(pairs: Iterable[Iterable[str]]) -> dict[str, str]:
    """Turn ``-p NAME VALUE`` pairs from the command line into a dict of strings.

    Values stay text here; :func:`run_tutorial` converts them to the types the notebooks
    declare.

    Parameters
    ----------
    pairs : iterable of (str, str)
        ``[["epochs", "3"], ["preset", "smoke"]]``.

    Returns
    -------
    dict of str to str

    Raises
    ------
    TutorialError
        For a malformed name or a parameter given twice.
    """
    out: dict[str, str] = {}
    for pair in pairs:
        pair = list(pair)
        if len(pair) != 2:
            raise TutorialError(f"a parameter needs a NAME and a VALUE, got {pair!r}")
        name, value = str(pair[0]).strip(), str(pair[1])
        if not _NAME.match(name):
            raise TutorialError(f"parameter name {name!r} is not a valid name")
        if name in out:
            raise TutorialError(f"parameter {name!r} is given twice ({out[name]!r} and {value!r})")
        out[name] = value
    return out


def _convert(name: str, type_name: str, value: Any) -> Any:
    """``value`` as ``type_name``; text is parsed, other values must already fit."""
    bad = TutorialError(
        f"parameter {name!r} must be {_TYPE_WORDS.get(type_name, type_name)}, got {value!r}"
    )
    if type_name == "str":
        if not isinstance(value, str):
            raise bad
        return value
    if type_name == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise bad
    if type_name == "int":
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
            return int(value)
        raise bad
    if type_name == "float":
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int | float):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                raise bad from None
        else:
            raise bad
        if not math.isfinite(number):
            raise bad
        return number
    if type_name in ("dict", "list"):
        kind = dict if type_name == "dict" else list
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise bad from None
        if not isinstance(value, kind):
            raise bad
        return value
    return value  # an undeclared type: passed on as given


def _parameter_types(declared: Mapping[str, Mapping[str, dict]]) -> dict[str, str]:
    """``{name: type}`` over all notebooks; a name must have one type everywhere."""
    types: dict[str, str] = {}
    for stage, params in declared.items():
        for name, info in params.items():
            t = info.get("inferred_type_name", "None")
            if types.setdefault(name, t) != t:
                raise TutorialError(
                    f"notebook {stage} declares parameter {name!r} as {t}, another as "
                    f"{types[name]}; fix the notebooks"
                )
    return types


def resolve_parameters(
    parameters: Mapping[str, Any] | None,
    declared: Mapping[str, Mapping[str, dict]],
) -> tuple[str, dict[str, Any]]:
    """Apply the preset, check every name and type, and return typed values.

    Parameters
    ----------
    parameters : mapping
        Name → value (text from the command line, or Python values). ``preset`` picks one
        of :data:`PRESETS`; the other names must be declared by some notebook.
    declared : mapping
        What :func:`declared_parameters` returns.

    Returns
    -------
    (str, dict)
        The preset name and the typed values to pass (preset values, then the given ones).

    Raises
    ------
    TutorialError
        For an unknown name (with the closest known one), a value of the wrong type, an
        unknown preset, or ``run_dir`` given as a parameter.
    """
    given = dict(parameters or {})
    preset = given.pop("preset", "default")
    if preset not in PRESETS:
        raise TutorialError(
            f"unknown preset {preset!r} for parameter 'preset'; choose one of "
            + ", ".join(repr(p) for p in PRESETS)
        )
    if "run_dir" in given:
        raise TutorialError(
            "parameter 'run_dir' is set by the run folder itself; use --run-dir (or the "
            "run_dir argument) instead of -p run_dir"
        )
    types = _parameter_types(declared)
    known = sorted(set(types) - {"run_dir"}) + ["preset"]
    for name in given:
        if name not in types:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise TutorialError(
                f"unknown parameter {name!r}{hint}; the notebooks take: " + ", ".join(known)
            )
    values = {**PRESETS[preset], **given}
    return preset, {name: _convert(name, types[name], v) for name, v in values.items()}


# --------------------------------------------------------------------------- the run record
def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _read_record(run_dir: Path) -> dict | None:
    path = run_dir / RECORD_FILENAME
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TutorialError(f"cannot read the run record {path}: {exc}") from exc
    if not isinstance(record, dict) or record.get("format") != _RECORD_FORMAT:
        raise TutorialError(f"{path} is not a tutorial run record this version can resume")
    return record


def _first_difference(old: Mapping, new: Mapping) -> str:
    def show(d: Mapping, name: str) -> str:
        return repr(d[name]) if name in d else "not given"

    for name in sorted(set(old) | set(new)):
        if show(old, name) != show(new, name):
            return f"parameter {name!r} was {show(old, name)} there, now {show(new, name)}"
    return "the parameters differ"


def _stage_parameters(stage: str, declared: Mapping, values: Mapping, run_dir: Path) -> dict:
    """What a stage gets: the given values it declares, and its own defaults for the rest."""
    params = declared[stage]
    given = {k: v for k, v in values.items() if k in params}
    if "run_dir" in params:
        given["run_dir"] = str(run_dir)
    defaults = {k: info["default"] for k, info in params.items() if k not in given}
    return {"given": given, "defaults": defaults}


def _missing_outputs(run_dir: Path, stage: Stage) -> list[str]:
    return [p for p in stage.outputs if not (run_dir / p).exists()]


@contextlib.contextmanager
def _lock(run_dir: Path):
    """Keep a second runner out of the folder while this one works in it."""
    path = run_dir / _LOCK_FILENAME
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
                    f"another tutorial run (process {pid}) is working in {run_dir}; wait for "
                    "it to end or choose another run folder"
                ) from None
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # left behind by a run that was killed
    else:
        raise TutorialError(f"cannot lock the run folder {run_dir}")
    try:
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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


def _check_folder(run_dir: Path, request: dict, resume: bool) -> dict:
    """The record to continue: a new one for an empty folder, else the folder's own."""
    record = _read_record(run_dir)
    if record is None:
        others = sorted(p.name for p in run_dir.iterdir() if p.name != _LOCK_FILENAME)
        if others:
            raise TutorialError(
                f"run folder {run_dir} is not empty ({', '.join(others[:3])}"
                f"{', ...' if len(others) > 3 else ''}) and holds no tutorial run "
                f"({RECORD_FILENAME} is missing); choose a new or empty folder"
            )
        return {"format": _RECORD_FORMAT, "request": request, "stages": {}}
    names = [s.name for s in STAGES]
    done = [n for n in names if record.get("stages", {}).get(n, {}).get("status") == "done"]
    summary = f"stages done: {', '.join(done) if done else 'none'}"
    if not resume:
        raise TutorialError(
            f"run folder {run_dir} already holds a tutorial run ({summary}); resume it "
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
            f"cannot resume the run in {run_dir} with other parameters ({diff}); "
            "use the same parameters, or choose another run folder"
        )
    record.setdefault("stages", {})
    return record


# --------------------------------------------------------------------------------- runner
def run_tutorial(
    run_dir: str | os.PathLike,
    parameters: Mapping[str, Any] | None = None,
    resume: bool = False,
    *,
    notebooks: str | os.PathLike | None = None,
    stop_after: str | None = None,
    log: Callable[[str], None] | None = print,
) -> dict:
    """Execute the notebook chain into ``run_dir``.

    Parameters
    ----------
    run_dir : str or path-like
        The run folder: new or empty for a new run, or a folder of an earlier run to resume.
    parameters : mapping, optional
        Name → value; ``preset`` (``default`` or ``smoke``) and any parameter a notebook
        declares. Text values (from the command line) are converted to the declared types.
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

    Returns
    -------
    dict
        The run record, as written to ``run_dir/tutorial.json``.

    Raises
    ------
    TutorialError
        Bad parameters, a folder that holds another run, or a failing stage (the message
        names the stage, the error and the executed notebook that shows it).
    """
    say = log or (lambda _line: None)
    echo = _Indented(sys.stdout) if log is not None else None
    folder = Path(notebooks) if notebooks is not None else notebooks_dir()
    declared = declared_parameters(folder)
    preset, values = resolve_parameters(parameters, declared)
    names = [s.name for s in STAGES]
    if stop_after is not None and stop_after not in names:
        raise TutorialError(f"unknown stage {stop_after!r}; stages are {', '.join(names)}")
    request = {
        "preset": preset,
        "parameters": {k: v for k, v in (parameters or {}).items() if k != "preset"},
    }
    # the request as typed values, so "3" and 3 compare equal on resume
    request["parameters"] = {k: values[k] for k in request["parameters"]}

    run_dir = Path(run_dir).expanduser().resolve()
    if run_dir.exists() and not run_dir.is_dir():
        raise TutorialError(f"run folder {run_dir} is a file, not a folder")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TutorialError(f"cannot create run folder {run_dir}: {exc}") from exc
    with _lock(run_dir):
        record = _check_folder(run_dir, request, resume)
        (run_dir / "notebooks").mkdir(exist_ok=True)
        rerun_rest = False
        say(f"tutorial run in {run_dir} (preset {preset})")
        for k, stage in enumerate(STAGES, start=1):
            tag = f"[{k}/{len(STAGES)}] {stage.name}"
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
                if not _missing_outputs(run_dir, stage):
                    say(f"{tag}: already done, skipped")
                    if stage.name == stop_after:
                        break
                    continue
            rerun_rest = True
            nb_in = folder / f"{stage.name}.ipynb"
            nb_out = run_dir / "notebooks" / f"{stage.name}.ipynb"
            entry = {
                "status": "running",
                "parameters": stage_params,
                "notebook": str(nb_out.relative_to(run_dir)),
                "started": _now(),
            }
            record["stages"][stage.name] = entry
            atomic_write_json(run_dir / RECORD_FILENAME, record)
            say(f"{tag}: running")
            t0 = time.perf_counter()
            try:
                _execute(nb_in, nb_out, stage_params["given"], run_dir, echo)
                missing = _missing_outputs(run_dir, stage)
                if missing:
                    raise TutorialError(
                        f"the notebook finished but did not write {', '.join(missing)}"
                    )
            except BaseException as exc:
                entry.update(
                    status="failed",
                    error=_describe_failure(exc),
                    finished=_now(),
                    seconds=round(time.perf_counter() - t0, 1),
                )
                atomic_write_json(run_dir / RECORD_FILENAME, record)
                if isinstance(exc, KeyboardInterrupt):
                    raise
                raise TutorialError(
                    f"stage {stage.name} failed: {entry['error']} (the executed notebook "
                    f"{nb_out} shows where)"
                ) from exc
            entry.update(status="done", finished=_now(), seconds=round(time.perf_counter() - t0, 1))
            atomic_write_json(run_dir / RECORD_FILENAME, record)
            say(f"{tag}: done in {entry['seconds']:.1f} s")
            if stage.name == stop_after:
                break
        if stop_after is None or stop_after == names[-1]:
            say(f"the run's report (executed notebooks) is in {run_dir / 'notebooks'}")
    return record
