"""``train --method embeddings``: a shallow classifier on pretrained bird embeddings.

Writes the same run folder as the CNN path (``config.json``, ``history.csv``, ``train.csv``,
``valid.csv``, ``best.pt``), so ``predict --model RUN/best.pt`` and ``evaluate`` work unchanged.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import WoodcockError


def run_embeddings(args: argparse.Namespace, table) -> int:
    """Fit the head on ``table`` (a clip table or window labels) into ``args.run_dir``."""
    from ..workflow.embedding_training import fit_embedding_classifier

    if args.resume:
        raise WoodcockError(
            "--resume continues a CNN's epochs; an embeddings classifier is fitted in one step: "
            "train again into a new --run-dir"
        )
    source = getattr(table, "df", None)
    if source is not None and hasattr(table, "classes"):  # window labels: give the table itself
        table = Path(args.labels)
    multi = True if args.multi_label else (False if args.single_target else None)
    result = fit_embedding_classifier(
        table,
        args.run_dir,
        embedder=args.embedder,
        classes=args.classes or None,
        multi_label=multi,
        train_fraction=args.train_fraction,
        seed=args.seed,
        group_column=args.group_column,
        zero_shot_species=args.zero_shot_species or None,
    )
    for warning in result.split_warnings:
        print(f"warning: {warning}")
    record = result.record
    shown = {k: v for k, v in record.items() if k.startswith("valid_") and isinstance(v, float)}
    summary = ", ".join(f"{k} {v:.3f}" for k, v in list(shown.items())[:6])
    print(f"finished: embeddings ({args.embedder}) in {args.run_dir}; {summary}")
    print(
        f"{result.timings.get('seconds', float('nan')):.1f} s; the model ran on "
        f"{result.cache_stats.get('model_windows', 0)} window(s) (the rest came from the cache)"
    )
    return 0
