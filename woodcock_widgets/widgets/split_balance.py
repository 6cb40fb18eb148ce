"""SplitBalance: choose a train/validation split and see whether the classes stay balanced.

A view composed of sub-views (:mod:`._split_parts`, :mod:`._save_bar`); the widget holds
the settings in traits and turns them into core calls (:mod:`woodcock_widgets.tables.splits`).
"""

from __future__ import annotations

import os
from pathlib import Path

import ipywidgets as widgets
import pandas as pd
import traitlets

from ..errors import LabelError, SplitError
from ..tables.labeled import LabeledTable, WindowLabels
from ..tables.labels import read_labels
from ..tables.splits import SplitResult, moved_to_valid, split_multilabel, split_train_valid
from ..workflow.run_folder import RunFolder
from ._errors import ErrorLog
from ._parts import Part
from ._save_bar import SaveBar
from ._split_parts import BalanceChart, SplitSettings, moved_text
from ._tables import messages_html

__all__ = ["SplitBalance"]


class SplitBalance(widgets.VBox):
    """Train fraction, seed, stratification and groups; class balance, warnings, leakage.

    The chart has one bar per part (all clips, train, valid), as tall as the part has clips
    and split by class: the train fraction moves clips from one bar to the other, and when
    the classes keep the same shares in every bar the split is balanced. Stratifying keeps
    those shares, so then a new seed changes *which* clips are held out, not how many of
    each class: the line under the chart counts how many validation clips changed.

    Every class has its own colour, however many there are. A multi-label window table
    (:class:`~woodcock_widgets.tables.labeled.WindowLabels`) is split with
    :func:`~woodcock_widgets.tables.splits.split_multilabel` by recording (``file`` unless
    another group is chosen); its bars count each class's positive windows (a window with
    two classes counts in both), and a class without positives in a part is named.

    Parameters
    ----------
    df : pandas.DataFrame, LabeledTable or path
        The label table (a :class:`~woodcock_widgets.tables.labeled.LabeledTable`, e.g.
        ``LabelRemapper.table``, or a CSV).
    label_column : str, optional
        Class column to stratify on and report; default: the LabeledTable's class column.
    train_fraction : float
        Share of clips for training.
    seed : int
        Random seed (same seed, same split).
    stratify : bool
        Keep class shares about equal in train and valid.
    group_column : str, optional
        Clips sharing a value here (e.g. a recording) stay on one side.
    filename_column : str
        The audio path column (for the leakage check).
    save_dir : path, optional
        Folder Save writes ``train.csv`` and ``valid.csv`` to (default: the working folder).

    Attributes
    ----------
    label_column, train_fraction, seed, stratify, group_column : traits
        The settings (observe or link them; the controls follow). ``group_column`` is
        ``None`` for no groups.
    status : str
        What the last Save wrote; emptied as soon as the split it describes changes.
    result : SplitResult or None
        The split, its balance report and warnings (``None`` when the settings fail).
    train_df, valid_df : pandas.DataFrame or None
        The two parts.
    moved : int or None
        Validation clips that were not validation clips in the split shown before.
    warnings : list of str
        Missing or small classes, leakage.
    error : str or None
        Why the current settings cannot split.

    Examples
    --------
    >>> from woodcock_widgets.widgets import SplitBalance
    >>> balance = SplitBalance(remapper.table, train_fraction=0.8, seed=0)  # doctest: +SKIP
    >>> balance                                    # display; move the controls
    >>> balance.seed = 7                           # or type it in the widget
    >>> balance.result.report                      # counts and fractions per class
    >>> train_df, valid_df = balance.train_df, balance.valid_df
    >>> balance.save("runs/r1")                    # train.csv and valid.csv, atomically
    """

    label_column = traitlets.Unicode(help="The class column to stratify on and report.")
    # a float, not a bounded one: the core refuses bad fractions with a message, and the
    # split must use exactly the fraction a notebook parameter gives (no clamping)
    train_fraction = traitlets.Float(0.8, help="Share of clips for training.")
    seed = traitlets.Int(0, help="Random seed; the same seed gives the same split.")
    stratify = traitlets.Bool(True, help="Keep each class's share equal in both parts.")
    group_column = traitlets.Unicode(
        None, allow_none=True, help="Clips sharing a value here stay on one side."
    )
    status = traitlets.Unicode(help="What the last Save wrote ('' once it is out of date).")

    @traitlets.validate("label_column", "group_column")
    def _valid_column(self, proposal):
        column = proposal["value"]
        if column is not None and column not in self.df.columns:
            raise LabelError(f"table has no column {column!r}; it has {list(self.df.columns)}")
        return column

    # child controls by role, owned by the sub-view that wires them
    label_column_dropdown, train_fraction_input, seed_input = Part.of("settings", 3)
    stratify_checkbox, group_dropdown = Part.of("settings", 2)
    legend_html, figure, bars, moved_html, counts_html = Part.of("chart", 5)
    save_dir_text = Part("save_bar", "path_text")
    save_button, status_html = Part.of("save_bar", 2)

    def __init__(
        self,
        df: pd.DataFrame | LabeledTable | str | os.PathLike,
        label_column: str | None = None,
        *,
        train_fraction: float = 0.8,
        seed: int = 0,
        stratify: bool = True,
        group_column: str | None = None,
        filename_column: str = "filename",
        save_dir: str | os.PathLike | None = None,
    ) -> None:
        labeled_table = df if isinstance(df, LabeledTable) else None
        #: the 0/1 class columns of a multi-label window table (else None)
        self.target_columns: list[str] | None = None
        if isinstance(df, WindowLabels):
            filename_column = df.filename_column
            group_column = group_column or "file"
            if df.multi_label:
                self.target_columns = list(df.classes)
        if isinstance(df, LabeledTable):
            label_column = label_column or df.class_column
            df = df.df
        elif not isinstance(df, pd.DataFrame):
            df = read_labels(df, filename_column=filename_column, check_files=False)
        if label_column is None:
            raise LabelError("SplitBalance needs label_column (the class column to stratify on)")
        self.df = df
        super().__init__(
            label_column=label_column,
            train_fraction=float(train_fraction),
            seed=int(seed),
            stratify=bool(stratify),
            group_column=group_column or None,
        )
        self.labeled_table = labeled_table
        self.filename_column = filename_column
        self.result: SplitResult | None = None
        self.error: str | None = None
        self.moved: int | None = None
        self.saved_paths: tuple[Path, Path] | None = None
        self._saved_state: tuple | None = None
        self.errors = ErrorLog()
        self._build(save_dir)
        self.refresh()

    def _build(self, save_dir) -> None:
        guard = self.errors.guard
        columns = [c for c in self.df.columns if c != self.filename_column]
        groups = list(columns)
        if isinstance(self.labeled_table, WindowLabels):  # windows group by their recording
            groups.insert(0, self.filename_column)
        self.settings = SplitSettings(self, columns, groups)
        self.chart = BalanceChart()
        self.messages_html = widgets.HTML()
        self.save_bar = SaveBar(
            "save to", str(save_dir or "."), "Save train/valid CSVs", guard(self.save)
        )
        self.observe(
            guard(lambda _: self.refresh()),
            names=["label_column", "train_fraction", "seed", "stratify", "group_column"],
        )
        self.observe(lambda ch: self.save_bar.show_status(ch["new"]), names="status")
        self.children = [
            self.settings,
            self.chart,
            self.messages_html,
            self.save_bar,
            self.errors.output,
        ]

    # ------------------------------------------------------------ public API
    @property
    def train_df(self) -> pd.DataFrame | None:
        """Training rows of the current split."""
        return self.result.train if self.result is not None else None

    @property
    def valid_df(self) -> pd.DataFrame | None:
        """Validation rows of the current split."""
        return self.result.valid if self.result is not None else None

    @property
    def warnings(self) -> list[str]:
        """Warnings of the current split."""
        return list(self.result.warnings) if self.result is not None else []

    def _state(self) -> tuple:
        return (
            self.label_column,
            self.train_fraction,
            self.seed,
            self.stratify,
            self.group_column,
        )

    def _split(self) -> SplitResult:
        where = {"group_column": self.group_column, "filename_column": self.filename_column}
        if self.target_columns is not None:
            return split_multilabel(
                self.df, self.target_columns, self.train_fraction, seed=self.seed, **where
            )
        return split_train_valid(
            self.df,
            self.label_column,
            train_fraction=self.train_fraction,
            seed=self.seed,
            stratify=self.stratify,
            **where,
        )

    def refresh(self) -> SplitResult | None:
        """Split with the current settings and update the chart, table and messages."""
        if self.status and self._state() != self._saved_state:
            self.status = ""  # the saved files no longer hold the split shown
        previous = self.result
        try:
            result = self._split()
        except (SplitError, LabelError) as exc:
            self.result, self.error, self.moved = None, str(exc), None
            self.messages_html.value = messages_html([self.error], "error")
            self.chart.clear()
            self.save_button.disabled = True
            return None
        self.result, self.error = result, None
        self.moved = moved_to_valid(previous, result) if previous is not None else None
        what = (
            "positive windows in each part, by class:"
            if self.target_columns is not None
            else f"clips in each part, by {self.label_column}:"
        )
        moved = moved_text(self.seed, self.moved, len(result.valid))
        self.chart.show(result, len(self.df), what, moved)
        self.messages_html.value = messages_html(result.warnings, "warning") or messages_html(
            ["every class is in both parts; no file or group leaks"], "ok"
        )
        self.save_button.disabled = False
        return result

    def save(self, folder: str | os.PathLike | None = None) -> tuple[Path, Path]:
        """Write ``train.csv`` and ``valid.csv`` into ``folder`` atomically.

        Raises
        ------
        SplitError
            The current settings give no split (also shown in the widget; a notebook cell
            prints it as one line).
        """
        with self.errors.raising():
            if self.result is None:
                raise SplitError(f"nothing to save: {self.error}")
            folder = Path(folder if folder is not None else self.save_dir_text.value.strip() or ".")
            paths = RunFolder(folder).write_split(self.result.train, self.result.valid)
        self.saved_paths = paths
        self._saved_state = self._state()
        self.status = (
            f"saved {len(self.result.train)} train and {len(self.result.valid)} valid rows "
            f"to {folder}"
        )
        return paths
