"""Notebook 05 of the "your own recordings" chain: open its labeling loop.

:func:`open_loop` opens a :class:`~woodcock_widgets.workflow.labeling_loop.LabelingLoop` in
the chain's run folder (``RUN/labeling/``, label table ``RUN/labeling/answers.csv``) over the
windows notebook 2 trained on (or a folder of new recordings), starting from a few positive
windows of the class or from the model notebook 2 trained. The headless rounds and the
stand-in person are :mod:`woodcock_widgets.workflow.labeling_session`'s.
"""

from __future__ import annotations

from ..errors import TutorialError
from ..tables.windows import WINDOW_COLUMNS, read_window_table
from ..workflow.labeling_loop import LabelingLoop
from .own_recordings import OwnRecordingsRun

__all__ = ["START_FROM", "open_loop"]

#: Where a loop starts: a few labeled windows, or the model notebook 2 trained.
START_FROM = ("examples", "model")

_OPEN: dict[str, LabelingLoop] = {}  # the loop each run folder has open in this kernel


def open_loop(
    run: OwnRecordingsRun,
    labeling_class: str = "",
    start_from: str = "examples",
    examples: int = 5,
    seed: int = 0,
    recordings: str = "",
    embedder=None,
) -> LabelingLoop:
    """The chain's labeling loop, continuing where an earlier one in the folder stopped.

    Parameters
    ----------
    run : OwnRecordingsRun
        The run folder (notebooks 1 and 2 have run).
    labeling_class : str
        The class to label ("": the first class of notebook 1's windows).
    start_from : {"examples", "model"}
        ``examples``: ``examples`` random positive windows of the class among notebook 2's
        training windows (an answer from your annotations), embedded with BirdNET (or
        ``embedder``); ``model``: the model notebook 2 trained (its embedder, its scores).
    examples : int
        How many positive windows to start from.
    seed : int
        Picks the examples and the random pages.
    recordings : str
        A folder of recordings to label ("": the recordings notebook 2 trained on, as its
        windows).
    embedder : Embedder, optional
        For ``examples`` (default: BirdNET).

    Returns
    -------
    LabelingLoop
        Opened for writing. A loop this function opened earlier for the same folder (a cell
        run again) is closed first, so its label table is free.

    Raises
    ------
    TutorialError
        An unknown ``start_from`` or class, or notebook 1 or 2 has not run.
    """
    from ..workflow.labeling_session import start_examples

    if start_from not in START_FROM:
        raise TutorialError(f"start_from must be one of {list(START_FROM)}, got {start_from!r}")
    for path, notebook in ((run.windows_csv, 1), (run.train_windows_csv, 2)):
        if not path.is_file():
            raise TutorialError(f"{path} not found: run notebook {notebook} first")
    windows = read_window_table(run.windows_csv)
    classes = [c for c in windows.columns if c not in WINDOW_COLUMNS]
    cls = labeling_class or classes[0]
    if cls not in classes:
        raise TutorialError(f"labeling_class {cls!r} is not a class of notebook 1: {classes}")
    train = read_window_table(run.train_windows_csv)
    seconds = float((windows["end_time"] - windows["start_time"]).median())
    source = recordings or train[WINDOW_COLUMNS]
    earlier = _OPEN.pop(str(run.path.resolve()), None)
    if earlier is not None:
        earlier.close()
    store, folder = run.answers_csv, run.labeling_dir
    if start_from == "model":
        loop = LabelingLoop.from_bundle(
            source, run.training.best, store, folder, [cls], window_seconds=seconds, seed=seed,
            progress=False,
        )  # fmt: skip
    else:
        if embedder is None:
            from ..ml.embedders import BirdNETEmbedder

            embedder = BirdNETEmbedder()
        start = start_examples(train, cls, examples, seed)
        loop = LabelingLoop(
            source, seconds, embedder, store, folder, [cls], start=start, seed=seed,
            progress=False,
        )  # fmt: skip
    _OPEN[str(run.path.resolve())] = loop
    return loop
