"""The tutorial's parameters: what each notebook declares, presets, and typed values.

Each notebook has one cell tagged ``parameters`` (``epochs: int = 5  # passes over the
training clips``); :func:`resolve_parameters` checks asked values against those declarations
(name and type) and converts text from the command line to the declared types.

There are two notebook chains (:data:`CHAINS`): ``classroom``, the tutorial on built-in data
(the default), and ``own-recordings``, from a user's annotation tables and recordings to a
model and its detections (:mod:`woodcock_widgets.tutorial.own_recordings`). Each has its
notebooks folder, stages, presets, and the parameters it cannot run without.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import TutorialError
from . import own_recordings
from .tutorial_run import CLASSROOM, Stage, TutorialRun

__all__ = [
    "PRESETS",
    "Chain",
    "CHAINS",
    "get_chain",
    "notebooks_dir",
    "declared_parameters",
    "parse_parameters",
    "resolve_parameters",
]

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


@dataclass(frozen=True)
class Chain:
    """One notebook chain.

    Attributes
    ----------
    name : str
        What ``--chain`` takes.
    run_class : type
        The tutorial-run object of its run folders (it knows the stages and their files).
    folder : str
        Its notebooks' folder inside the package's ``notebooks/`` ("" for that folder).
    presets : mapping
        Preset name → parameter values.
    required : tuple of str
        Parameters that must be given (by ``-p`` or a preset) and not be empty.
    """

    name: str
    run_class: type[TutorialRun]
    folder: str
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    required: tuple[str, ...] = ()

    @property
    def stages(self) -> tuple[Stage, ...]:
        """The stages, in order."""
        return self.run_class.stages


#: The notebook chains, by name; the first is the default.
CHAINS: dict[str, Chain] = {
    CLASSROOM: Chain(CLASSROOM, TutorialRun, "", PRESETS),
    own_recordings.CHAIN: Chain(
        own_recordings.CHAIN,
        own_recordings.OwnRecordingsRun,
        own_recordings.NOTEBOOKS_FOLDER,
        own_recordings.PRESETS,
        own_recordings.REQUIRED,
    ),
}


def get_chain(chain: str | Chain = CLASSROOM) -> Chain:
    """The chain of that name.

    Raises
    ------
    TutorialError
        An unknown name (the message lists the chains).
    """
    if isinstance(chain, Chain):
        return chain
    if chain not in CHAINS:
        raise TutorialError(
            f"unknown chain {chain!r}; choose one of " + ", ".join(repr(c) for c in CHAINS)
        )
    return CHAINS[chain]


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


def notebooks_dir(chain: str | Chain = CLASSROOM) -> Path:
    """The folder holding a chain's notebooks (package data of ``woodcock_widgets.tutorial``).

    Raises
    ------
    TutorialError
        An unknown chain, or a folder without the chain's first notebook.
    """
    chain = get_chain(chain)
    here = Path(__file__).resolve().parent
    candidates = (here / "notebooks" / chain.folder,)
    for folder in candidates:
        if (folder / f"{chain.stages[0].name}.ipynb").is_file():
            return folder
    raise TutorialError(
        "cannot find the tutorial notebooks (looked in "
        + " and ".join(str(c) for c in candidates)
        + "); run from a checkout of the woodcock_widgets repository"
    )


def declared_parameters(
    folder: str | os.PathLike | None = None, chain: str | Chain = CLASSROOM
) -> dict[str, dict[str, dict]]:
    """The parameters each notebook declares, as :func:`papermill.inspect_notebook` sees them.

    Parameters
    ----------
    folder : str or path-like, optional
        Where the notebooks are (default :func:`notebooks_dir` of the chain).
    chain : str or Chain
        Which chain's notebooks (default ``classroom``).

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

    chain = get_chain(chain)
    folder = Path(folder) if folder is not None else notebooks_dir(chain)
    out = {}
    for stage in chain.stages:
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
    chain: str | Chain = CLASSROOM,
) -> tuple[str, dict[str, Any]]:
    """Apply the preset, check every name and type, and return typed values.

    Parameters
    ----------
    parameters : mapping
        Name → value (text from the command line, or Python values). ``preset`` picks one
        of :data:`PRESETS`; the other names must be declared by some notebook.
    declared : mapping
        What :func:`declared_parameters` returns.
    chain : str or Chain
        The chain (its presets and required parameters; default ``classroom``).

    Returns
    -------
    (str, dict)
        The preset name and the typed values to pass (preset values, then the given ones).

    Raises
    ------
    TutorialError
        For an unknown name (with the closest known one), a value of the wrong type, an
        unknown preset, ``run_dir`` given as a parameter, or a required parameter of the
        chain that is missing or empty.
    """
    chain = get_chain(chain)
    presets = chain.presets
    given = dict(parameters or {})
    preset = given.pop("preset", "default")
    if preset not in presets:
        raise TutorialError(
            f"unknown preset {preset!r} for parameter 'preset'; choose one of "
            + ", ".join(repr(p) for p in presets)
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
    values = {**presets[preset], **given}
    values = {name: _convert(name, types[name], v) for name, v in values.items()}
    for name in chain.required:
        if not str(values.get(name, "")).strip():
            helps = [p[name].get("help", "") for p in declared.values() if name in p]
            what = f" ({helps[0].strip()})" if helps and helps[0].strip() else ""
            raise TutorialError(
                f"the {chain.name} chain needs parameter {name!r}{what}; give it with "
                f"-p {name} VALUE"
            )
    return preset, values
