"""Label tables: read and validate, resolve audio paths, remap values, numeric codes."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import LabelError
from ..io_utils import atomic_write_csv, remove_temp_files

__all__ = [
    "LabelMap",
    "read_labels",
    "resolve_paths",
    "remap_labels",
    "numeric_labels",
    "check_label_column",
    "save_labels",
    "apply_corrections",
]

# a temporary file this old beside a label table is a dead save's, not one in progress
STALE_TEMP_SECONDS = 60.0


def _rows(index: Sequence, limit: int = 5) -> str:
    """Name table rows by their index labels (0-based, as pandas shows them)."""
    items = [str(i) for i in list(index)[:limit]]
    more = f" and {len(index) - limit} more" if len(index) > limit else ""
    return ", ".join(items) + more


def read_labels(
    path: str | os.PathLike,
    required_columns: Sequence[str] = ("filename",),
    filename_column: str = "filename",
    root: str | os.PathLike | None = None,
    check_files: bool = True,
) -> pd.DataFrame:
    """Read a label CSV, validate it and resolve its audio paths.

    Parameters
    ----------
    path : str or path-like
        The CSV (comma-separated; a UTF-8 BOM and Windows line endings are fine).
    required_columns : sequence of str
        Columns that must be present.
    filename_column : str
        The column holding audio file names.
    root : str or path-like, optional
        Folder that relative file names are relative to; default: the CSV's folder.
    check_files : bool
        Raise when a listed audio file does not exist.

    Returns
    -------
    pandas.DataFrame
        The table with ``filename_column`` replaced by absolute paths.

    Raises
    ------
    LabelError
        Missing or empty file, wrong delimiter, missing columns, duplicate or empty file
        names, or files that do not exist; the message names the file, column and rows.
    """
    path = Path(path)
    if not path.exists():
        raise LabelError(f"label table not found: {path}")
    if path.is_dir():
        raise LabelError(f"expected a label CSV but found a folder: {path}")
    try:
        df = pd.read_csv(path, encoding="utf-8-sig", skipinitialspace=True)
    except pd.errors.EmptyDataError as exc:
        raise LabelError(f"label table is empty: {path}") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise LabelError(f"cannot parse label table {path}: {exc}") from exc
    if not isinstance(df.index, pd.RangeIndex):
        # pandas turns the leading fields into an index when every row is longer than the header
        raise LabelError(
            f"label table {path}: the rows have more fields than the header's "
            f"{len(df.columns)} column(s) {list(df.columns)}; check the delimiter and quoting"
        )
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in required_columns if c not in df.columns]
    if filename_column not in df.columns and filename_column not in missing:
        missing.insert(0, filename_column)
    if missing:
        hint = ""
        if len(df.columns) == 1 and any(sep in df.columns[0] for sep in (";", "\t", "|")):
            hint = " (the file looks like it uses another delimiter than ','; save it as CSV)"
        raise LabelError(
            f"label table {path} is missing column(s) {missing}; it has {list(df.columns)}{hint}"
        )
    if df.empty:
        raise LabelError(f"label table has a header but no rows: {path}")
    return resolve_paths(
        df,
        root if root is not None else path.parent,
        filename_column,
        check_files=check_files,
        source=str(path),
    )


def resolve_paths(
    df: pd.DataFrame,
    root: str | os.PathLike,
    filename_column: str = "filename",
    check_files: bool = True,
    source: str = "label table",
) -> pd.DataFrame:
    """Return a copy with relative file names joined to ``root`` (absolute ones kept).

    Raises
    ------
    LabelError
        Empty or duplicate file names, or (with ``check_files``) files that do not exist.
    """
    if filename_column not in df.columns:
        raise LabelError(f"{source} has no column {filename_column!r}; it has {list(df.columns)}")
    names = df[filename_column]
    empty = df.index[names.isna() | (names.astype(str).str.strip() == "")]
    if len(empty):
        raise LabelError(f"{source}: empty {filename_column!r} in row(s) {_rows(empty)}")
    root = Path(root)
    resolved = [str((root / str(n).strip()).resolve()) for n in names]
    out = df.copy()
    out[filename_column] = resolved
    dup = out.index[out[filename_column].duplicated(keep=False)]
    if len(dup):
        raise LabelError(
            f"{source}: the same file is listed more than once in column {filename_column!r}, "
            f"row(s) {_rows(dup)} (e.g. {out.loc[dup[0], filename_column]})"
        )
    if check_files:
        absent = [i for i, p in zip(out.index, resolved) if not os.path.isfile(p)]
        if absent:
            raise LabelError(
                f"{source}: {len(absent)} audio file(s) not found, row(s) {_rows(absent)}; "
                f"first: {out.loc[absent[0], filename_column]}"
            )
    return out


def check_label_column(df: pd.DataFrame, column: str, source: str = "label table") -> None:
    """Raise :class:`LabelError` if ``column`` is missing or has empty/NaN values."""
    if column not in df.columns:
        raise LabelError(f"{source} has no column {column!r}; it has {list(df.columns)}")
    values = df[column]
    empty = df.index[values.isna() | (values.astype(str).str.strip() == "")]
    if len(empty):
        raise LabelError(
            f"{source}: empty or NaN value in column {column!r}, row(s) {_rows(empty)}"
        )


def remap_labels(
    df: pd.DataFrame,
    source_column: str,
    mapping: Mapping[object, object],
    new_column: str | None = None,
    unmapped: str = "error",
) -> pd.DataFrame:
    """Map each value of ``source_column`` to a class and store it in ``new_column``.

    Parameters
    ----------
    df : pandas.DataFrame
        The label table.
    source_column : str
        Column whose values are mapped (e.g. ``sound_type``).
    mapping : mapping
        Value → class, e.g. ``{"song": "present", "call": "absent", "na": "absent"}``.
    new_column : str, optional
        Where the classes go (default: overwrite nothing, use ``f"{source_column}_class"``).
    unmapped : {"error", "keep"}
        What to do with values the mapping does not cover: raise naming them, or keep them.

    Returns
    -------
    pandas.DataFrame
        A copy with the new column; the input is not changed.
    """
    check_label_column(df, source_column)
    if unmapped not in ("error", "keep"):
        raise ValueError(f"unmapped must be 'error' or 'keep', got {unmapped!r}")
    new_column = new_column or f"{source_column}_class"
    str_map = {str(k): v for k, v in mapping.items()}
    values = df[source_column].astype(str).str.strip()
    missing = sorted(set(values) - set(str_map))
    if missing and unmapped == "error":
        rows = df.index[values.isin(missing)]
        raise LabelError(
            f"column {source_column!r} has value(s) {missing} that the mapping does not cover "
            f"(row(s) {_rows(rows)}); add them to the mapping"
        )
    out = df.copy()
    out[new_column] = [str_map.get(v, v) for v in values]
    return out


@dataclass(frozen=True)
class LabelMap:
    """Class names in code order: code ``i`` is ``classes[i]``.

    Parameters
    ----------
    classes : tuple of str
        The class names.
    """

    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        classes = tuple(str(c) for c in self.classes)
        if len(classes) < 1:
            raise LabelError("a label map needs at least one class")
        if len(set(classes)) != len(classes):
            raise LabelError(f"class names must be unique, got {list(classes)}")
        object.__setattr__(self, "classes", classes)

    @classmethod
    def from_label_dict(cls, label_dict: Mapping[int, str]) -> LabelMap:
        """Build from ``{0: "name0", 1: "name1"}`` (codes must be 0..n-1)."""
        codes = sorted(int(k) for k in label_dict)
        if codes != list(range(len(codes))):
            raise LabelError(f"label_dict codes must be 0..{len(codes) - 1}, got {codes}")
        return cls(tuple(label_dict[k] if k in label_dict else label_dict[str(k)] for k in codes))

    @classmethod
    def from_values(cls, values, order: Sequence[str] | None = None) -> LabelMap:
        """Classes from the distinct values (sorted, or in ``order``)."""
        distinct = sorted({str(v) for v in values})
        if order is None:
            return cls(tuple(distinct))
        extra = sorted(set(distinct) - {str(o) for o in order})
        if extra:
            raise LabelError(f"values {extra} are not among the classes {list(order)}")
        return cls(tuple(str(o) for o in order))

    @property
    def label_dict(self) -> dict[int, str]:
        """``{code: class name}``."""
        return dict(enumerate(self.classes))

    def __len__(self) -> int:
        return len(self.classes)

    def encode(self, values) -> list[int]:
        """Class names → codes; unknown names raise :class:`LabelError`."""
        index = {c: i for i, c in enumerate(self.classes)}
        out = []
        for v in values:
            if str(v) not in index:
                raise LabelError(f"unknown class {v!r}; known classes are {list(self.classes)}")
            out.append(index[str(v)])
        return out

    def decode(self, codes) -> list[str]:
        """Codes → class names."""
        return [self.classes[int(c)] for c in codes]


def numeric_labels(
    df: pd.DataFrame,
    column: str,
    codes: Mapping[str, int] | None = None,
    new_column: str = "NumericLabels",
    class_names: Mapping[int, str] | None = None,
) -> tuple[pd.DataFrame, dict[int, str]]:
    """Add integer codes for ``column`` and return the label dictionary.

    Parameters
    ----------
    df : pandas.DataFrame
        The label table.
    column : str
        Class column (e.g. ``woodcock_song``).
    codes : mapping, optional
        Value → code, e.g. ``{"absent": 0, "present": 1}``; default: sorted values → 0..n-1.
    new_column : str
        Name of the integer column.
    class_names : mapping, optional
        Code → display name kept with the model, e.g.
        ``{0: "scolopax-minor-absent", 1: "scolopax-minor-present"}``; default: the values.

    Returns
    -------
    (pandas.DataFrame, dict)
        The copy with ``new_column`` and the label dictionary ``{code: name}``.
    """
    check_label_column(df, column)
    values = df[column].astype(str).str.strip()
    if codes is None:
        codes = {v: i for i, v in enumerate(sorted(values.unique()))}
    codes = {str(k): int(v) for k, v in codes.items()}
    unknown = sorted(set(values) - set(codes))
    if unknown:
        rows = df.index[values.isin(unknown)]
        raise LabelError(
            f"column {column!r} has value(s) {unknown} with no numeric code (row(s) "
            f"{_rows(rows)}); codes given for {sorted(codes)}"
        )
    if sorted(set(codes.values())) != list(range(len(set(codes.values())))):
        raise LabelError(f"numeric codes must be 0..n-1, got {sorted(set(codes.values()))}")
    by_code = {c: v for v, c in codes.items()}
    if class_names:
        # keys may be ints or, after a JSON round trip, strings
        names = {int(k): str(v) for k, v in class_names.items()}
        unnamed = [c for c in sorted(by_code) if c not in names]
        if unnamed:
            raise LabelError(
                f"class_names has no name for code(s) {unnamed}; it names {sorted(names)}"
            )
        by_code = {c: names[c] for c in by_code}
    label_dict = {c: by_code[c] for c in sorted(by_code)}
    out = df.copy()
    out[new_column] = [codes[v] for v in values]
    return out, label_dict


def save_labels(
    df: pd.DataFrame, path: str | os.PathLike, source: str | os.PathLike | None = None
) -> Path:
    """Write a label table atomically; refuse to overwrite ``source`` (the original file)."""
    path = Path(path)
    if source is not None and path.resolve() == Path(source).resolve():
        raise LabelError(
            f"refusing to overwrite the source label table {source}; choose a new name"
        )
    try:
        saved = atomic_write_csv(path, df)
    except OSError as exc:
        # keep the OSError type (callers handle disk errors), but name the file
        raise OSError(exc.errno, f"cannot save label table {path}: {exc.strerror or exc}") from exc
    # a save killed earlier left its hidden temporary file beside the table
    remove_temp_files(path.parent, name=path.name, min_age_s=STALE_TEMP_SECONDS)
    return saved


def apply_corrections(
    df: pd.DataFrame,
    corrections: pd.DataFrame,
    label_column: str,
    filename_column: str = "filename",
) -> pd.DataFrame:
    """Apply reviewed corrections (``filename, label_column``) to a label table copy.

    A thin call of :func:`woodcock_widgets.tables.corrections.correct_labels` (the one
    implementation, also behind the corrections CSV's ``apply_corrections``) that refuses
    rows whose file is not in ``df`` with :class:`LabelError`.
    """
    from .corrections import correct_labels  # that module imports this one

    for col in (filename_column, label_column):
        if col not in corrections.columns:
            raise LabelError(f"corrections table has no column {col!r}")
    return correct_labels(df, corrections, label_column, filename_column, unknown="raise")[0]
