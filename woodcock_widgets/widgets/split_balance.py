"""SplitBalance: choose a train/validation split and see whether the classes stay balanced."""

from __future__ import annotations

import os
from pathlib import Path

import ipywidgets as widgets
import numpy as np
import pandas as pd

from ..errors import LabelError, SplitError
from ..io_utils import atomic_write_csv
from ..tables.labels import read_labels
from ..tables.splits import SplitResult, split_train_valid
from ..tables.labeled import LabeledTable
from ._errors import ErrorLog
from ._plots import bar_figure
from ._tables import frame_html, messages_html, status_html

__all__ = ["SplitBalance"]

_NO_GROUP = "(none)"
_PARTS = ("all", "train", "valid")


class SplitBalance(widgets.VBox):
    """Train fraction, seed, stratification and groups; class balance, warnings, leakage.

    Parameters
    ----------
    df : pandas.DataFrame, LabeledTable or path
        The label table (a :class:`~woodcock_widgets.pipeline.LabeledTable`, e.g.
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
    result : SplitResult or None
        The split, its balance report and warnings (``None`` when the settings fail).
    train_df, valid_df : pandas.DataFrame or None
        The two parts.
    warnings : list of str
        Missing or small classes, leakage.
    error : str or None
        Why the current settings cannot split.

    Examples
    --------
    >>> from woodcock_widgets.widgets import SplitBalance
    >>> balance = SplitBalance(remapper.table, train_fraction=0.8, seed=0)  # doctest: +SKIP
    >>> balance                                    # display; move the controls
    >>> balance.result.report                      # counts and fractions per class
    >>> train_df, valid_df = balance.train_df, balance.valid_df
    >>> balance.save("runs/r1")                    # train.csv and valid.csv, atomically
    """

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
        super().__init__()
        self.labeled_table = df if isinstance(df, LabeledTable) else None
        if isinstance(df, LabeledTable):
            label_column = label_column or df.class_column
            df = df.df
        elif not isinstance(df, pd.DataFrame):
            df = read_labels(df, filename_column=filename_column, check_files=False)
        if label_column is None:
            raise LabelError("SplitBalance needs label_column (the class column to stratify on)")
        for column in (label_column, group_column):
            if column is not None and column not in df.columns:
                raise LabelError(f"table has no column {column!r}; it has {list(df.columns)}")
        self.df = df
        self.filename_column = filename_column
        self.result: SplitResult | None = None
        self.error: str | None = None
        self.saved_paths: tuple[Path, Path] | None = None
        self.errors = ErrorLog()
        self._build(label_column, train_fraction, seed, stratify, group_column, save_dir)
        self.refresh()

    def _build(self, label_column, train_fraction, seed, stratify, group_column, save_dir) -> None:
        guard = self.errors.guard
        columns = [c for c in self.df.columns if c != self.filename_column]
        self.label_column_dropdown = widgets.Dropdown(
            options=columns, value=label_column, description="classes"
        )
        # A text box, not a slider: a slider would silently clamp the value, and the split
        # must use exactly the fraction a notebook parameter gives (the core checks it).
        self.train_fraction = widgets.FloatText(
            value=train_fraction, step=0.05, description="train share"
        )
        self.seed = widgets.IntText(value=seed, description="seed")
        self.stratify = widgets.Checkbox(value=stratify, description="stratify")
        self.group_column = widgets.Dropdown(
            options=[_NO_GROUP, *columns], value=group_column or _NO_GROUP, description="group by"
        )
        self.figure, self.bars = bar_figure(
            "class", "fraction of clips", labels=list(_PARTS), title="class balance", y_max=1.0
        )
        self.counts = widgets.HTML()
        self.messages = widgets.HTML()
        self.save_dir = widgets.Text(
            value=str(save_dir or "."), description="save to", layout=widgets.Layout(width="60%")
        )
        self.save_button = widgets.Button(description="Save train/valid CSVs", icon="save")
        self.status = widgets.HTML()
        for control in (
            self.label_column_dropdown,
            self.train_fraction,
            self.seed,
            self.stratify,
            self.group_column,
        ):
            control.observe(guard(lambda _: self.refresh()), names="value")
        self.save_button.on_click(guard(lambda _: self.save()))
        self.children = [
            widgets.HBox([self.label_column_dropdown, self.train_fraction]),
            widgets.HBox([self.seed, self.stratify, self.group_column]),
            widgets.HBox([self.figure, self.counts]),
            self.messages,
            widgets.HBox([self.save_dir, self.save_button]),
            self.status,
            self.errors.output,
        ]

    # ------------------------------------------------------------ public API
    @property
    def label_column(self) -> str:
        """The class column."""
        return self.label_column_dropdown.value

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

    def refresh(self) -> SplitResult | None:
        """Split with the current settings and update the chart, table and messages."""
        group = self.group_column.value
        try:
            result = split_train_valid(
                self.df,
                self.label_column,
                train_fraction=float(self.train_fraction.value),
                seed=int(self.seed.value),
                stratify=bool(self.stratify.value),
                group_column=None if group == _NO_GROUP else group,
                filename_column=self.filename_column,
            )
        except (SplitError, LabelError) as exc:
            self.result, self.error = None, str(exc)
            self.messages.value = messages_html([self.error], "error")
            self.counts.value = ""
            with self.bars.hold_sync():
                self.bars.x = np.array([], dtype=str)
                self.bars.y = np.zeros((len(_PARTS), 0))
            self.save_button.disabled = True
            return None
        self.result, self.error = result, None
        report = result.report
        with self.bars.hold_sync():
            self.bars.x = np.asarray(report.index, dtype=str)
            self.bars.y = np.vstack([report[f"{p}_fraction"].to_numpy(float) for p in _PARTS])
        table = report.reset_index()
        table.loc[len(table)] = [
            "total",
            len(self.df),
            1.0,
            len(result.train),
            1.0,
            len(result.valid),
            1.0,
        ]
        self.counts.value = frame_html(table)
        self.messages.value = messages_html(result.warnings, "warning") or messages_html(
            ["every class is in both parts; no file or group leaks"], "ok"
        )
        self.save_button.disabled = False
        return result

    def save(self, folder: str | os.PathLike | None = None) -> tuple[Path, Path]:
        """Write ``train.csv`` and ``valid.csv`` into ``folder`` atomically.

        Raises
        ------
        SplitError
            The current settings give no split.
        """
        if self.result is None:
            raise SplitError(f"nothing to save: {self.error}")
        folder = Path(folder if folder is not None else self.save_dir.value.strip() or ".")
        paths = (
            atomic_write_csv(folder / "train.csv", self.result.train),
            atomic_write_csv(folder / "valid.csv", self.result.valid),
        )
        self.saved_paths = paths
        self.status.value = status_html(
            f"saved {len(self.result.train)} train and {len(self.result.valid)} valid rows "
            f"to {folder}",
            "ok",
        )
        return paths
