"""RecordingReview: a results review's long recording, scored over time and sent to Raven.

A mixin of :class:`~woodcock_widgets.widgets.results_review.ResultsReview`: it scores a long
recording window by window, gives the detections of the chosen class at the threshold and
writes them as a Raven selection table, through the review's
:class:`~._review_controls.RecordingPanel` (``recording_panel``). The review provides
``_score_file(path)`` (its model's window scores of a file), ``bundle``, ``class_names``,
``positive``, ``threshold`` and ``errors``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ..ml.predict import detections

__all__ = ["RecordingReview"]


class RecordingReview:
    """Long-recording scoring, detections and Raven export of a review (module docstring)."""

    def score_recording(self, path: str | os.PathLike) -> pd.DataFrame:
        """Score a long recording window by window and draw the scores over time."""
        name, thr = self.class_names[self.positive], self.threshold
        with self.errors.raising():
            return self.recording_panel.score(path, self._score_file, name, thr)

    @property
    def detections(self) -> pd.DataFrame | None:
        """Windows of the recording scoring at least the threshold for the chosen class."""
        if self.recording_scores is None:
            return None
        return detections(self.recording_scores, self.class_names[self.positive], self.threshold)

    def export_raven(self, path: str | os.PathLike | None = None) -> Path:
        """Write the detections as a Raven selection table (tab-separated, atomic).

        ``path`` defaults to the path field: ``raven/<recording>.selections.txt``.
        """
        name, high = self.class_names[self.positive], self.bundle.preprocessing.sample_rate / 2
        with self.errors.raising():
            return self.recording_panel.export(path, name, self.threshold, high)

    raven_dir = property(lambda self: self.recording_panel.raven_dir, doc="Raven tables' folder.")
    recording = property(lambda self: self.recording_panel.recording, doc="Recording scored.")
    recording_scores = property(
        lambda self: self.recording_panel.scores, doc="Its window scores (or None)."
    )
