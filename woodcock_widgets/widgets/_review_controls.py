"""Sub-views of the results review: the corrections bar and the long-recording panel.

Each keeps its own part of the state (the corrections and their CSV; the scored recording)
and calls the core for the work (:mod:`woodcock_widgets.tables.corrections`,
:func:`woodcock_widgets.ml.review.export_raven`);
:class:`~.results_review.ResultsReview` wires them to the class and the threshold.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets

from ..errors import LabelError
from ..ml.review import export_raven
from ..tables.corrections import (
    add_correction,
    read_corrections,
    stored_path,
    write_corrections,
)
from ._plots import score_figure
from ._tables import frame_html, status_html

__all__ = ["CorrectionsBar", "RecordingPanel"]


class CorrectionsBar(widgets.VBox):
    """ "Relabel this clip as …", where the corrections go, and the last corrections.

    Parameters
    ----------
    options : sequence of (str, int)
        The class values offered, with their codes.
    path : pathlib.Path
        The corrections CSV it starts with (its corrections are read).
    columns : (str, str)
        The label column and the filename column of a correction.
    on_relabel : callable
        ``on_relabel(code)`` when the button is clicked.
    """

    def __init__(
        self,
        options: Sequence[tuple[str, int]],
        path: Path,
        columns: tuple[str, str],
        on_relabel: Callable[[int], None],
    ) -> None:
        super().__init__()
        self.path, self.columns = path, columns
        self.corrections = read_corrections(path, *columns)
        self.relabel_dropdown = widgets.Dropdown(options=list(options), description="relabel as")
        self.relabel_button = widgets.Button(
            description="Relabel this clip", icon="pencil", layout=widgets.Layout(width="auto")
        )
        self.corrections_text = widgets.Text(
            value=str(path), description="corrections", layout=widgets.Layout(width="50%")
        )
        self.corrections_html = widgets.HTML()
        self.relabel_button.on_click(lambda _: on_relabel(self.relabel_dropdown.value))
        self.children = [
            widgets.HBox([self.relabel_dropdown, self.relabel_button, self.corrections_text]),
            self.corrections_html,
        ]

    def target(self) -> Path:
        """The CSV the next correction goes to (the path field, else the last one)."""
        return Path(self.corrections_text.value.strip() or self.path)

    def add(self, clip: str, value: object, source: Path | None) -> Path:
        """Relabel ``clip`` ``value`` (a later fix wins); rewrite the CSV atomically.

        The CSV names the clip relative to its folder where it is nearby.
        """
        path = self.target()
        filename = stored_path(clip, path.parent)
        updated = add_correction(self.corrections, filename, value, *self.columns)
        write_corrections(updated, path, source=source)
        self.corrections, self.path = updated, path
        self.show(f"{filename} relabeled {value!r}")
        return path

    def show(self, done: str = "") -> None:
        """List the last corrections (and what was just done)."""
        n = len(self.corrections)
        if not n:
            self.corrections_html.value = ""
            return
        line = f"{n} correction(s) in {self.path}" + (f" · {done}" if done else "")
        self.corrections_html.value = status_html(line, "ok" if done else "info") + frame_html(
            self.corrections.tail(5)
        )


class RecordingPanel(widgets.VBox):
    """A long recording's scores over time, its detections, and the Raven export.

    Parameters
    ----------
    raven_dir : pathlib.Path
        The folder Raven tables go to (the path field starts there).
    on_score : callable
        ``on_score(path_text)`` when "Score recording" is clicked.
    on_export : callable
        ``on_export()`` when "Export Raven table" is clicked.

    Attributes
    ----------
    recording : pathlib.Path or None
        The recording scored last.
    scores : pandas.DataFrame or None
        Its window scores (``file, start_time, end_time`` + one column per class).
    status : str
        What the last export wrote (a trait); emptied once the class, the threshold or the
        recording shown differ from those exported.
    """

    status = traitlets.Unicode(help="What the last Raven export wrote ('' once out of date).")

    def __init__(
        self, raven_dir: Path, on_score: Callable[[str], None], on_export: Callable[[], None]
    ) -> None:
        super().__init__()
        self.raven_dir = raven_dir
        self.recording: Path | None = None
        self.scores: pd.DataFrame | None = None
        self._shown: tuple = ()
        self._exported: tuple | None = None
        raven_path = raven_dir / "recording.selections.txt"
        self.recording_text = widgets.Text(
            value="",
            placeholder="path to a long recording",
            description="recording",
            layout=widgets.Layout(width="50%"),
        )
        self.score_button = widgets.Button(
            description="Score recording", icon="search", layout=widgets.Layout(width="auto")
        )
        self.score_fig, self.score_lines, self.detection_marks, self.threshold_line = score_figure()
        self.raven_text = widgets.Text(
            value=str(raven_path), description="Raven table", layout=widgets.Layout(width="50%")
        )
        self.raven_button = widgets.Button(
            description="Export Raven table", icon="download", layout=widgets.Layout(width="auto")
        )
        self.status_html = widgets.HTML()
        self.score_button.on_click(lambda _: on_score(self.recording_text.value.strip()))
        self.raven_button.on_click(lambda _: on_export())
        self.observe(lambda ch: self._show_status(ch["new"]), names="status")
        self.children = [
            widgets.HTML("<b>long recording</b>"),
            widgets.HBox([self.recording_text, self.score_button]),
            self.score_fig,
            widgets.HBox([self.raven_text, self.raven_button]),
            self.status_html,
        ]

    def score(self, path, scorer: Callable, name: str, threshold: float) -> pd.DataFrame:
        """Score the recording at ``path`` with ``scorer(path)``, keep and draw its scores.

        Its Raven table goes to ``raven/<name>.selections.txt``.
        """
        if not str(path):
            raise LabelError("type the path of a recording first")
        scores = scorer(path)
        self.scores, self.recording = scores, Path(path)
        if self.recording_text.value != str(path):
            self.recording_text.value = str(path)
        name_txt = self.recording.with_suffix(".selections.txt").name
        self.raven_text.value = str(self.raven_dir / name_txt)
        self.draw(name, threshold)
        return scores

    def export(self, path, name: str, threshold: float, high_freq: float) -> Path:
        """Write class ``name``'s detections at ``threshold`` (path: the field's); say so."""
        if self.scores is None:
            raise LabelError("score a recording first")
        target = Path(path if path is not None else self.raven_text.value.strip())
        if not str(target) or str(target) == ".":
            raise LabelError("type a file name for the Raven table")
        written, dets = export_raven(self.scores, name, threshold, target, high_freq=high_freq)
        self._exported = self._shown
        self.status = (
            f"{len(dets)} detection(s) of {name} at threshold {threshold:.2f} written to {written}"
        )
        return written

    def _show_status(self, text: str) -> None:
        """Say what the last export wrote ('' clears it)."""
        self.status_html.value = status_html(text, "ok") if text else ""

    def draw(self, name: str, threshold: float) -> None:
        """Draw class ``name``'s window scores over time and those at least ``threshold``."""
        self._shown = (name, float(threshold), self.recording)
        if self.status and self._exported != self._shown:
            self.status = ""  # the exported table holds other detections than those shown
        scores = self.scores
        if scores is None:
            return
        centres = ((scores["start_time"] + scores["end_time"]) / 2).to_numpy(float)
        values = scores[name].to_numpy(float)
        hit = values >= threshold
        with self.score_lines.hold_sync():
            self.score_lines.x = centres
            self.score_lines.y = values
        with self.detection_marks.hold_sync():
            self.detection_marks.x = centres[hit]
            self.detection_marks.y = values[hit]
        end = float(scores["end_time"].max()) if len(scores) else 1.0
        with self.threshold_line.hold_sync():
            self.threshold_line.x = np.array([0.0, end])
            self.threshold_line.y = np.array([threshold, threshold])
