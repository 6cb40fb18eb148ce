"""A label table with integer class codes: the hand-off from the tables layer to training.

Pure pandas (no torch), so the label remapper and its widget stay light.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from ..errors import LabelError
from .labels import numeric_labels, read_labels, remap_labels

__all__ = ["CODE_COLUMN", "LabeledTable", "parse_mapping", "prepare_labels"]
__all__ += ["WindowLabels", "prepare_windows"]

#: Column holding the integer class codes the model learns.
CODE_COLUMN = "NumericLabels"


@dataclass(frozen=True)
class LabeledTable:
    """A label table with integer codes ready for training.

    Attributes
    ----------
    df : pandas.DataFrame
        The table, with absolute file paths, the class column and ``CODE_COLUMN``.
    class_column : str
        The column with class names (after remapping).
    label_dict : dict of int to str
        Code → class name.
    """

    df: pd.DataFrame
    class_column: str
    label_dict: dict[int, str]


def parse_mapping(items: Sequence[str]) -> dict[str, str]:
    """Parse ``["song=present", "call=absent"]`` into a dict (for the command line)."""
    out = {}
    for item in items:
        if "=" not in item:
            raise LabelError(f"mapping {item!r} must look like VALUE=CLASS")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def prepare_labels(
    labels: str | os.PathLike | pd.DataFrame,
    label_column: str = "woodcock",
    mapping: Mapping[str, str] | None = None,
    new_column: str | None = None,
    class_names: Mapping[int, str] | None = None,
    filename_column: str = "filename",
) -> LabeledTable:
    """Read (or take) a label table, remap a column if asked, and add numeric codes.

    Parameters
    ----------
    labels : path or pandas.DataFrame
        A label CSV (paths resolved against its folder) or a table with usable paths.
    label_column : str
        Column with the classes (or the values to remap).
    mapping : mapping, optional
        Value → class, e.g. ``{"song": "present", "call": "absent", "na": "absent"}``.
    new_column : str, optional
        Name of the remapped column (default ``f"{label_column}_class"``).
    class_names : mapping, optional
        Code → display name for the label dictionary (default: the class values).
    filename_column : str
        The audio path column.

    Returns
    -------
    LabeledTable
    """
    if isinstance(labels, pd.DataFrame):
        df = labels.copy()
    else:
        df = read_labels(
            labels,
            required_columns=(filename_column, label_column),
            filename_column=filename_column,
        )
    column = label_column
    if mapping:
        column = new_column or f"{label_column}_class"
        df = remap_labels(df, label_column, mapping, column)
    df, label_dict = numeric_labels(df, column, new_column=CODE_COLUMN, class_names=class_names)
    return LabeledTable(df, column, label_dict)


# window tables → training (own module, importable from here too)
from .labeled_windows import WindowLabels, prepare_windows  # noqa: E402
