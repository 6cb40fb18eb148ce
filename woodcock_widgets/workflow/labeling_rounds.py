"""The rounds of a labeling loop: where a loop resumes, what a round measures, what it writes.

A round ends with :meth:`LabelingLoop.refit
<woodcock_widgets.workflow.labeling_loop.LabelingLoop.refit>`, which measures it
(:func:`round_metrics`) and writes it (:func:`save_round`)::

    RUN/rounds/round_rrr/head.pt       {class: state_dict} of the fitted heads
    RUN/rounds/round_rrr/metrics.json  the round's metrics
    RUN/rounds/round_rrr/labels.csv    the current labels
    RUN/rounds.csv                     one row of metrics per round so far

A loop opened again on the same folder and label table continues after the last round
written, or the last round answered in (:func:`resume_rounds`).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import pandas as pd

from ..io_utils import atomic_torch_save, atomic_write_csv, atomic_write_json
from .label_store import LabelStore
from .labeling_answers import page_precision
from .proposals import cv_average_precision

__all__ = ["resume_rounds", "round_metrics", "save_round"]


def resume_rounds(run_dir: Path, store: LabelStore) -> tuple[list[dict], int]:
    """The metrics of the rounds in ``run_dir`` so far, and the round to continue with."""
    path = run_dir / "rounds.csv"
    history = pd.read_csv(path).to_dict("records") if path.is_file() else []
    done = [int(p.name[6:]) for p in (run_dir / "rounds").glob("round_[0-9]*") if p.is_dir()]
    return history, max([0] + [d + 1 for d in done] + [r["round"] for r in store.rows])


def round_metrics(loop, fit_seconds: dict[str, float]) -> dict:
    """Per-class metrics of the loop's current round (see ``LabelingLoop.refit``)."""
    m: dict = {"round": loop.round}
    for j, c in enumerate(loop.classes):
        Xl, y = loop.scorer.training_set(loop.store, c)
        skipped = len(loop.store.answered(c)) - len(y)
        m |= {f"{c}/n_labels": int(len(y)), f"{c}/n_positive": int(y.sum())}
        m |= {f"{c}/n_negative": int(len(y) - y.sum()), f"{c}/n_skipped": int(skipped)}
        m[f"{c}/validation_ap"] = cv_average_precision(Xl, y, c) if len(y) else math.nan
        m[f"{c}/page_precision"], m[f"{c}/page_strategy"] = page_precision(loop, c)
        m[f"{c}/above_threshold"] = int((loop.scorer.scores[:, j] >= loop.threshold).sum())
        m[f"{c}/scorer"], m[f"{c}/fit_seconds"] = loop.scorer.source[c], fit_seconds[c]
    return m


def save_round(loop, m: dict, t0: float) -> None:
    """Write the round's heads, labels and metrics (completed with the model calls and the
    seconds since ``t0``) and add its row to the loop's history and ``rounds.csv``."""
    folder = loop.rounds_dir / f"round_{loop.round:03d}"
    heads = {c: h.state_dict() for c, h in loop.scorer.heads.items()}
    if heads:
        atomic_torch_save(heads, folder / "head.pt")
    atomic_write_csv(folder / "labels.csv", loop.store.current())
    m["embedding_model_calls"] = int(loop.cache.model_calls)
    m["seconds"] = time.perf_counter() - t0
    atomic_write_json(folder / "metrics.json", m)
    loop.history.append(m)
    atomic_write_csv(loop.run_dir / "rounds.csv", pd.DataFrame(loop.history))
