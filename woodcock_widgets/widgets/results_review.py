"""ResultsReview: confusion matrix, clips per cell, thresholds, long recordings, corrections."""

from __future__ import annotations

import html
import os
from pathlib import Path

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets

from ..errors import LabelError
from ..ml.bundle import ModelBundle
from ..ml.predict import detections, predict_recording
from ..ml.review import ClipScores, class_values, export_raven, score_clips
from ..tables.corrections import (
    add_correction,
    read_corrections,
    stored_path,
    write_corrections,
)
from ..tables.labeled import CODE_COLUMN
from ..tables.labels import read_labels
from ..workflow.run_folder import RunFolder
from ._errors import ErrorLog
from ._plots import HEATMAP_STYLE, heatmap_figure, score_figure, set_confusion
from ._tables import frame_html, mapping_html, status_html
from .inspector import SpectrogramInspector

__all__ = ["ResultsReview"]

CORRECTIONS_NAME = "corrections.csv"  # beside the run, unless corrections_path says where
RAVEN_DIR_NAME = "raven"  # where the tutorial's notebook writes its Raven tables
_REVIEW_COLUMNS = ["true", "predicted", "score"]


def _open(source: ModelBundle | str | os.PathLike) -> tuple[ModelBundle, RunFolder | None]:
    """The bundle and the run folder it belongs to (``None`` when it is in none).

    ``source`` is a bundle, a bundle file, or a run folder (its best epoch's bundle).
    """
    if not isinstance(source, str | os.PathLike):
        run_dir = getattr(source, "extra", {}).get("run_dir")
        folder = RunFolder(run_dir) if run_dir else None
        return source, folder if folder is not None and folder.config_path.is_file() else None
    path = Path(source)
    if path.is_dir():
        folder = RunFolder(path)
        return folder.latest_bundle(), folder
    return ModelBundle.load(path), RunFolder.containing(path)


