"""LabelingGrid: a page of proposed windows to hear and label, a refit button, a progress panel.

The widget drives a :class:`~woodcock_widgets.workflow.labeling_loop.LabelingLoop`: each card
shows one proposed window's spectrogram, plays it, and records an answer with one click (the
loop writes it to the label table durably, with its provenance, before the click returns).
"refit" ends the round; the panel then gains a row (labels, validation AP on the held labels,
precision of the last page) and a point on its chart.

Keyboard shortcuts (:data:`SHORTCUTS`), through ``ipyevents`` (ipywidgets has no key events):
with the mouse over a card (ipyevents gives the card the keyboard focus then), **1** or **p**
answers present, **2** or **a** absent, **3** or **s** skip. With several classes, the digit
``k`` toggles the ``k``-th class, **Enter** saves the card's answer and **s** skips it.
"all remaining absent" answers a whole page in one click.
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets
from ipyevents import Event

from ..audio.clip import Audio
from ..audio.spectrogram import Spectrogram
from ..workflow.labeling_loop import STRATEGIES, LabelingLoop
from ._errors import ErrorLog
from ._plots import BLANK_PNG, line_figure
from ._tables import frame_html, legend_html, status_html

__all__ = ["LabelingGrid", "SHORTCUTS"]

#: Keys that answer the card under the mouse (one class).
SHORTCUTS = {"1": "present", "p": "present", "2": "absent", "a": "absent", "3": "skip", "s": "skip"}

_ANSWER_COLOR = {"present": "#2a7a2a", "absent": "#7f7f7f", "skip": "#b35900"}


class _Card:
    """One proposed window: caption, spectrogram, audio, answer buttons, answer state."""

    def __init__(self, grid: LabelingGrid, k: int) -> None:
        self.row: dict | None = None
        self.answer: str | None = None
        self.caption = widgets.HTML()
        self.image = widgets.Image(
            value=BLANK_PNG, format="png", layout=widgets.Layout(width="100%", height="110px")
        )
        self.audio = widgets.Audio(value=b"", format="wav", autoplay=False, loop=False)
        self.audio.layout.width = "100%"
        self.status = widgets.HTML()
        small = widgets.Layout(width="auto", flex="1 1 auto")
        multi = len(grid.loop.classes) > 1
        self.present_button = widgets.Button(description="present", layout=small)
        self.absent_button = widgets.Button(description="absent", layout=small)
        self.skip_button = widgets.Button(description="skip", layout=small)
        self.class_toggles = [
            widgets.ToggleButton(description=c, value=False, layout=small)
            for c in (grid.loop.classes if multi else [])
        ]
        self.save_button = widgets.Button(description="save", layout=small)
        guard = grid.errors.guard
        self.present_button.on_click(guard(lambda _: grid.answer(k, "present")))
        self.absent_button.on_click(guard(lambda _: grid.answer(k, "absent")))
        self.skip_button.on_click(guard(lambda _: grid.answer(k, "skip")))
        self.save_button.on_click(
            guard(lambda _: grid.answer(k, [t.description for t in self.class_toggles if t.value]))
        )
        buttons = [self.present_button, self.absent_button, self.skip_button]
        rows = [widgets.HBox(buttons)]
        if multi:
            rows = [
                widgets.HBox(self.class_toggles, layout=widgets.Layout(flex_flow="row wrap")),
                widgets.HBox([self.save_button, self.skip_button]),
            ]
        self.box = widgets.VBox(
            [self.caption, self.image, self.audio, *rows, self.status],
            layout=widgets.Layout(border="2px solid #ddd", padding="3px"),
        )
        self.box.add_class("labeling-card")
        # key presses over the card reach Python as {"type": "keydown", "key": ...} messages
        self.keys = Event(source=self.box, watched_events=["keydown"])
        self.keys.on_dom_event(guard(lambda event: grid.press(k, event.get("key", ""))))

    def show(self, row: dict | None) -> None:
        self.row, self.answer = row, None
        self.box.layout.display = None if row is not None else "none"
        self.box.layout.border = "2px solid #ddd"
        self.status.value = ""
        for t in self.class_toggles:
            t.value = False
        if row is None:
            return
        name = html.escape(str(row["file"]).replace("\\", "/").rsplit("/", 1)[-1])
        self.caption.value = (
            f"<b>{name}</b> {row['start_time']:.2f}–{row['end_time']:.2f} s<br>"
            f"{html.escape(str(row['class']))} score {row['score']:.3f}"
        )
        try:
            clip = Audio.from_file(
                row["file"], offset=row["start_time"], duration=row["end_time"] - row["start_time"]
            )
            self.image.value = Spectrogram.from_audio(clip).to_png_bytes()
            self.audio.value = clip.to_wav_bytes()
        except Exception:  # an unreadable window still gets its buttons
            self.image.value, self.audio.value = BLANK_PNG, b""
            raise

    def mark(self, answer: str) -> None:
        self.answer = answer
        color = _ANSWER_COLOR.get(answer, "#1f77b4")
        self.box.layout.border = f"2px solid {color}"
        self.status.value = status_html(f"answered: {answer}", "ok")


class LabelingGrid(widgets.VBox):
    """Label the windows a :class:`LabelingLoop` proposes, page by page, and refit.

    Parameters
    ----------
    loop : LabelingLoop
        The loop (its label table and run folder); the widget only calls its methods.
    page_size : int
        Windows per page.
    strategy : {"top", "uncertain", "stratified", "random"}
        Strategy of the next page.
    propose : bool
        Propose the first page now (the first page of a folder embeds it, once).

    Attributes
    ----------
    cards : list
        One per window of the page: ``caption``, ``image`` (spectrogram PNG), ``audio``,
        ``present_button``, ``absent_button``, ``skip_button`` (one class), or
        ``class_toggles`` and ``save_button`` (several classes), ``status``, and ``keys``
        (the ``ipyevents.Event`` that sends the card's key presses to :meth:`press`).
    next_page_button, refit_button, all_absent_button : ipywidgets.Button
    strategy_select, class_select : ipywidgets.Dropdown
    page_size_input : ipywidgets.BoundedIntText
    panel_table : ipywidgets.HTML
        Per round: labels, validation AP and precision of the last page, per class.
    chart : bqplot.Figure
        Validation AP and page precision against the round (``chart_lines``).
    errors : ErrorLog

    Examples
    --------
    >>> loop = LabelingLoop("field/", 3.0, BirdNETEmbedder(), "labels.csv", "runs/lab",
    ...                     ["woodcock"], start=Query("song.wav"))  # doctest: +SKIP
    >>> grid = LabelingGrid(loop)  # doctest: +SKIP
    >>> grid  # click present / absent, then "refit"  # doctest: +SKIP
    """

    round = traitlets.Int(0, help="the loop's current round (read-only in effect)")
    page = traitlets.Int(0, help="pages proposed so far")
    strategy = traitlets.Enum(list(STRATEGIES), "top", help="strategy of the next page")

    def __init__(
        self, loop: LabelingLoop, page_size: int = 20, strategy: str = "top", propose: bool = True
    ) -> None:
        super().__init__()
        self.loop = loop
        self.errors = ErrorLog()
        self.strategy = strategy
        self.round = loop.round
        self.strategy_select = widgets.Dropdown(options=list(STRATEGIES), description="strategy")
        traitlets.link((self, "strategy"), (self.strategy_select, "value"))
        self.class_select = widgets.Dropdown(options=list(loop.classes), description="class")
        self.class_select.layout.display = None if len(loop.classes) > 1 else "none"
        self.page_size_input = widgets.BoundedIntText(
            value=int(page_size), min=1, max=200, description="page", layout={"width": "150px"}
        )
        self.next_page_button = widgets.Button(description="next page", icon="forward")
        self.all_absent_button = widgets.Button(
            description="all remaining absent", layout={"width": "auto"}
        )
        self.refit_button = widgets.Button(description="refit", button_style="primary")
        self.status_html = widgets.HTML()
        self.next_page_button.on_click(self.errors.guard(lambda _: self.next_page()))
        self.all_absent_button.on_click(self.errors.guard(lambda _: self.mark_rest_absent()))
        self.refit_button.on_click(self.errors.guard(lambda _: self.refit()))
        self.cards: list[_Card] = []
        self.grid_box = widgets.GridBox(
            layout=widgets.Layout(grid_template_columns="repeat(auto-fill, minmax(230px, 1fr))")
        )
        self.panel_table = widgets.HTML()
        self.chart, self.chart_lines = line_figure(
            "", "score", ["validation AP", "page precision"], x_label="round",
            height="220px", y_range=(0.0, 1.0), legend=False,
        )  # fmt: skip
        colors = {name: line.colors[0] for name, line in self.chart_lines.items()}
        chart_legend = widgets.HTML(legend_html("labeling rounds", colors))
        controls = [self.strategy_select, self.class_select, self.page_size_input]
        buttons = [self.next_page_button, self.all_absent_button, self.refit_button]
        self.children = [
            widgets.HBox(controls),
            widgets.HBox([*buttons, self.status_html]),
            self.grid_box,
            widgets.HBox(
                [self.panel_table, widgets.VBox([chart_legend, self.chart])],
                layout=widgets.Layout(align_items="flex-start"),
            ),
            self.errors.output,
        ]
        self.class_select.observe(self.errors.guard(lambda _: self._draw_panel()), "value")
        self._draw_panel()
        if propose:
            self.errors.guard(self.next_page)()

    # ------------------------------------------------------------ public API
    @property
    def class_name(self) -> str:
        """The class pages are proposed for."""
        return str(self.class_select.value)

    def next_page(self) -> pd.DataFrame:
        """Propose a page with the current strategy and show it."""
        page = self.loop.propose(self.page_size_input.value, self.strategy, self.class_name)
        while len(self.cards) < len(page):
            self.cards.append(_Card(self, len(self.cards)))
        self.grid_box.children = [c.box for c in self.cards[: len(page)]]
        for k, card in enumerate(self.cards):
            self.errors.guard(card.show)(page.iloc[k].to_dict() if k < len(page) else None)
        self.page += 1
        self._status()
        return page

    def answer(self, k: int, answer) -> dict:
        """Record the answer to card ``k`` (``present``/``absent``/``skip`` or class names)."""
        card = self.cards[k]
        if card.row is None:
            raise IndexError(f"card {k} shows no window")
        row = self.loop.record(card.row, answer)
        card.mark(answer if isinstance(answer, str) else ("+".join(answer) or "none"))
        self._status()
        return row

    def press(self, k: int, key: str) -> dict | None:
        """A key pressed over card ``k`` (:data:`SHORTCUTS`); the recorded row, if it answered.

        Keys that mean nothing, and keys over a card already answered or empty, are ignored.
        """
        card = self.cards[k]
        key = str(key).lower()
        if card.row is None or card.answer is not None:
            return None
        if not card.class_toggles:
            answer = SHORTCUTS.get(key)
            return self.answer(k, answer) if answer else None
        if key == "s":
            return self.answer(k, "skip")
        if key == "enter":
            return self.answer(k, [t.description for t in card.class_toggles if t.value])
        if key.isdigit() and 1 <= int(key) <= len(card.class_toggles):
            toggle = card.class_toggles[int(key) - 1]
            toggle.value = not toggle.value
        return None

    def mark_rest_absent(self) -> list[dict]:
        """Answer every unanswered card of the page "absent" (one durable write)."""
        rest = [c for c in self.cards if c.row is not None and c.answer is None]
        answer = [] if len(self.loop.classes) > 1 else "absent"
        rows = self.loop.record_many([c.row for c in rest], answer, class_name=self.class_name)
        for c in rest:
            c.mark("absent")
        self._status()
        return rows

    def refit(self) -> dict:
        """End the round: refit the loop, update the panel, show the next page."""
        metrics = self.loop.refit()
        self.round = self.loop.round
        self._draw_panel()
        self.next_page()
        return metrics

    # -------------------------------------------------------------- drawing
    def _status(self) -> None:
        shown = [c for c in self.cards if c.row is not None]
        done = sum(c.answer is not None for c in shown)
        self.status_html.value = status_html(
            f"round {self.loop.round}, page {self.page}: {done} of {len(shown)} answered; "
            f"{len(self.loop.store)} answers in {self.loop.store.path.name}"
        )

    def _draw_panel(self) -> None:
        table = self.loop.metrics_table()
        c = self.class_name
        cols = {
            "round": "round",
            f"{c}/n_labels": "labels",
            f"{c}/n_positive": "positive",
            f"{c}/validation_ap": "validation AP",
            f"{c}/page_precision": "page precision",
            "seconds": "refit s",
        }
        have = [k for k in cols if k in table.columns]
        shown = table[have].rename(columns=cols) if have else pd.DataFrame(columns=cols.values())
        self.panel_table.value = frame_html(shown)
        x = table["round"].to_numpy(float) if "round" in table else np.zeros(0)
        for name, key in (("validation AP", "validation_ap"), ("page precision", "page_precision")):
            y = table.get(f"{c}/{key}", pd.Series(np.nan, index=table.index)).to_numpy(float)
            keep = ~np.isnan(y)  # a round without a page (or too few labels) has no point
            line = self.chart_lines[name]
            with line.hold_sync():
                line.x, line.y = x[keep], y[keep]
