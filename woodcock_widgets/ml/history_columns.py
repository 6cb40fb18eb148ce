"""The training history's per-class AP columns: ``<prefix>_map`` and ``<prefix>_ap_<class>``.

Class names are made safe for a column name by :func:`safe_column_name`; names that clash
after that get ``_2``, ``_3``... (:func:`ap_column_names`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd

from .class_metrics import macro_map

__all__ = ["safe_column_name", "ap_column_names", "history_columns"]


def safe_column_name(name: str) -> str:
    """A class name as a safe column-name part: ``[A-Za-z0-9_]`` only.

    The rule: each run of other characters (spaces, ``-``, ``.``, ``/``, accents, ...) becomes
    one ``_``, leading and trailing ``_`` are dropped, and the case is kept (``"A"`` and
    ``"a"`` may be different syllables). A name left empty becomes ``class``.

    Examples
    --------
    >>> safe_column_name("scolopax-minor present"), safe_column_name("Wood Thrush (song)")
    ('scolopax_minor_present', 'Wood_Thrush_song')
    """
    safe = re.sub(r"[^A-Za-z0-9_]+", "_", str(name)).strip("_")
    return safe or "class"


def ap_column_names(class_names: Sequence[str], prefix: str = "valid") -> dict[str, str]:
    """Class → its AP column in the history: ``<prefix>_ap_<safe name>``.

    Names that become the same after :func:`safe_column_name` get ``_2``, ``_3``... in class
    order, so every class keeps its own column.
    """
    out: dict[str, str] = {}
    taken: set[str] = set()
    for name in class_names:
        base = f"{prefix}_ap_{safe_column_name(name)}"
        column, k = base, 1
        while column in taken:
            k += 1
            column = f"{base}_{k}"
        taken.add(column)
        out[str(name)] = column
    return out


def history_columns(metrics_frame: pd.DataFrame, prefix: str = "valid") -> dict[str, float]:
    """The training history's columns from a :func:`per_class_metrics` table.

    Parameters
    ----------
    metrics_frame : pandas.DataFrame
        Per-class metrics (index: class names).
    prefix : str
        Column prefix (``valid``, or ``train``).

    Returns
    -------
    dict of str to float
        ``<prefix>_map`` (:func:`macro_map`) then ``<prefix>_ap_<class>`` per class, in the
        table's order (names as :func:`ap_column_names` makes them; NaN for a class without
        positives).
    """
    out = {f"{prefix}_map": macro_map(metrics_frame)}
    columns = ap_column_names([str(c) for c in metrics_frame.index], prefix)
    for name, ap in zip(metrics_frame.index, metrics_frame["ap"]):
        out[columns[str(name)]] = float(ap)
    return out
