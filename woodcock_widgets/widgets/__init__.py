"""Jupyter widgets over the core: ipywidgets 8 and bqplot marks only, no custom JavaScript.

Each widget turns its controls into core calls and shows the result::

    from woodcock_widgets.widgets import (
        SpectrogramInspector, LabelRemapper, SplitBalance, TrainingControl, ResultsReview,
    )

Display one by leaving it as the last expression of a cell. Errors raised by a control
are shown inside the widget (and kept in its ``errors.messages``).
"""

from __future__ import annotations

from .inspector import SpectrogramInspector
from .labeling_grid import LabelingGrid
from .long_recording import LongRecordingView
from .remapper import LabelRemapper
from .results_review import ResultsReview
from .split_balance import SplitBalance
from .training_control import TrainingControl

__all__ = [
    "SpectrogramInspector",
    "LabelRemapper",
    "SplitBalance",
    "TrainingControl",
    "ResultsReview",
    "LongRecordingView",
    "LabelingGrid",
]