class ResultsReview(widgets.VBox):
    """Review a trained model: confusion matrix, the clips behind each cell, thresholds.

    Click a confusion-matrix cell (e.g. true ``…-present``, predicted ``…-absent``: the
    missed songs) to see and hear those clips in a :class:`SpectrogramInspector`; each
    shows its true and predicted class and its score. Relabel a clip to add it to a
    corrections CSV (paths relative to the run folder, written atomically), which the next
    training applies (:func:`woodcock_widgets.tables.corrections.apply_corrections`). The
    threshold slider updates precision and recall; a long recording's scores are drawn over
    time with the detections above the threshold, exportable as a Raven selection table.

    Build it from a run folder with :meth:`from_run`.

    Parameters
    ----------
    bundle_or_run_dir : ModelBundle or path
        A bundle, a bundle file, or a run folder (its best epoch's bundle is used).
    df : pandas.DataFrame or path, optional
        Labeled clips to review; default: the run's validation clips.
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
    raven_dir : path, optional
        Folder the Raven table of a scored recording goes to (default: ``raven/`` in the
        run folder, else in the working folder); the path field starts there.
    batch_size : int
        Clips per forward pass.
    device : str
        Where to run the model.
    scores : ClipScores, optional
        Scores of ``df`` computed before (e.g. on another machine); default: score now.

    Attributes
    ----------
    threshold : float
        The detection threshold of the chosen class (a trait: observe it, link it, set it).
    positive : int
        Code of the class the threshold applies to (a trait).
    status : str
        What the last Raven export wrote; emptied when the threshold, the class or the
        recording change (the file then no longer matches what is shown).
    bundle : ModelBundle
    run : RunFolder or None
        The run folder the model came from.
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
        The corrections so far (paths as stored).
    recording_scores : pandas.DataFrame or None
        Window scores of the long recording.

    Examples
    --------
    >>> from woodcock_widgets.widgets import ResultsReview
    >>> review = ResultsReview.from_run("runs/r1", recording="dawn.wav")  # doctest: +SKIP
    >>> review                                   # display; click a confusion cell
    >>> review.select_cell("present", "absent")  # the missed songs, in the inspector
    >>> review.threshold = 0.3                   # precision/recall of "present" at 0.3
    >>> review.relabel("absent")                 # the shown clip → corrections.csv
    >>> review.export_raven()                    # raven/dawn.selections.txt
    """

    threshold = traitlets.Float(0.5, help="Detection threshold of the chosen class (0 to 1).")
    positive = traitlets.Int(0, help="Code of the class the threshold applies to.")
    status = traitlets.Unicode(help="What the last Raven export wrote ('' once out of date).")

    @traitlets.validate("threshold")
    def _valid_threshold(self, proposal):
        value = float(proposal["value"])
        if not 0.0 <= value <= 1.0:  # also refuses NaN
            raise traitlets.TraitError(f"threshold must be a score in [0, 1], got {value}")
        return value

    @traitlets.validate("positive")
    def _valid_positive(self, proposal):
        return self._code(proposal["value"])

    @classmethod
    def from_run(
        cls,
        run_dir: str | os.PathLike | RunFolder,
        df: pd.DataFrame | str | os.PathLike | None = None,
        **kwargs,
    ) -> ResultsReview:
        """Review the run in ``run_dir``: its best model on its validation clips.

        Keyword arguments are those of the constructor (``threshold``, ``recording``,
        ``corrections_path``, ``raven_dir`` …).

        Raises
        ------
        BundleError
            No epoch of the run has finished yet.
        """
        folder = run_dir if isinstance(run_dir, RunFolder) else RunFolder(run_dir)
        return cls(folder.path, df, **kwargs)

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
        raven_dir: str | os.PathLike | None = None,
        batch_size: int = 32,
        device: str = "cpu",
        scores: ClipScores | None = None,
    ) -> None:
        super().__init__()
        self.bundle, self.run = _open(bundle_or_run_dir)
        self.run_dir = self.run.path if self.run is not None else None
        self.filename_column = filename_column
        self.device = device
        self.errors = ErrorLog()
        self.source_path: Path | None = None
        if df is None:
            if self.run is None or not self.run.valid_csv.is_file():
                raise LabelError("no table to review: pass df (or a run folder with its clips)")
            df = self.run.valid_csv
        if not isinstance(df, pd.DataFrame):
            self.source_path = Path(df)
            df = read_labels(df, filename_column=filename_column, check_files=False)
        if label_column is None and self.run is not None:
            label_column = self.run.class_column()
        if label_column is not None and label_column not in df.columns:
            label_column = None if CODE_COLUMN in df.columns else label_column
        self.label_column = label_column
        self.df = df
        self.scores: ClipScores = scores or score_clips(
            self.bundle, df, label_column, filename_column, batch_size, device
        )
        self.class_names = list(self.scores.class_names)
        self.correction_column = label_column or CODE_COLUMN
        self._values = class_values(df, self.class_names, label_column)
        here = self.run_dir or Path(".")
        self.corrections_path = Path(corrections_path or here / CORRECTIONS_NAME)
        self.raven_dir = Path(raven_dir or here / RAVEN_DIR_NAME)
        self.corrections = read_corrections(
            self.corrections_path, self.correction_column, filename_column
        )
        self.cell: tuple[int, int] | None = None
        self.cell_rows: list = list(df.index)
        self.recording: Path | None = None
        self.recording_scores: pd.DataFrame | None = None
        self.overlap = float(overlap)
        self._exported: tuple | None = None
        self._ready = False
        self.positive = self._code(positive_class)
        self.threshold = float(threshold)
        self._build()
        self._ready = True
        self.refresh()
        if recording is not None:
            self.score_recording(recording)

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
    def _build(self) -> None:
        guard = self.errors.guard
        names = self.class_names
        self.header_html = widgets.HTML()
        self.class_dropdown = widgets.Dropdown(
            options=[(n, i) for i, n in enumerate(names)],
            value=self.positive,
            description="class",
            layout=widgets.Layout(width="auto"),
        )
        self.threshold_slider = widgets.FloatSlider(
            value=self.threshold,
            min=0.0,
            max=1.0,
            step=0.01,
            description="threshold",
            readout_format=".2f",
            continuous_update=False,
        )
        self.metrics_html = widgets.HTML()
        self.figure, self.heatmap, self.count_labels = heatmap_figure(names)
        self.cell_html = widgets.HTML()
        self.inspector = SpectrogramInspector(
            self.scores.review_table(self.positive, self.threshold),
            self.filename_column,
            label_columns=_REVIEW_COLUMNS,
            preprocessing=self.bundle.preprocessing,
        )
        value_options = [(str(v), k) for k, v in sorted(self._values.items())]
        self.relabel_dropdown = widgets.Dropdown(options=value_options, description="relabel as")
        self.relabel_button = widgets.Button(
            description="Relabel this clip", icon="pencil", layout=widgets.Layout(width="auto")
        )
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
        self.score_button = widgets.Button(
            description="Score recording", icon="search", layout=widgets.Layout(width="auto")
        )
        self.score_fig, self.score_lines, self.detection_marks, self.threshold_line = score_figure()
        self.raven_text = widgets.Text(
            value=str(self.raven_dir / "recording.selections.txt"),
            description="Raven table",
            layout=widgets.Layout(width="50%"),
        )
        self.raven_button = widgets.Button(
            description="Export Raven table", icon="download", layout=widgets.Layout(width="auto")
        )
        self.status_html = widgets.HTML()

        traitlets.link((self, "threshold"), (self.threshold_slider, "value"))
        traitlets.link((self, "positive"), (self.class_dropdown, "value"))
        self.observe(guard(lambda _: self.refresh()), names=["threshold", "positive"])
        self.observe(lambda ch: self._show_status(ch["new"]), names="status")
        self.heatmap.observe(guard(self._on_select), names="selected")
        self.count_labels.observe(guard(self._on_count_click), names="selected")
        self.relabel_button.on_click(guard(lambda _: self.relabel(self.relabel_dropdown.value)))
        self.score_button.on_click(
            guard(lambda _: self.score_recording(self.recording_text.value.strip()))
        )
        self.raven_button.on_click(guard(lambda _: self.export_raven()))

        self.children = [
            self.header_html,
            widgets.HBox([self.class_dropdown, self.threshold_slider]),
            widgets.HBox(
                [self.figure, self.metrics_html, widgets.HTML(HEATMAP_STYLE)],
                layout=widgets.Layout(align_items="center"),
            ),
            self.cell_html,
            self.inspector,
            widgets.HBox([self.relabel_dropdown, self.relabel_button, self.corrections_text]),
            self.corrections_html,
            widgets.HTML("<b>long recording</b>"),
            widgets.HBox([self.recording_text, self.score_button]),
            self.score_fig,
            widgets.HBox([self.raven_text, self.raven_button]),
            self.status_html,
            self.errors.output,
        ]
        self._show_corrections()

    # ------------------------------------------------------------ public API
    @property
    def confusion(self) -> np.ndarray:
        """Confusion matrix at the current threshold."""
        return self.scores.confusion(self.positive, self.threshold)

    @property
    def threshold_metrics(self) -> dict[str, float]:
        """Precision, recall, F1, tp, fp, fn of the chosen class at the threshold."""
        return self.scores.threshold_metrics(self.positive, self.threshold)

    def set_threshold(self, value: float, positive_class: str | int | None = None) -> None:
        """Set the detection threshold (and optionally the class it applies to)."""
        if positive_class is not None:
            self.positive = self._code(positive_class)
        self.threshold = float(value)

    def refresh(self) -> None:
        """Recompute metrics, the confusion matrix and the cell's clips at the threshold."""
        if not self._ready:
            return
        pos, thr = self.positive, self.threshold
        if self.status and self._exported != self._export_state():
            self.status = ""  # the exported table holds other detections than those shown
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
        set_confusion(self.heatmap, self.count_labels, self.confusion)
        self.header_html.value = (
            f"<b>{len(self.df)} clips</b> scored by {html.escape(self.bundle.arch)} "
            f"({html.escape(', '.join(self.class_names))}) · a clip is "
            f"<b>{html.escape(name)}</b> when its score for it is at least the threshold; "
            "<i>score</i> below is that score"
        )
        if self.cell is not None:
            self.cell_rows = self.scores.cell_rows(*self.cell, pos, thr)
        self.inspector.set_table(self.scores.review_table(pos, thr), rows=self.cell_rows)
        self._show_cell()
        self._draw_recording()

    def select_cell(self, true_class: str | int, predicted_class: str | int) -> list:
        """List the clips of one confusion-matrix cell in the inspector; return their rows."""
        cell = (self._code(true_class), self._code(predicted_class))
        self.cell = cell
        self.cell_rows = self.scores.cell_rows(*cell, self.positive, self.threshold)
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
        corrections CSV is rewritten atomically at once, its paths relative to its folder.
        """
        with self.errors.raising():
            row = self.inspector.row if row is None else row
            if row is None:
                raise LabelError("no clip is shown to relabel")
            code = self._code(value)
            stored = self._values[code] if self.label_column is not None else code
            path = Path(self.corrections_text.value.strip() or self.corrections_path)
            filename = stored_path(self.df.at[row, self.filename_column], path.parent)
            updated = add_correction(
                self.corrections, filename, stored, self.correction_column, self.filename_column
            )
            write_corrections(updated, path, source=self.source_path)
        self.corrections, self.corrections_path = updated, path
        self._show_corrections(f"{filename} relabeled {stored!r}")
        return path

    def score_recording(self, path: str | os.PathLike) -> pd.DataFrame:
        """Score a long recording window by window and draw the scores over time."""
        with self.errors.raising():
            if not str(path):
                raise LabelError("type the path of a recording first")
            scores = predict_recording(self.bundle, path, overlap=self.overlap, device=self.device)
        self.recording_scores = scores
        self.recording = Path(path)
        if self.recording_text.value != str(path):
            self.recording_text.value = str(path)
        self.raven_text.value = str(
            self.raven_dir / self.recording.with_suffix(".selections.txt").name
        )
        if self.status and self._exported != self._export_state():
            self.status = ""
        self._draw_recording()
        return self.recording_scores

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
        with self.errors.raising():
            if self.recording_scores is None:
                raise LabelError("score a recording first")
            target = Path(path if path is not None else self.raven_text.value.strip())
            if not str(target) or str(target) == ".":
                raise LabelError("type a file name for the Raven table")
            name = self.class_names[self.positive]
            high = self.bundle.preprocessing.sample_rate / 2
            written, dets = export_raven(
                self.recording_scores, name, self.threshold, target, high_freq=high
            )
        self._exported = self._export_state()
        self.status = (
            f"{len(dets)} detection(s) of {name} at threshold {self.threshold:.2f} "
            f"written to {written}"
        )
        return written

    # --------------------------------------------------------------- helpers
    def _export_state(self) -> tuple:
        return (self.positive, self.threshold, self.recording)

    def _show_status(self, text: str) -> None:
        self.status_html.value = status_html(text, "ok") if text else ""

    def _on_select(self, change) -> None:
        sel = change["new"]
        if sel is None or len(sel) == 0:
            if self.cell is not None:
                self.clear_cell()
            return
        true, pred = (int(v) for v in np.asarray(sel)[-1])
        if self.cell != (true, pred):
            self.select_cell(true, pred)

    def _on_count_click(self, change) -> None:
        sel = change["new"]
        if sel is None or len(sel) == 0:
            return
        true, pred = divmod(int(np.asarray(sel).ravel()[-1]), len(self.class_names))
        self.count_labels.selected = None  # so the same count can be clicked again
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
            f"true <b>{html.escape(self.class_names[t])}</b> · predicted "
            f"<b>{html.escape(self.class_names[p])}</b>: {len(self.cell_rows)} clip(s){kind}"
        )

    def _show_corrections(self, done: str = "") -> None:
        n = len(self.corrections)
        if not n:
            self.corrections_html.value = ""
            return
        line = f"{n} correction(s) in {self.corrections_path}" + (f" · {done}" if done else "")
        self.corrections_html.value = status_html(line, "ok" if done else "info") + frame_html(
            self.corrections.tail(5)
        )

    def _draw_recording(self) -> None:
        scores = self.recording_scores
        if scores is None:
            return
        name = self.class_names[self.positive]
        thr = self.threshold
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
