"""From window scores to detections: which class, which threshold, merged bouts.

The defaults a bundle records (its positive class, per-class thresholds) are read here, so
the command line, folder prediction and the review widget detect the same way.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence

import pandas as pd

from ..errors import LabelError, PredictionError
from .bundle import ModelBundle

__all__ = [
    "detections",
    "detect",
    "merge_detections",
    "default_detect_class",
    "detection_thresholds",
    "check_threshold",
]


def detections(scores: pd.DataFrame, class_name: str, threshold: float = 0.5) -> pd.DataFrame:
    """Windows whose ``class_name`` score is at least ``threshold`` (with a ``score`` column)."""
    if class_name not in scores.columns:
        raise LabelError(f"no score column {class_name!r}; columns are {list(scores.columns)}")
    hits = scores[scores[class_name] >= threshold]
    out = hits[["file", "start_time", "end_time"]].copy()
    out["annotation"] = class_name
    out["score"] = hits[class_name].to_numpy()
    return out.reset_index(drop=True)


# ------------------------------------------------------------------- detection settings

#: class names that mean "not the sound" (compared in lower case)
_NEGATIVE_NAMES = {
    "absent",
    "absence",
    "other",
    "others",
    "noise",
    "background",
    "negative",
    "none",
    "nothing",
    "empty",
    "na",
    "n/a",
}
_NEGATIVE_PREFIXES = ("not_", "not-", "not ", "no_", "no-", "no ", "non_", "non-", "non ")
_NEGATIVE_SUFFIXES = ("absent", "absence", "_other", "-other", "_noise", "-noise")


def _looks_negative(name: str) -> bool:
    n = str(name).strip().lower()
    return (
        n in _NEGATIVE_NAMES or n.startswith(_NEGATIVE_PREFIXES) or n.endswith(_NEGATIVE_SUFFIXES)
    )


def _recorded(bundle: ModelBundle, key: str):
    value = getattr(bundle, key, None)
    return bundle.extra.get(key) if value is None else value


def default_detect_class(bundle: ModelBundle) -> str:
    """The class detections are about when none is named.

    In order: the positive class the bundle records (``positive_class``, set at training);
    for a two-class model where exactly one class reads as the negative one (``…absent``,
    ``not_…``/``no_…``/``non-…``, ``other``, ``noise``, ``background``, ``negative``,
    ``none``), the other one (``woodcock-present`` beside ``woodcock-absent``, ``i`` beside
    ``not_i``); otherwise the last class.
    """
    classes = bundle.class_names
    recorded = _recorded(bundle, "positive_class")
    if recorded is not None and str(recorded) in classes:
        return str(recorded)
    if len(classes) == 2:
        negative = [_looks_negative(c) for c in classes]
        if sum(negative) == 1:
            return classes[negative.index(False)]
    return classes[-1]


def check_threshold(threshold: float, name: str = "threshold") -> float:
    """``threshold`` as a float in [0, 1], or a :class:`PredictionError` naming ``name``."""
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise PredictionError(f"{name} must be a number in [0, 1], got {threshold!r}") from None
    if not 0.0 <= value <= 1.0:  # also refuses NaN
        raise PredictionError(f"{name} must be in [0, 1] (a score), got {threshold}")
    return value


def _check_classes(requested: Sequence[str], classes: Sequence[str]) -> list[str]:
    out = []
    for name in requested:
        if name in classes:
            out.append(name)
            continue
        close = difflib.get_close_matches(str(name), list(classes), n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else "."
        raise PredictionError(
            f"detect class {name!r} is not a class of the model{hint} "
            f"The model's classes: {', '.join(map(repr, classes))}"
        )
    return list(dict.fromkeys(out))


def detection_thresholds(
    bundle: ModelBundle,
    classes: str | Sequence[str] | None = None,
    threshold: float | None = None,
) -> dict[str, float]:
    """The classes to detect and the score threshold of each, checked against the model.

    Parameters
    ----------
    bundle : ModelBundle
        The model; its recorded per-class ``thresholds`` (chosen at evaluation) are used
        where present.
    classes : str or sequence of str, optional
        Classes to detect; default: every class with a recorded threshold, else
        :func:`default_detect_class`.
    threshold : float, optional
        One threshold for every class, instead of the recorded ones (default 0.5 where
        none is recorded).

    Returns
    -------
    dict of str to float
        Class → threshold, in the order asked.

    Raises
    ------
    PredictionError
        A class the model does not have (with the closest name), a threshold outside [0, 1].
    """
    if threshold is not None:
        threshold = check_threshold(threshold)
    names = bundle.class_names
    recorded = _recorded(bundle, "thresholds") or {}
    recorded = {str(k): float(v) for k, v in dict(recorded).items() if str(k) in names}
    if isinstance(classes, str):
        classes = [classes]
    if classes:
        chosen = _check_classes(list(classes), names)
    elif recorded:
        chosen = [c for c in names if c in recorded]
    else:
        chosen = [default_detect_class(bundle)]
    if threshold is not None:
        return {c: threshold for c in chosen}
    return {c: check_threshold(recorded.get(c, 0.5)) for c in chosen}


def detect(scores: pd.DataFrame, thresholds: dict[str, float]) -> pd.DataFrame:
    """Detections of several classes (see :func:`detections`), by file, time, then class."""
    cols = ["file", "start_time", "end_time", "annotation", "score"]
    parts = [detections(scores, c, t) for c, t in thresholds.items()]
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(
            {c: pd.Series(dtype=float if "time" in c or c == "score" else object) for c in cols}
        )
    out = pd.concat(parts, ignore_index=True)
    order = {c: k for k, c in enumerate(thresholds)}
    out["_k"] = out["annotation"].map(order)
    out = out.sort_values(["file", "start_time", "_k"], kind="stable").drop(columns="_k")
    return out.reset_index(drop=True)


def merge_detections(dets: pd.DataFrame, gap: float = 0.0) -> pd.DataFrame:
    """Merge detections of one class in one file that are at most ``gap`` seconds apart.

    Consecutive windows above threshold (touching, ``gap=0``, or overlapping) become one
    selection spanning them all, scored with the highest of their scores: one bout, one row.

    Parameters
    ----------
    dets : pandas.DataFrame
        ``file, start_time, end_time, annotation[, score]`` (as :func:`detections` gives).
    gap : float
        Largest silence between two detections that still joins them (seconds, >= 0).

    Returns
    -------
    pandas.DataFrame
        Same columns, by file, start time and class.
    """
    if gap is None or (isinstance(gap, float) and math.isnan(gap)) or gap < 0:
        raise PredictionError(f"merge gap must be >= 0 seconds, got {gap}")
    if dets.empty:
        return dets.reset_index(drop=True)
    has_score = "score" in dets.columns
    rows = []
    key_cols = ["file", "annotation"] if "annotation" in dets.columns else ["file"]
    for key, part in dets.groupby(key_cols, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        part = part.sort_values("start_time", kind="stable")
        cur = None
        for r in part.itertuples(index=False):
            s, e = float(r.start_time), float(r.end_time)
            sc = float(r.score) if has_score else None
            if cur is not None and s - cur[1] <= gap + 1e-9:
                cur[1] = max(cur[1], e)
                if has_score:
                    cur[2] = max(cur[2], sc)
                continue
            if cur is not None:
                rows.append((*key, *cur))
            cur = [s, e, sc]
        rows.append((*key, *cur))
    out = pd.DataFrame(rows, columns=[*key_cols, "start_time", "end_time", "score"])
    if not has_score:
        out = out.drop(columns="score")
    cols = [c for c in dets.columns if c in out.columns]
    out = out[cols].sort_values(["file", "start_time"], kind="stable")
    return out.reset_index(drop=True)
