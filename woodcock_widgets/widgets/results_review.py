"""ResultsReview: confusion, precision–recall per class, the clips behind a cell, corrections.

A view composed of sub-views (:mod:`._review_panels`: the confusion matrix and the PR curve;
:mod:`._review_controls`: the corrections bar and the long-recording panel) over a model's
scores on a table (:mod:`._review_source`): :class:`~woodcock_widgets.ml.review.ClipScores`
for clips or single-target windows, :class:`~woodcock_widgets.ml.window_scores.WindowScores`
for a multi-label model's windows.

Choose a class: its precision–recall curve is drawn with the point the threshold picks, and
the confusion matrix is the classes' (single-target) or, for a multi-label model, the chosen
class's 2×2 (``not <class>`` / ``<class>``) at its threshold. Click a cell (e.g. the missed
songs) to see and hear its clips in a :class:`~.inspector.SpectrogramInspector`. Relabel a
clip to add it to a corrections CSV (paths relative to the run folder, written atomically)
that the next training applies. A long recording's scores are drawn over time with the
detections above the threshold, exportable as a Raven selection table. Windows (a window
run's ``valid.csv``) are scored and shown from their ``start_time``.
"""

from __future__ import annotations

import html
import os
from functools import partial
from pathlib import Path

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets

from ..errors import LabelError
from ..ml.bundle import ModelBundle
from ..ml.class_metrics import per_class_metrics
from ..ml.predict import predict_recording
from ..ml.review import ClipScores, class_values
from ..ml.window_scores import WindowScores, absent_name, class_pr_curve
from ..tables.labeled import CODE_COLUMN
from ..workflow.run_folder import RunFolder
from ._errors import ErrorLog
from ._parts import Part
from ._review_controls import CorrectionsBar, RecordingPanel
from ._review_mistakes import MistakeList
from ._review_panels import ClassChooser, ConfusionPanel, PrCurvePanel
from ._review_recording import RecordingReview
from ._review_source import open_review

__all__ = ["ResultsReview"]

CORRECTIONS_NAME = "corrections.csv"  # beside the run, unless corrections_path says where
RAVEN_DIR_NAME = "raven"  # where the tutorial's notebook writes its Raven tables


def _metrics_shown(scores, class_metrics, pos: int, thr: float) -> dict[str, object]:
    """What the metrics table beside the confusion matrix lists."""
    m, name = scores.threshold_metrics(pos, thr), scores.class_names[pos]
    shown = {
        f"precision ({name})": f"{m['precision']:.3f}",
        f"recall ({name})": f"{m['recall']:.3f}",
        f"F1 ({name})": f"{m['f1']:.3f}",
        "true / false positives": f"{m['tp']} / {m['fp']}",
        "false negatives": m["fn"],
    }
    if isinstance(scores, WindowScores):
        shown["mean AP (all classes)"] = f"{np.nanmean(class_metrics['ap']):.3f}"
    else:
        overall = scores.metrics(pos, thr)
        shown["accuracy (all classes)"] = f"{overall['accuracy']:.3f}"
        shown["macro F1"] = f"{overall['f1']:.3f}"
    return shown


def _class_code(names: list[str], values: dict[int, str], cls: str | int | None) -> int:
    """The code of ``cls``: a code, a class name or the table's value for it (None: last)."""
    if cls is None:
        return len(names) - 1
    if isinstance(cls, int | np.integer) and 0 <= int(cls) < len(names):
        return int(cls)
    for code, name in enumerate(names):
        if str(cls) in (name, values.get(code)):
            return code
    raise LabelError(f"unknown class {cls!r}; the model's classes are {names}")


def _confusion_names(scores, positive: int) -> list[str]:
    """Row and column names of the confusion matrix: the classes, or the chosen one's 2×2."""
    if isinstance(scores, WindowScores):
        return scores.confusion_names(positive)
    return list(scores.class_names)


def _header(review: ResultsReview, name: str) -> str:
    what = "window" if review.windows else "clip"
    return (
        f"<b>{len(review.df)} {what}s</b> scored by {html.escape(review.bundle.arch)} "
        f"({html.escape(', '.join(review.class_names))}) · a {what} is "
        f"<b>{html.escape(name)}</b> when its score for it is at least the threshold; "
        "<i>score</i> below is that score"
    )


