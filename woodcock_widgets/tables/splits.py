"""Train/validation splits: seeded, stratified, optionally grouped; balance and leakage."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import SplitError
from .labels import check_label_column

__all__ = [
    "SplitResult",
    "split_train_valid",
    "balance_report",
    "check_leakage",
    "moved_to_valid",
]

MIN_CLIPS_PER_CLASS = 2


@dataclass(frozen=True)
class SplitResult:
    """A train/validation split with its balance report and warnings.

    Attributes
    ----------
    train, valid : pandas.DataFrame
        The two parts (original index kept).
    report : pandas.DataFrame
        See :func:`balance_report`.
    warnings : list of str
        Problems worth showing (a class missing from a split, leakage, tiny classes).
    """

    train: pd.DataFrame
    valid: pd.DataFrame
    report: pd.DataFrame
    warnings: list[str] = field(default_factory=list)

    def __iter__(self):
        # allows ``train_df, valid_df = split_train_valid(...)``
        return iter((self.train, self.valid))


def _group_split(
    labels: np.ndarray, groups: np.ndarray, train_fraction: float, seed: int, stratify: bool
) -> np.ndarray:
    """Boolean train mask that keeps every group on one side, stratified by class if asked."""
    from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold

    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise SplitError(f"only {n_groups} group(s): cannot keep groups apart in two parts")
    idx = np.arange(len(labels))
    if stratify:
        n_splits = min(max(2, int(round(1.0 / (1.0 - train_fraction)))), n_groups)
        splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        train_idx, _ = next(splitter.split(idx, labels, groups))
    else:
        splitter = GroupShuffleSplit(n_splits=1, train_size=train_fraction, random_state=seed)
        train_idx, _ = next(splitter.split(idx, labels, groups))
    mask = np.zeros(len(labels), bool)
    mask[train_idx] = True
    return mask


def split_train_valid(
    df: pd.DataFrame,
    label_column: str,
    train_fraction: float = 0.8,
    seed: int = 0,
    stratify: bool = True,
    group_column: str | None = None,
    filename_column: str = "filename",
) -> SplitResult:
    """Split a label table into train and validation parts.

    Parameters
    ----------
    df : pandas.DataFrame
        The label table.
    label_column : str
        The class column to stratify on and report.
    train_fraction : float
        Share of clips for training, strictly between 0 and 1.
    seed : int
        Random seed; the same seed gives the same split.
    stratify : bool
        Keep each class's share about equal in both parts.
    group_column : str, optional
        Clips sharing a value here (e.g. one recording) never straddle the split.
    filename_column : str
        Used for the leakage check.

    Returns
    -------
    SplitResult
        Also unpacks as ``train_df, valid_df``.

    Raises
    ------
    SplitError
        A bad fraction, a single class, or a class too small to appear in both parts.
    """
    from sklearn.model_selection import train_test_split

    check_label_column(df, label_column)
    if not 0.0 < float(train_fraction) < 1.0:
        raise SplitError(f"train_fraction must be strictly between 0 and 1, got {train_fraction}")
    n = len(df)
    n_train = int(round(train_fraction * n))
    if n_train < 1 or n - n_train < 1:
        raise SplitError(
            f"train_fraction {train_fraction} of {n} clips leaves an empty train or validation part"
        )
    labels = df[label_column].astype(str).to_numpy()
    counts = pd.Series(labels).value_counts()
    if len(counts) < 2:
        raise SplitError(
            f"column {label_column!r} has only one class ({counts.index[0]!r}); a classifier "
            "needs at least two"
        )
    warnings: list[str] = []
    small = counts[counts < MIN_CLIPS_PER_CLASS]
    if stratify and len(small):
        raise SplitError(
            f"class(es) {list(small.index)} in column {label_column!r} have fewer than "
            f"{MIN_CLIPS_PER_CLASS} clips and cannot appear in both train and validation; "
            "add clips or merge the class"
        )
    if group_column is not None:
        check_label_column(df, group_column)
        in_train = _group_split(
            labels, df[group_column].astype(str).to_numpy(), train_fraction, seed, stratify
        )
        if in_train.all() or not in_train.any():
            raise SplitError(
                f"column {group_column!r} has too few groups to split "
                f"({df[group_column].nunique()} group(s))"
            )
        train, valid = df[in_train], df[~in_train]
    else:
        n_classes = len(counts)
        strat = labels if stratify else None
        if stratify and (n - n_train < n_classes or n_train < n_classes):
            raise SplitError(
                f"with {n} clips and train_fraction {train_fraction}, one part has fewer clips "
                f"than the {n_classes} classes; change train_fraction or add clips"
            )
        train, valid = train_test_split(df, train_size=n_train, random_state=seed, stratify=strat)
    report = balance_report(df, train, valid, label_column)
    for cls in report.index:
        for part in ("train", "valid"):
            if report.loc[cls, f"{part}_count"] == 0:
                warnings.append(f"class {cls!r} has no clips in {part}")
    for cls, cnt in counts.items():
        if cnt < 5:
            warnings.append(f"class {cls!r} has only {cnt} clips; its metrics will be noisy")
    leaks = check_leakage(train, valid, filename_column, group_column)
    warnings.extend(leaks)
    return SplitResult(train, valid, report, warnings)


def balance_report(
    df: pd.DataFrame, train: pd.DataFrame, valid: pd.DataFrame, label_column: str
) -> pd.DataFrame:
    """Count and fraction of each class in all, train and valid.

    Returns
    -------
    pandas.DataFrame
        Index: class; columns ``all_count, all_fraction, train_count, train_fraction,
        valid_count, valid_fraction``.
    """
    classes = sorted(df[label_column].astype(str).unique())
    out = {}
    for name, part in (("all", df), ("train", train), ("valid", valid)):
        c = part[label_column].astype(str).value_counts().reindex(classes, fill_value=0)
        out[f"{name}_count"] = c.astype(int)
        out[f"{name}_fraction"] = (c / max(len(part), 1)).astype(float)
    report = pd.DataFrame(out, index=pd.Index(classes, name=label_column))
    return report


def check_leakage(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    filename_column: str = "filename",
    group_column: str | None = None,
) -> list[str]:
    """Messages for files (or groups) found in both train and valid; empty when clean."""
    found = []
    if filename_column in train.columns and filename_column in valid.columns:
        both = sorted(set(train[filename_column]) & set(valid[filename_column]))
        if both:
            found.append(f"leakage: {len(both)} file(s) in both train and valid, e.g. {both[0]}")
    if group_column and group_column in train.columns and group_column in valid.columns:
        both = sorted(set(train[group_column].astype(str)) & set(valid[group_column].astype(str)))
        if both:
            found.append(
                f"leakage: {len(both)} {group_column!r} group(s) in both train and valid, "
                f"e.g. {both[0]}"
            )
    return found


def moved_to_valid(before: SplitResult, after: SplitResult) -> int:
    """How many validation clips of ``after`` were not validation clips in ``before``.

    With stratification every seed gives the same class counts; what a new seed changes is
    *which* clips are held out, and this counts them.
    """
    return len(set(after.valid.index) - set(before.valid.index))
