"""Train/validation splits: seeded, stratified, optionally grouped; balance and leakage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import SplitError
from .labels import check_label_column

__all__ = [
    "SplitResult",
    "split_train_valid",
    "split_multilabel",
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
    class_names: Mapping | None = None,
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
    class_names : mapping, optional
        Value of ``label_column`` → class name, for messages (e.g. the label dictionary when
        splitting on integer codes): errors and warnings name classes, not codes.

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
    names = {str(k): str(v) for k, v in (class_names or {}).items()}

    def name(value) -> str:
        return names.get(str(value), str(value))

    if len(counts) < 2:
        raise SplitError(
            f"column {label_column!r} has only one class ({name(counts.index[0])!r}); a "
            "classifier needs at least two"
        )
    warnings: list[str] = []
    small = counts[counts < MIN_CLIPS_PER_CLASS]
    if stratify and len(small):
        raise SplitError(
            f"class(es) {[name(c) for c in small.index]} in column {label_column!r} have "
            f"fewer than {MIN_CLIPS_PER_CLASS} clips and cannot appear in both train and "
            "validation; add clips or merge the class"
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
                warnings.append(f"class {name(cls)!r} has no clips in {part}")
    for cls, cnt in counts.items():
        if cnt < 5:
            warnings.append(f"class {name(cls)!r} has only {cnt} clips; its metrics will be noisy")
    leaks = check_leakage(train, valid, filename_column, group_column)
    warnings.extend(leaks)
    return SplitResult(train, valid, report, warnings)


def _multilabel_candidates(
    y: np.ndarray, groups: np.ndarray, train_fraction: float, seed: int, tries: int
) -> np.ndarray:
    """The train mask (whole groups) that best keeps every class on both sides.

    ``tries`` seeded random orders of the groups each give a split (the shortest prefix of
    groups holding ``train_fraction`` of the rows, closest to it); the one kept has, first,
    the fewest classes missing a positive in train or validation, then the smallest mean
    distance of each class's train share (and the rows' train share) from ``train_fraction``.
    """
    keys, inverse = np.unique(groups, return_inverse=True)
    n_groups = len(keys)
    if n_groups < 2:
        raise SplitError(f"only {n_groups} group(s): cannot keep groups apart in two parts")
    rows = np.bincount(inverse, minlength=n_groups).astype(float)
    positives = np.zeros((n_groups, y.shape[1]))
    np.add.at(positives, inverse, y)
    total = positives.sum(axis=0)
    has = total > 0
    rng = np.random.default_rng(seed)
    best_key, best = None, None
    for _ in range(max(int(tries), 1)):
        order = rng.permutation(n_groups)
        cum = np.cumsum(rows[order])
        m = int(np.argmin(np.abs(cum - train_fraction * len(y)))) + 1
        m = min(max(m, 1), n_groups - 1)
        take = np.zeros(n_groups, bool)
        take[order[:m]] = True
        in_train = positives[take].sum(axis=0)
        missing = int(np.sum(has & ((in_train == 0) | (in_train == total))))
        share = np.abs(in_train[has] / total[has] - train_fraction).mean() if has.any() else 0.0
        rows_off = abs(rows[take].sum() / len(y) - train_fraction)
        key = (missing, float(share + rows_off))
        if best_key is None or key < best_key:
            best_key, best = key, take
    return best[inverse]


def split_multilabel(
    df: pd.DataFrame,
    target_columns: Sequence[str],
    train_fraction: float = 0.8,
    seed: int = 0,
    group_column: str | None = None,
    filename_column: str = "filename",
    tries: int = 200,
) -> SplitResult:
    """Split a multi-label table (one 0/1 column per class) into train and validation parts.

    Rows sharing a ``group_column`` value (e.g. the windows of one recording) stay on one
    side. Of ``tries`` seeded random splits by group, the one kept leaves the fewest classes
    without a positive in train or validation, then keeps each class's share of positives in
    train closest to ``train_fraction``. A class that still has no positive on one side is
    kept, with a warning naming it (its validation AP is undefined, or nothing teaches it).

    Parameters
    ----------
    df : pandas.DataFrame
        The table.
    target_columns : sequence of str
        The 0/1 class columns.
    train_fraction : float
        Share of rows for training, strictly between 0 and 1.
    seed : int
        The same seed gives the same split.
    group_column : str, optional
        Rows sharing a value never straddle the split; default: each row on its own.
    filename_column : str
        Used for the leakage check.
    tries : int
        Random splits compared.

    Returns
    -------
    SplitResult
        ``report`` is indexed by class: ``all_count``, ``train_count``, ``valid_count`` are
        positive rows, the ``_fraction`` columns their share of the part's rows.

    Raises
    ------
    SplitError
        A bad fraction, fewer than two groups, a missing or non-0/1 class column.
    """
    if not 0.0 < float(train_fraction) < 1.0:
        raise SplitError(f"train_fraction must be strictly between 0 and 1, got {train_fraction}")
    columns = [str(c) for c in target_columns]
    missing = [c for c in columns if c not in df.columns]
    if missing or not columns:
        raise SplitError(f"no class column(s) {missing or columns} in the table")
    y = df[columns].to_numpy()
    if not np.isin(y, (0, 1)).all():
        raise SplitError(f"class columns {columns} must hold 0 or 1")
    y = y.astype(np.int64)
    if len(df) < 2:
        raise SplitError(f"{len(df)} row(s) cannot make a train and a validation part")
    if group_column is not None:
        check_label_column(df, group_column)
        groups = df[group_column].astype(str).to_numpy()
    else:
        groups = np.arange(len(df)).astype(str)
    in_train = _multilabel_candidates(y, groups, float(train_fraction), seed, tries)
    train, valid = df[in_train], df[~in_train]
    report = pd.DataFrame(index=pd.Index(columns, name="class"))
    for name, part in (("all", df), ("train", train), ("valid", valid)):
        counts = part[columns].astype(np.int64).sum(axis=0)
        report[f"{name}_count"] = counts.astype(int).to_numpy()
        report[f"{name}_fraction"] = (counts / max(len(part), 1)).astype(float).to_numpy()
    warnings: list[str] = []
    for cls in columns:
        for part in ("train", "valid"):
            if report.loc[cls, f"{part}_count"] == 0:
                where = "training" if part == "train" else "validation"
                warnings.append(
                    f"class {cls!r} has no positive window in {where}; it is kept ("
                    + ("nothing teaches it" if part == "train" else "validation AP is undefined")
                    + ")"
                )
    warnings.extend(check_leakage(train, valid, filename_column, group_column))
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
