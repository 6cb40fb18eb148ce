"""ResultsReview: confusion matrix, clips per cell, thresholds, long recordings, corrections."""

from __future__ import annotations

import json
import os
from pathlib import Path

import ipywidgets as widgets
import numpy as np
import pandas as pd

from ..errors import BundleError, LabelError
from ..ml.bundle import ModelBundle
from ..ml.predict import detections, predict_recording, to_raven_table, write_raven_table
from ..ml.review import (
    ClipScores,
    add_correction,
    class_values,
    read_corrections,
    score_clips,
    write_corrections,
)
from ..tables.labels import read_labels
from ..tables.labeled import CODE_COLUMN
from ._errors import ErrorLog
from ._plots import heatmap_figure, score_figure
from ._tables import frame_html, mapping_html, status_html
from .inspector import SpectrogramInspector

__all__ = ["ResultsReview"]


def _load_bundle(source: ModelBundle | str | os.PathLike) -> tuple[ModelBundle, Path | None]:
    """The bundle and, when ``source`` is a run folder (or a file in one), that folder."""
    if isinstance(source, ModelBundle):
        run_dir = source.extra.get("run_dir")
        return source, Path(run_dir) if run_dir and Path(run_dir).is_dir() else None
    path = Path(source)
    if path.is_dir():
        for name in ("best.pt", "last.pt"):
            if (path / name).is_file():
                return ModelBundle.load(path / name), path
        raise BundleError(f"run folder {path} has no best.pt or last.pt (no epoch finished)")
    bundle = ModelBundle.load(path)
    return bundle, path.parent if (path.parent / "config.json").is_file() else None