class ResultsReview(RecordingReview, widgets.VBox):
    """Review a trained model: confusion, precision–recall per class, clips, thresholds.

    See the module docstring for what it shows. Build it from a run folder with
    :meth:`from_run`; a window run's ``valid.csv`` is read as windows.

    Parameters
    ----------
    bundle_or_run_dir : ModelBundle or path
        A bundle, a bundle file, or a run folder (its best epoch's bundle is used).
    df : pandas.DataFrame or path, optional
        Labeled clips or a window table; default: the run's validation rows.
    label_column : str, optional
        The class column of a clip table; default: the run's (else the codes).
    filename_column : str
        The audio path column of a clip table (a window table's is ``file``).
    positive_class : str or int, optional
        The class chosen first (default: the last, e.g. ``present``).
    threshold : float
        Starting detection threshold.
    recording : path, optional
        A long recording to score at once.
    overlap : float
        Window overlap (s) for the long recording.
    corrections_path, raven_dir : path, optional
        The corrections CSV and the Raven tables' folder (default: ``corrections.csv`` and
        ``raven/`` in the run folder, else in the working folder).
    batch_size, device
        Clips per forward pass, and where to run the model.
    scores : ClipScores or WindowScores, optional
        Scores of ``df`` computed before; default: score now.

    Attributes
    ----------
    threshold, positive, status
        Traits: the chosen class's threshold, its code, what the last Raven export wrote
        (emptied once the threshold, class or recording change).
    bundle, run, scores, class_metrics
        The model, its run folder (or ``None``), the scores, the per-class AP table.
    confusion, cell, cell_rows, inspector
        The matrix at the threshold, the selected cell, its rows, the clip browser.

    Examples
    --------
    >>> review = ResultsReview.from_run("runs/r1", recording="dawn.wav")  # doctest: +SKIP
    >>> review.select_cell("present", "absent")  # the missed songs, in the inspector
    >>> review.threshold = 0.3                   # precision/recall of "present" at 0.3
    >>> review.relabel("absent")                 # the shown clip → corrections.csv
    >>> review.export_raven()                    # raven/dawn.selections.txt
    """

    threshold = traitlets.Float(0.5, help="Detection threshold of the chosen class (0 to 1).")
    positive = traitlets.Int(0, help="Code of the class the threshold applies to.")
    status = traitlets.Unicode(help="What the last Raven export wrote ('' once out of date).")

    figure, heatmap, count_labels, metrics_html = Part.of("confusion_panel", 4)
    pr_figure, pr_lines, pr_point, pr_html = Part.of("pr_panel", 4)
    relabel_dropdown, relabel_button, corrections_text, corrections_html = Part.of("fixes", 4)
    recording_text, score_button, score_fig, score_lines = Part.of("recording_panel", 4)
    detection_marks, threshold_line, raven_text, raven_button = Part.of("recording_panel", 4)
    status_html = Part("recording_panel")
    cell_html, inspector = Part.of("mistakes", 2)
    class_dropdown, threshold_slider = Part.of("chooser", 2)

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
    def from_run(cls, run_dir, df=None, **kwargs) -> ResultsReview:
        """Review the run in ``run_dir`` (a path or RunFolder): its best model on its
        validation rows. Keywords are the constructor's. Raises BundleError before the
        first epoch has finished."""
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
        scores: ClipScores | WindowScores | None = None,
    ) -> None:
        super().__init__()
        src = open_review(
            bundle_or_run_dir, df, label_column, filename_column, scores, batch_size, device
        )
        self.bundle, self.run, self.df, self.scores = src.bundle, src.run, src.df, src.scores
        self.label_column, self.filename_column = src.label_column, src.filename_column
        self.source_path, self.windows = src.source_path, src.windows
        self.run_dir = self.run.path if self.run is not None else None
        self.device, self.overlap, self.errors = device, float(overlap), ErrorLog()
        sc = self.scores
        self.class_names, self.multi_label = list(sc.class_names), isinstance(sc, WindowScores)
        self.class_metrics = per_class_metrics(sc.y_true, sc.scores, self.class_names)
        self._values = class_values(self.df, self.class_names, self.label_column)
        here = self.run_dir or Path(".")
        self._paths = (
            Path(corrections_path or here / CORRECTIONS_NAME),
            Path(raven_dir or here / RAVEN_DIR_NAME),
        )
        self._ready = False
        self.positive = self._code(positive_class)
        self.threshold = float(threshold)
        self._build()
        self._ready = True
        self.refresh()
        if recording is not None:
            self.score_recording(recording)

    def _code(self, cls: str | int | None) -> int:
        return _class_code(self.class_names, self._values, cls)

    def _build(self) -> None:
        guard, names = self.errors.guard, self.class_names
        self.header_html = widgets.HTML()
        self.chooser = ClassChooser(names, self.positive, self.threshold)
        longest = max(names, key=len)
        self.confusion_panel = ConfusionPanel(
            _confusion_names(self.scores, self.positive),
            guard(lambda t, p: self.cell != (t, p) and self.select_cell(t, p)),
            guard(lambda: self.cell is not None and self.clear_cell()),
            size_names=[absent_name(longest), longest] if self.multi_label else None,
        )
        self.pr_panel = PrCurvePanel()
        self.mistakes = MistakeList(
            self.scores, self.filename_column, self.bundle.preprocessing, self.windows,
            partial(_confusion_names, self.scores), self.positive, self.threshold,
        )  # fmt: skip
        options = [(str(v), k) for k, v in sorted(self._values.items())]
        columns = (self.label_column or CODE_COLUMN, self.filename_column)
        self.fixes = CorrectionsBar(options, self._paths[0], columns, guard(self.relabel))
        self.recording_panel = RecordingPanel(
            self._paths[1], guard(self.score_recording), guard(lambda: self.export_raven())
        )
        traitlets.link((self, "threshold"), (self.threshold_slider, "value"))
        traitlets.link((self, "positive"), (self.class_dropdown, "value"))
        self.observe(guard(lambda _: self.refresh()), names=["threshold", "positive"])
        traitlets.link((self, "status"), (self.recording_panel, "status"))
        self.children = [
            self.header_html,
            self.chooser,
            self.confusion_panel,
            self.pr_panel,
            self.mistakes,
            self.fixes,
            self.recording_panel,
            self.errors.output,
        ]
        self.fixes.show()

    # ------------------------------------------------------------ public API
    @property
    def confusion(self) -> np.ndarray:
        """Confusion matrix at the current threshold (2×2 of the class when multi-label)."""
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
        """Redraw metrics, the confusion matrix, the PR curve and the cell at the threshold."""
        if not self._ready:
            return
        pos, thr, name = self.positive, self.threshold, self.class_names[self.positive]
        m = self.scores.threshold_metrics(pos, thr)
        shown = _metrics_shown(self.scores, self.class_metrics, pos, thr)
        names = _confusion_names(self.scores, pos)
        self.confusion_panel.show(self.confusion, names, shown, f"{thr:.2f}")
        point = (m["recall"], m["precision"]) if m["tp"] + m["fp"] else None
        row = self.class_metrics.iloc[pos]
        curve = class_pr_curve(self.scores, pos)
        self.pr_panel.show(name, curve, point, float(row["ap"]), float(row["positive_rate"]))
        self.header_html.value = _header(self, name)
        self.mistakes.show(pos, thr)
        self.recording_panel.draw(name, thr)

    def select_cell(self, true_class: str | int, predicted_class: str | int) -> list:
        """List the clips of one confusion-matrix cell in the inspector; return their rows.

        Multi-label: the cell of the chosen class's 2×2 matrix, 0 "not it", 1 "it".
        """
        code = self.confusion_panel.code if self.multi_label else self._code
        cell = (code(true_class), code(predicted_class))
        self.confusion_panel.select(cell)
        return self.mistakes.select(cell)

    def clear_cell(self) -> None:
        """Show every clip again."""
        self.confusion_panel.select(None)
        self.mistakes.clear()

    def relabel(self, value: object, row: object = None) -> Path:
        """Record that the clip ``row`` (default: the one shown) has label ``value``.

        ``value`` is a class code or the table's class value (e.g. ``"absent"``). The
        corrections CSV is rewritten atomically at once, its paths relative to its folder.
        """
        with self.errors.raising():
            if self.windows:
                raise LabelError(
                    "corrections are per clip: relabel a window in its annotation table"
                )
            row = self.inspector.row if row is None else row
            if row is None:
                raise LabelError("no clip is shown to relabel")
            code = self._code(value)
            stored = self._values[code] if self.label_column is not None else code
            return self.fixes.add(self.df.at[row, self.filename_column], stored, self.source_path)

    cell = property(lambda self: self.mistakes.cell, doc="The selected (true, predicted).")
    cell_rows = property(lambda self: self.mistakes.cell_rows, doc="Index labels of its rows.")
    corrections = property(lambda self: self.fixes.corrections, doc="Corrections so far.")
    corrections_path = property(lambda self: self.fixes.path, doc="The corrections CSV.")

    def _score_file(self, path: str | os.PathLike) -> pd.DataFrame:
        return predict_recording(self.bundle, path, overlap=self.overlap, device=self.device)
