"""Scores of the rows of a table: the one way a model scores a labeled table.

Evaluation (:func:`~woodcock_widgets.ml.evaluation.evaluate_bundle`) and the review
(:func:`~woodcock_widgets.ml.review.score_clips`) both score through :func:`score_table`,
which for a CNN bundle goes through the one scoring pass,
:func:`~woodcock_widgets.ml.predict.score_batches`. Torch is imported when it is called.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["score_table"]


def score_table(
    bundle,
    df: pd.DataFrame,
    filename_column: str = "filename",
    offset_column: str | None = None,
    batch_size: int = 32,
    device: str = "cpu",
    precision: str = "fp32",
) -> np.ndarray:
    """Scores ``(n, n_classes)`` of the rows of a table, the way validation scores them.

    A CNN bundle reads each row's clip (``clip_seconds`` from ``offset_column``, or from the
    start) through :class:`~woodcock_widgets.ml.datasets.AudioClipDataset` and scores it
    with :func:`~woodcock_widgets.ml.predict.score_batches`; an embedding bundle uses its own
    ``score_clips`` (a row is ``start_time`` to ``end_time`` where the table has them).
    :func:`~woodcock_widgets.ml.evaluation.evaluate_bundle` and
    :func:`~woodcock_widgets.ml.review.score_clips` both score through this function.

    Parameters
    ----------
    bundle : ModelBundle or EmbeddingBundle
        The model.
    df : pandas.DataFrame
        Rows with audio paths (absolute, or relative to the working folder).
    filename_column : str
        The audio path column.
    offset_column : str, optional
        Start of each row's clip in its file, in seconds.
    batch_size : int
        Clips per forward pass.
    device : str
        Where to run the model.
    precision : {"auto", "fp32", "bf16", "fp16"}
        Autocast precision; float32 by default, so the scores are exact.

    Raises
    ------
    AudioLoadError
        An unreadable clip (naming its row and file).
    """
    if hasattr(bundle, "score_clips"):  # EmbeddingBundle: embedder + shallow head
        return np.asarray(bundle.score_clips(df, filename_column, batch_size), dtype=np.float32)
    from .datasets import AudioClipDataset
    from .predict import score_batches

    ds = AudioClipDataset(
        df,
        label_dict=bundle.label_dict,
        label_column=None,
        filename_column=filename_column,
        preprocessing=bundle.preprocessing,
        cache=False,
        offset_column=offset_column,
    )
    step = max(int(batch_size), 1)

    def batches(channels_last: bool):
        for start in range(0, len(ds), step):
            yield ds.batch(range(start, min(start + step, len(ds))), channels_last)[0]

    return score_batches(bundle, batches, device, precision)