class ResultsReview(widgets.VBox):
    """Review a trained model: confusion matrix, the clips behind each cell, thresholds.

    Click a confusion-matrix cell (e.g. true ``present``, predicted ``absent``: the false
    negatives) to see and hear those clips in a :class:`SpectrogramInspector`; relabel a
    clip to add it to a corrections CSV (``filename,<label column>``, written atomically,
    read back by :func:`woodcock_widgets.labels.apply_corrections`). A per-class threshold
    slider updates precision and recall; a long recording's scores are drawn over time with
    the detections above the threshold, exportable as a Raven selection table.

    Parameters
    ----------
    bundle_or_run_dir : ModelBundle or path
        A bundle, a bundle file (``best.pt``), or a run folder (its ``best.pt`` is used).
    df : pandas.DataFrame or path, optional
        Labeled clips to review; default: the run folder's ``valid.csv``.
    label_column : str, optional
        The class column (values as in the label table, e.g. ``present``); default: the
        run's class column. Without one, the ``NumericLabels`` codes are used.
    filename_column : str
        The audio path column.
    positive_class : str or int, optional
        Class whose threshold the slider sets (default: the last class, e.g. ``present``).
    threshold : float
        Starting detection threshold.
    recording : path, optional
        A long recording to score at once.
    overlap : float
        Window overlap (s) for the long recording.
    corrections_path : path, optional
        The corrections CSV (default: ``corrections.csv`` in the run folder, else in the
        working folder); existing corrections are kept.
    batch_size : int
        Clips per forward pass.
    device : str
        Where to run the model.

    Attributes
    ----------
    bundle : ModelBundle
    scores : ClipScores
        Scores, true codes; confusion, metrics and cell rows at any threshold.
    confusion : numpy.ndarray
        ``C[true, predicted]`` at the current threshold.
    cell : tuple of int or None
        The selected ``(true, predicted)`` codes.
    cell_rows : list
        Index labels of the clips in that cell.
    inspector : SpectrogramInspector
        Shows those clips.
    corrections : pandas.DataFrame
        The corrections so far.
    recording_scores : pandas.DataFrame or None
        Window scores of the long recording.

    Examples
    --------
    >>> from woodcock_widgets.widgets import ResultsReview
    >>> review = ResultsReview("runs/r1", recording="field/dawn.wav")  # doctest: +SKIP
    >>> review                                   # display; click a confusion cell
    >>> review.select_cell("present", "absent")  # the false negatives, in the inspector
    >>> review.set_threshold(0.3)                # precision/recall of "present" at 0.3
    >>> review.relabel("absent")                 # the shown clip → corrections.csv
    >>> review.export_raven("dawn.selections.txt")
    """

    def __init__(
        self,
        bundle_or_run_dir: ModelBundle | str | os.PathLike,
        df: pd.DataFrame | str | os.PathLike | None = None,
        *,
        label_column: str | None = None,
        filename_column: str = "filename",
        positive_class: str | int | None = None,
        threshold: float = 0.5,
        recording: str | os.PathLike | None = None,
        overlap: float = 0.0,
        corrections_path: str | os.PathLike | None = None,
        batch_size: int = 32,
        device: str = "cpu",
    ) -> None:
        super().__init__()
        self.bundle, self.run_dir = _load_bundle(bundle_or_run_dir)
        self.filename_column = filename_column
        self.device = device
        self.errors = ErrorLog()
        self.source_path: Path | None = None
        if df is None:
            if self.run_dir is None or not (self.run_dir / "valid.csv").is_file():
                raise LabelError("no table to review: pass df (or a run folder with valid.csv)")
            df = self.run_dir / "valid.csv"
        if not isinstance(df, pd.DataFrame):
            self.source_path = Path(df)
            df = read_labels(df, filename_column=filename_column, check_files=False)
        if label_column is None and self.run_dir is not None:
            label_column = self._run_class_column()
        if label_column is not None and label_column not in df.columns:
            label_column = None if CODE_COLUMN in df.columns else label_column
        self.label_column = label_column
        self.df = df
        self.scores: ClipScores = score_clips(
            self.bundle, df, label_column, filename_column, batch_size, device
        )
        names = self.scores.class_names
        self.class_names = names
        self.correction_column = label_column or CODE_COLUMN
        self._values = class_values(df, names, label_column)
        self.corrections_path = Path(
            corrections_path
            if corrections_path is not None
            else (self.run_dir or Path(".")) / "corrections.csv"
        )
        self.corrections = read_corrections(
            self.corrections_path, self.correction_column, filename_column
        )
        self.cell: tuple[int, int] | None = None
        self.cell_rows: list = list(df.index)
        self.recording: Path | None = None
        self.recording_scores: pd.DataFrame | None = None
        self.overlap = float(overlap)
        self._build(self._code(positive_class), threshold)
        self.refresh()
        if recording is not None:
            self.score_recording(recording)

    def _run_class_column(self) -> str | None:
        try:
            return json.loads((self.run_dir / "config.json").read_text()).get("class_column")
        except (OSError, ValueError):
            return None

    def _code(self, cls: str | int | None) -> int:
        names = self.class_names
        if cls is None:
            return len(names) - 1
        if isinstance(cls, int | np.integer) and 0 <= int(cls) < len(names):
            return int(cls)
        for code, name in enumerate(names):
            if str(cls) in (name, self._values.get(code)):
                return code
        raise LabelError(f"unknown class {cls!r}; the model's classes are {names}")

    # ------------------------------------------------------------------ layout
    def _build(self, positive: int, threshold: float) -> None:
        guard = self.errors.guard
        names = self.class_names
        self.header = widgets.HTML()
        self.class_dropdown = widgets.Dropdown(
            options=[(n, i) for i, n in enumerate(names)], value=positive, description="class"
        )
        self.threshold = widgets.FloatSlider(
            value=threshold,
            min=0.0,
            max=1.0,
            step=0.01,
            description="threshold",
            readout_format=".2f",
        )
        self.metrics_html = widgets.HTML()
        self.figure, self.heatmap = heatmap_figure(names)
        self.figure.layout.width = "45%"
        self.cell_html = widgets.HTML()
        label_columns = ["true", "predicted", *[f"score_{n}" for n in names]]
        self.inspector = SpectrogramInspector(
            self.scores.table(positive, threshold),
            self.filename_column,
            label_columns=label_columns,
            preprocessing=self.bundle.preprocessing,
        )
        value_options = [(str(v), k) for k, v in sorted(self._values.items())]
        self.relabel_dropdown = widgets.Dropdown(options=value_options, description="relabel as")
        self.relabel_button = widgets.Button(description="Relabel this clip", icon="pencil")
        self.corrections_text = widgets.Text(
            value=str(self.corrections_path),
            description="corrections",
            layout=widgets.Layout(width="50%"),
        )
        self.corrections_html = widgets.HTML()
        self.recording_text = widgets.Text(
            value="",
            placeholder="path to a long recording",
            description="recording",
            layout=widgets.Layout(width="50%"),
        )
        self.score_button = widgets.Button(description="Score recording", icon="search")
        self.score_fig, self.score_lines, self.detection_marks, self.threshold_line = score_figure()
        self.raven_text = widgets.Text(
            value="",
            placeholder="selections.txt",
            description="Raven table",
            layout=widgets.Layout(width="50%"),
        )
        self.raven_button = widgets.Button(description="Export Raven table", icon="download")
        self.status = widgets.HTML()

        self.class_dropdown.observe(guard(lambda _: self.refresh()), names="value")
        self.threshold.observe(guard(lambda _: self.refresh()), names="value")
        self.heatmap.observe(guard(self._on_select), names="selected")
        self.relabel_button.on_click(guard(lambda _: self.relabel(self.relabel_dropdown.value)))
        self.score_button.on_click(
            guard(lambda _: self.score_recording(self.recording_text.value.strip()))
        )
        self.raven_button.on_click(guard(lambda _: self.export_raven()))

        self.children = [
            self.header,
            widgets.HBox([self.class_dropdown, self.threshold]),
            widgets.HBox([self.figure, self.metrics_html]),
            self.cell_html,
            self.inspector,
            widgets.HBox([self.relabel_dropdown, self.relabel_button, self.corrections_text]),
            self.corrections_html,
            widgets.HTML("<b>long recording</b>"),
            widgets.HBox([self.recording_text, self.score_button]),
            self.score_fig,
            widgets.HBox([self.raven_text, self.raven_button]),
            self.status,
            self.errors.output,
        ]
        self._show_corrections()

    # ------------------------------------------------------------ public API
    @property
    def positive(self) -> int:
        """Code of the class the threshold applies to."""
        return int(self.class_dropdown.value)

    @property
    def confusion(self) -> np.ndarray:
        """Confusion matrix at the current threshold."""
        return self.scores.confusion(self.positive, float(self.threshold.value))

    @property
    def threshold_metrics(self) -> dict[str, float]:
        """Precision, recall, F1, tp, fp, fn of the chosen class at the threshold."""
        return self.scores.threshold_metrics(self.positive, float(self.threshold.value))

    def set_threshold(self, value: float, positive_class: str | int | None = None) -> None:
        """Set the detection threshold (and optionally the class it applies to)."""
        if positive_class is not None:
            self.class_dropdown.value = self._code(positive_class)
        self.threshold.value = float(value)

    def refresh(self) -> None:
        """Recompute metrics, the confusion matrix and the cell's clips at the threshold."""
        pos, thr = self.positive, float(self.threshold.value)
        m = self.scores.threshold_metrics(pos, thr)
        overall = self.scores.metrics(pos, thr)
        name = self.class_names[pos]
        self.metrics_html.value = mapping_html(
            {
                f"precision ({name})": f"{m['precision']:.3f}",
                f"recall ({name})": f"{m['recall']:.3f}",
                f"F1 ({name})": f"{m['f1']:.3f}",
                "true / false positives": f"{m['tp']} / {m['fp']}",
                "false negatives": m["fn"],
                "accuracy (all classes)": f"{overall['accuracy']:.3f}",
                "macro F1": f"{overall['f1']:.3f}",
            },
            "at threshold",
            f"{thr:.2f}",
        )
        with self.heatmap.hold_sync():
            self.heatmap.color = self.confusion.astype(float)
        self.header.value = (
            f"<b>{len(self.df)} clips</b> scored by {self.bundle.arch} "
            f"({', '.join(self.class_names)})"
        )
        if self.cell is not None:
            self.cell_rows = self.scores.cell_rows(*self.cell, pos, thr)
        self.inspector.set_table(self.scores.table(pos, thr), rows=self.cell_rows)
        self._show_cell()
        self._draw_recording()

    def select_cell(self, true_class: str | int, predicted_class: str | int) -> list:
        """List the clips of one confusion-matrix cell in the inspector; return their rows."""
        cell = (self._code(true_class), self._code(predicted_class))
        self.cell = cell
        self.cell_rows = self.scores.cell_rows(*cell, self.positive, float(self.threshold.value))
        selected = [list(cell)]
        if self.heatmap.selected is None or np.asarray(self.heatmap.selected).tolist() != selected:
            self.heatmap.selected = selected
        self.inspector.set_rows(self.cell_rows)
        self._show_cell()
        return list(self.cell_rows)

    def clear_cell(self) -> None:
        """Show every clip again."""
        self.cell, self.cell_rows = None, list(self.df.index)
        self.heatmap.selected = None
        self.inspector.set_rows(None)
        self._show_cell()

    def relabel(self, value: object, row: object = None) -> Path:
        """Record that the clip ``row`` (default: the one shown) has label ``value``.

        ``value`` is a class code or the table's class value (e.g. ``"absent"``). The
        corrections CSV is rewritten atomically at once.
        """
        row = self.inspector.row if row is None else row
        if row is None:
            raise LabelError("no clip is shown to relabel")
        code = self._code(value)
        stored = self._values[code] if self.label_column is not None else code
        filename = str(self.df.at[row, self.filename_column])
        updated = add_correction(
            self.corrections, filename, stored, self.correction_column, self.filename_column
        )
        path = Path(self.corrections_text.value.strip() or self.corrections_path)
        write_corrections(updated, path, source=self.source_path)
        self.corrections, self.corrections_path = updated, path
        self._show_corrections()
        self.status.value = status_html(f"row {row} relabeled {stored!r} in {path}", "ok")
        return path

    def score_recording(self, path: str | os.PathLike) -> pd.DataFrame:
        """Score a long recording window by window and draw the scores over time."""
        if not str(path):
            raise LabelError("type the path of a recording first")
        self.recording_scores = predict_recording(
            self.bundle, path, overlap=self.overlap, device=self.device
        )
        self.recording = Path(path)
        if self.recording_text.value != str(path):
            self.recording_text.value = str(path)
        if not self.raven_text.value:
            name = self.recording.with_suffix(".selections.txt").name
            self.raven_text.value = str((self.run_dir or Path(".")) / name)
        self._draw_recording()
        return self.recording_scores

    @property
    def detections(self) -> pd.DataFrame | None:
        """Windows of the recording scoring at least the threshold for the chosen class."""
        if self.recording_scores is None:
            return None
        name = self.class_names[self.positive]
        return detections(self.recording_scores, name, float(self.threshold.value))

    def export_raven(self, path: str | os.PathLike | None = None) -> Path:
        """Write the detections as a Raven selection table (tab-separated, atomic)."""
        dets = self.detections
        if dets is None:
            raise LabelError("score a recording first")
        target = Path(path if path is not None else self.raven_text.value.strip())
        if not str(target) or str(target) == ".":
            raise LabelError("type a file name for the Raven table")
        high = self.bundle.preprocessing.sample_rate / 2
        written = write_raven_table(to_raven_table(dets, high_freq=high), target)
        self.status.value = status_html(f"{len(dets)} detection(s) written to {written}", "ok")
        return written

    # --------------------------------------------------------------- helpers
    def _on_select(self, change) -> None:
        sel = change["new"]
        if sel is None or len(sel) == 0:
            if self.cell is not None:
                self.clear_cell()
            return
        true, pred = (int(v) for v in np.asarray(sel)[-1])
        if self.cell != (true, pred):
            self.select_cell(true, pred)

    def _show_cell(self) -> None:
        if self.cell is None:
            self.cell_html.value = (
                f"all {len(self.df)} clips · click a confusion-matrix cell to list its clips"
            )
            return
        t, p = self.cell
        kind = ""
        if len(self.class_names) == 2 and t != p:
            kind = " (false negatives)" if t == self.positive else " (false positives)"
        self.cell_html.value = (
            f"true <b>{self.class_names[t]}</b> · predicted <b>{self.class_names[p]}</b>: "
            f"{len(self.cell_rows)} clip(s){kind}"
        )

    def _show_corrections(self) -> None:
        n = len(self.corrections)
        self.corrections_html.value = (
            f"{n} correction(s) in {self.corrections_path}" + frame_html(self.corrections.tail(5))
            if n
            else ""
        )

    def _draw_recording(self) -> None:
        scores = self.recording_scores
        if scores is None:
            return
        name = self.class_names[self.positive]
        thr = float(self.threshold.value)
        centres = ((scores["start_time"] + scores["end_time"]) / 2).to_numpy(float)
        values = scores[name].to_numpy(float)
        hit = values >= thr
        with self.score_lines.hold_sync():
            self.score_lines.x = centres
            self.score_lines.y = values
        with self.detection_marks.hold_sync():
            self.detection_marks.x = centres[hit]
            self.detection_marks.y = values[hit]
        end = float(scores["end_time"].max()) if len(scores) else 1.0
        with self.threshold_line.hold_sync():
            self.threshold_line.x = np.array([0.0, end])
            self.threshold_line.y = np.array([thr, thr])
