"""Label corrections found while reviewing a model, kept apart from the label table.

A corrections CSV has two columns, ``filename`` and the class column (e.g.
``filename,woodcock_song``), one row per relabeled clip, the latest fix of a clip winning.
Paths are stored relative to the folder holding the CSV (the run folder), so the folder can
be moved or shared; :func:`apply_corrections` reads them back against that folder.

The review widget writes it (:func:`add_correction`, :func:`write_corrections`); the next
training applies it (:func:`apply_corrections`) and says how many labels changed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ..errors import LabelError
from .labeled import CODE_COLUMN
from .labels import save_labels

__all__ = [
    "read_corrections",
    "add_correction",
    "write_corrections",
    "apply_corrections",
    "correct_labels",
    "stored_path",
]

# a path needing more ".." than this is stored absolute: it is not "beside the run"
_MAX_UP = 2


def _normal(path: str | os.PathLike, base: str | os.PathLike | None = None) -> str:
    p = Path(path).expanduser()
    if not p.is_absolute() and base is not None:
        p = Path(base) / p
    return os.path.normcase(os.path.normpath(os.path.abspath(p)))


def stored_path(filename: str | os.PathLike, folder: str | os.PathLike) -> str:
    """How a corrections CSV in ``folder`` names ``filename``: relative when it is nearby.

    ``/runs/t/data/a.wav`` in ``/runs/t`` is ``data/a.wav``; a file far away stays absolute.
    Always with ``/`` separators.
    """
    absolute = _normal(filename)
    try:
        rel = os.path.relpath(absolute, _normal(folder))
    except ValueError:  # another drive (Windows)
        return Path(absolute).as_posix()
    if Path(rel).parts[: _MAX_UP + 1].count("..") > _MAX_UP:
        return Path(absolute).as_posix()
    return Path(rel).as_posix()


def read_corrections(
    path: str | os.PathLike, label_column: str | None = None, filename_column: str = "filename"
) -> pd.DataFrame:
    """Read a corrections CSV as written (paths as stored); a missing file gives an empty one.

    Parameters
    ----------
    path : path
        The CSV.
    label_column : str, optional
        The class column; default: the CSV's column that is not ``filename_column``.
    filename_column : str
        The path column.

    Raises
    ------
    LabelError
        The file lacks one of the two columns (or, without ``label_column``, has no
        single other column).
    """
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(
            {filename_column: pd.Series(dtype=str), label_column or "label": pd.Series(dtype=str)}
        )
    table = pd.read_csv(path, encoding="utf-8-sig")
    if label_column is None:
        others = [c for c in table.columns if c != filename_column]
        if len(others) != 1:
            raise LabelError(
                f"corrections table {path} must have {filename_column!r} and one class "
                f"column; it has {list(table.columns)}"
            )
        label_column = others[0]
    missing = [c for c in (filename_column, label_column) if c not in table.columns]
    if missing:
        raise LabelError(f"corrections table {path} is missing column(s) {missing}")
    return table[[filename_column, label_column]]


def add_correction(
    corrections: pd.DataFrame,
    filename: str,
    value: object,
    label_column: str,
    filename_column: str = "filename",
) -> pd.DataFrame:
    """A copy of ``corrections`` with ``filename`` relabeled ``value`` (a later fix wins).

    ``filename`` is compared as written: store it with :func:`stored_path` first.
    """
    keep = corrections[corrections[filename_column].astype(str) != str(filename)]
    row = pd.DataFrame({filename_column: [str(filename)], label_column: [value]})
    return pd.concat([keep, row], ignore_index=True) if len(keep) else row


def write_corrections(
    corrections: pd.DataFrame,
    path: str | os.PathLike,
    source: str | os.PathLike | None = None,
) -> Path:
    """Write the corrections CSV atomically; never over the label table ``source``."""
    return save_labels(corrections, path, source=source)


def apply_corrections(
    table: pd.DataFrame,
    corrections_csv: str | os.PathLike,
    *,
    label_column: str | None = None,
    filename_column: str = "filename",
    table_dir: str | os.PathLike | None = None,
) -> tuple[pd.DataFrame, int]:
    """Apply a corrections CSV to a label table; return the corrected copy and the changes.

    Parameters
    ----------
    table : pandas.DataFrame
        A label table (e.g. a run's training or validation clips), not modified.
    corrections_csv : path
        The corrections CSV; its relative paths are read against its own folder. A missing
        file changes nothing.
    label_column : str, optional
        The class column to correct; default: the corrections CSV's class column.
    filename_column : str
        The path column of both tables.
    table_dir : path, optional
        Folder that relative paths *in the table* are relative to (default: the working
        folder; tables read with :func:`~woodcock_widgets.tables.labels.read_labels` hold
        absolute paths).

    Returns
    -------
    (pandas.DataFrame, int)
        The corrected copy, and how many rows got another label. Corrections of clips that
        are not in ``table`` are skipped (a review of the validation clips names none of
        the training clips). Where the table has integer codes (``NumericLabels``) they
        follow the new labels.

    Raises
    ------
    LabelError
        The table lacks the class column, or a correction names a class the table does
        not have (with the classes it has).
    """
    path = Path(corrections_csv)
    if not path.is_file():
        return table.copy(), 0
    fixes = read_corrections(path, label_column, filename_column)
    label_column = label_column or next(c for c in fixes.columns if c != filename_column)
    return correct_labels(
        table, fixes, label_column, filename_column, table_dir, path.parent, source=str(path)
    )


def correct_labels(
    table: pd.DataFrame,
    fixes: pd.DataFrame,
    label_column: str,
    filename_column: str = "filename",
    table_dir: str | os.PathLike | None = None,
    fixes_dir: str | os.PathLike | None = None,
    *,
    unknown: str = "skip",
    source: str = "the corrections",
) -> tuple[pd.DataFrame, int]:
    """Apply corrections rows (``filename_column, label_column``) to a copy of ``table``.

    The one implementation behind :func:`apply_corrections` (a CSV) and
    :func:`woodcock_widgets.tables.labels.apply_corrections` (a DataFrame). Paths are
    compared normalised, relative ones against ``table_dir`` / ``fixes_dir`` (default: the
    working folder). Where the table has integer codes (``NumericLabels``) they follow the
    new labels, and a label that is not one of the table's classes is refused.

    Parameters
    ----------
    table : pandas.DataFrame
        The label table, not modified.
    fixes : pandas.DataFrame
        The corrections (a later row of a file wins).
    label_column, filename_column : str
        The class column to correct, and the path column of both tables.
    table_dir, fixes_dir : path, optional
        What relative paths in ``table`` and in ``fixes`` are relative to.
    unknown : {"skip", "raise"}
        What a correction of a file the table does not hold does.
    source : str
        How error messages name the corrections.

    Returns
    -------
    (pandas.DataFrame, int)
        The corrected copy, and how many rows got another label.

    Raises
    ------
    LabelError
        A missing column, an unknown file (``unknown="raise"``), an unknown class.
    """
    for column in (filename_column, label_column):
        if column not in table.columns:
            raise LabelError(
                f"label table has no column {column!r} to correct; it has {list(table.columns)}"
            )
    out = table.copy()
    codes: dict[str, int] = {}
    if CODE_COLUMN in out.columns and label_column != CODE_COLUMN:
        pairs = out[[label_column, CODE_COLUMN]].drop_duplicates()
        codes = {str(v).strip(): int(c) for v, c in zip(pairs[label_column], pairs[CODE_COLUMN])}
    position = {_normal(f, table_dir): k for k, f in enumerate(out[filename_column].astype(str))}
    names = fixes[filename_column].astype(str)
    if unknown == "raise":
        missing = [n for n in names if _normal(n, fixes_dir) not in position]
        if missing:
            raise LabelError(f"corrections name file(s) not in the label table: {missing[:3]}")
    label_at = out.columns.get_loc(label_column)
    code_at = out.columns.get_loc(CODE_COLUMN) if codes else None
    known = sorted(codes) if codes else None
    changed = 0
    for name, value in zip(names, fixes[label_column]):
        k = position.get(_normal(name, fixes_dir))
        if k is None:
            continue
        text = str(value).strip()
        if known is not None and text not in codes:
            raise LabelError(
                f"{source} relabels {name} as {text!r}, which is not a class of the table "
                f"(classes: {known})"
            )
        if str(out.iat[k, label_at]).strip() != text:
            changed += 1
        out.iat[k, label_at] = value if known is None else text
        if code_at is not None:
            out.iat[k, code_at] = codes[text]
    return out, changed
