"""Preview a label remap: counts before and after, numeric codes, label dictionary, unmapped.

The label remapper widget shows a :class:`RemapPreview`; scripts can call
:func:`preview_remap` directly and get the same table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from ..errors import LabelError
from .browse import distinct_values
from .labeled import CODE_COLUMN
from .labels import check_label_column, numeric_labels, remap_labels

__all__ = ["RemapPreview", "preview_remap", "identity_mapping"]


@dataclass(frozen=True)
class RemapPreview:
    """The outcome of a remap, complete or not.

    Attributes
    ----------
    result : pandas.DataFrame or None
        The table with ``new_column`` (classes) and ``CODE_COLUMN`` (integer codes); ``None``
        while some values have no class.
    new_column : str
        Name of the class column.
    mapping : dict of str to str
        Value → class for every mapped value.
    label_dict : dict of int to str
        Code → class name (with the name prefix), e.g.
        ``{0: "scolopax-minor-absent", 1: "scolopax-minor-present"}``; empty when incomplete.
    codes : dict of str to int
        Class → code.
    counts_before : pandas.DataFrame
        One row per source value: ``value, count, class`` (class empty when unmapped).
    counts_after : pandas.DataFrame
        One row per class: ``class, code, count``; the code is missing (``<NA>``) while
        some values have no class, since codes are given only to a complete set.
    unmapped : list of str
        Source values without a class (their rows are not dropped: the result waits).
    """

    result: pd.DataFrame | None
    new_column: str
    mapping: dict[str, str]
    label_dict: dict[int, str]
    codes: dict[str, int]
    counts_before: pd.DataFrame
    counts_after: pd.DataFrame
    unmapped: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Whether every value has a class (so :attr:`result` is a table)."""
        return self.result is not None


def identity_mapping(df: pd.DataFrame, source_column: str) -> dict[str, str]:
    """Each distinct value of ``source_column`` mapped to itself (the starting point)."""
    return {v: v for v in distinct_values(df, source_column)}


def preview_remap(
    df: pd.DataFrame,
    source_column: str,
    mapping: Mapping[str, str],
    new_column: str | None = None,
    name_prefix: str = "",
) -> RemapPreview:
    """Remap ``source_column`` into ``new_column`` and report counts and codes.

    Parameters
    ----------
    df : pandas.DataFrame
        The label table.
    source_column : str
        Column whose values are mapped (e.g. ``sound_type``).
    mapping : mapping of str to str
        Value → class; values missing from it, or mapped to an empty string, are unmapped.
    new_column : str, optional
        Class column name (default ``f"{source_column}_class"``); must differ from the
        filename column's and may not be ``CODE_COLUMN``.
    name_prefix : str
        Prepended to each class in the label dictionary (``"scolopax-minor-"`` turns
        ``present`` into ``scolopax-minor-present``).

    Returns
    -------
    RemapPreview

    Raises
    ------
    LabelError
        Missing or empty source column, or an unusable new column name.
    """
    check_label_column(df, source_column)
    new_column = (new_column or "").strip() or f"{source_column}_class"
    if new_column == CODE_COLUMN:
        raise LabelError(f"{CODE_COLUMN!r} holds the numeric codes; choose another column name")
    values = distinct_values(df, source_column)
    clean = {str(k).strip(): str(v).strip() for k, v in mapping.items() if v is not None}
    used = {v: clean[v] for v in values if clean.get(v)}
    unmapped = [v for v in values if v not in used]
    source = df[source_column].astype(str).str.strip()
    before = source.value_counts().reindex(values, fill_value=0)
    counts_before = pd.DataFrame(
        {"value": values, "count": before.to_numpy(int), "class": [used.get(v, "") for v in values]}
    )
    classes = sorted(set(used.values()))
    after = source.map(used).value_counts().reindex(classes, fill_value=0)
    if unmapped:
        counts_after = pd.DataFrame(
            {
                "class": classes,
                "code": pd.array([pd.NA] * len(classes), dtype="Int64"),
                "count": after.to_numpy(int),
            }
        )
        return RemapPreview(None, new_column, used, {}, {}, counts_before, counts_after, unmapped)
    remapped = remap_labels(df, source_column, used, new_column)
    codes = {c: i for i, c in enumerate(classes)}
    names = {i: f"{name_prefix}{c}" for c, i in codes.items()}
    result, label_dict = numeric_labels(remapped, new_column, codes, CODE_COLUMN, names)
    counts_after = pd.DataFrame(
        {"class": classes, "code": [codes[c] for c in classes], "count": after.to_numpy(int)}
    )
    return RemapPreview(result, new_column, used, label_dict, codes, counts_before, counts_after)
