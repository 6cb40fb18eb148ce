"""The original tutorial's three functions, so its first cell runs with this package's name.

The tutorial imports ``run_command``, ``binary_train_valid_split`` and ``train`` (and the
classes ``Audio``, ``Spectrogram`` and ``SingleTargetAudioDataset``); all six are importable
from ``woodcock_widgets``::

    from woodcock_widgets import run_command, binary_train_valid_split, train
"""

from __future__ import annotations

import shlex
import subprocess

import pandas as pd

from ..errors import LabelError, SplitError, WoodcockError
from ..ml.training import train
from ..tables.labeled import CODE_COLUMN

__all__ = ["run_command", "binary_train_valid_split", "train"]


def run_command(cmd: str) -> str:
    """Run a command typed as one string, without a shell, and return what it printed.

    The string is split into arguments as a shell would split words (``shlex.split``), but no
    shell runs: pipes, redirections, ``;``, ``$VARIABLES`` and wildcards are passed to the
    program as plain text, never interpreted.

    Parameters
    ----------
    cmd : str
        The command, e.g. ``"tar -xzf woodcock_labeled_data.tar.gz"``.

    Returns
    -------
    str
        Its standard output.

    Raises
    ------
    WoodcockError
        An empty command, a program that cannot be found, or a non-zero exit (the message
        holds the command's error output).
    """
    try:
        args = shlex.split(cmd)
    except ValueError as exc:
        raise WoodcockError(f"cannot read the command {cmd!r}: {exc}") from exc
    if not args:
        raise WoodcockError("empty command")
    try:
        done = subprocess.run(args, shell=False, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise WoodcockError(f"cannot run {args[0]!r}: {exc.strerror or exc}") from exc
    if done.returncode != 0:
        err = done.stderr.strip() or done.stdout.strip() or "(no error output)"
        raise WoodcockError(f"command {cmd!r} failed with exit status {done.returncode}: {err}")
    return done.stdout


def binary_train_valid_split(
    input_df: pd.DataFrame,
    label: object,
    label_column: str = "Labels",
    train_size: float = 0.8,
    random_state: int = 101,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a table for a one-class detector: ``label`` against everything else.

    Rows whose ``label_column`` equals ``label`` are positive (code 1), all others negative
    (code 0); the codes go in a ``NumericLabels`` column, and the split is stratified on them,
    so both parts keep the share of positives.

    Parameters
    ----------
    input_df : pandas.DataFrame
        The label table (not changed).
    label : object
        The positive value of ``label_column``.
    label_column : str
        The column holding the labels.
    train_size : float
        Share of rows in the training part (between 0 and 1).
    random_state : int
        Seed of the split.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        ``train_df, valid_df``, each with the ``NumericLabels`` column.

    Raises
    ------
    LabelError
        ``label_column`` is missing.
    SplitError
        A bad ``train_size``, or too few positive or negative rows to put some in both parts.
    """
    from sklearn.model_selection import train_test_split

    if label_column not in input_df.columns:
        raise LabelError(
            f"no column {label_column!r} in the table; its columns are {list(input_df.columns)}"
        )
    if not 0.0 < float(train_size) < 1.0:
        raise SplitError(f"train_size must be between 0 and 1, got {train_size}")
    df = input_df.copy()
    df[CODE_COLUMN] = (df[label_column] == label).astype(int)
    counts = df[CODE_COLUMN].value_counts()
    for code, name in ((1, f"{label!r}"), (0, f"other than {label!r}")):
        if counts.get(code, 0) < 2:
            raise SplitError(
                f"{counts.get(code, 0)} row(s) with {label_column} {name}: a stratified split "
                "needs at least 2 (one for each part)"
            )
    try:
        train_df, valid_df = train_test_split(
            df, train_size=train_size, random_state=random_state, stratify=df[CODE_COLUMN]
        )
    except ValueError as exc:  # e.g. a part too small to hold both classes
        raise SplitError(
            f"cannot split {len(df)} rows with train_size {train_size}: {exc}"
        ) from exc
    return train_df, valid_df
