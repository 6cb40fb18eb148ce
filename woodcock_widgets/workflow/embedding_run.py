"""The outcome of an embedding fit: run folder, bundle, history row, timings, cache counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..ml.embedding_bundle import EmbeddingBundle

__all__ = ["EmbeddingRun"]


@dataclass
class EmbeddingRun:
    """The outcome of :func:`fit_embedding_classifier`.

    Attributes
    ----------
    run_dir : pathlib.Path
        The run folder.
    bundle : EmbeddingBundle
        The saved classifier (``run_dir/best.pt``).
    record : dict
        The history row (epoch 1): losses and metrics, zero-shot figures, seconds.
    zero_shot : dict or None
        Species, threshold, AP, precision, recall and F1 of the zero-shot baseline.
    timings : dict of str to float
        ``embed_seconds``, ``fit_seconds``, ``save_seconds``, ``seconds`` (all of it).
    cache_stats : dict of str to int
        ``model_calls``, ``windows_computed``, ``hits``, ``misses`` of the embedding cache,
        and ``model_windows``: windows the model actually ran (0 on a refit).
    split_warnings : list of str
        What the split found worth saying (small classes, leakage).
    status : str
        ``finished``.
    valid_truth : numpy.ndarray or None
        The validation targets: class codes ``(n,)``, or a 0/1 matrix ``(n, k)`` when
        multi-label (``None`` without validation rows).
    valid_scores : numpy.ndarray or None
        The head's validation probabilities ``(n, k)`` (for precision–recall curves).
    """

    run_dir: Path
    bundle: EmbeddingBundle
    record: dict[str, Any]
    zero_shot: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    cache_stats: dict[str, int] = field(default_factory=dict)
    split_warnings: list[str] = field(default_factory=list)
    status: str = "finished"
    valid_truth: np.ndarray | None = field(default=None, repr=False)
    valid_scores: np.ndarray | None = field(default=None, repr=False)

    @property
    def history(self) -> pd.DataFrame:
        """The content of ``history.csv`` (one row)."""
        return pd.DataFrame([self.record])

    @property
    def best_epoch(self) -> int:
        """Always 1: a logistic head is fitted in one step."""
        return 1

    @property
    def best_score(self) -> float:
        """Validation macro F1 (as the CNN trainer's ``best_score``)."""
        return float(self.record.get("valid_f1", float("nan")))
