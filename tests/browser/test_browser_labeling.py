"""The labeling grid in a real browser: click a label, press a key, refit, see the panel change.

The notebook builds a labeling loop over a few generated recordings with the loop tests' toy
embedder (band energies; no model to download), shows a page of 6 windows and runs like a
student's. Saves ``labeling_grid.png`` (after the refit) in the screenshot folder.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from labdriver import (
    error_outputs,
    html_table,
    open_notebook,
    output_with,
    run_all_and_wait,
    shutdown_kernels,
    widget_console_errors,
    write_notebook,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TESTS = Path(__file__).resolve().parents[1]

SETUP = f"""
import sys
sys.path.insert(0, {str(TESTS)!r})  # the loop tests' toy embedder and recordings
from pathlib import Path
from test_labeling_loop import ToyEmbedder, make_folder
from woodcock_widgets.ml.embedding_cache import EmbeddingCache
from woodcock_widgets.widgets import LabelingGrid
from woodcock_widgets.workflow.labeling_loop import LabelingLoop

work = Path("labeling_work")
truth = make_folder(work / "audio")
start = truth[truth["tone"] == 1].head(3)[["file", "start_time", "end_time", "tone"]]
loop = LabelingLoop(
    work / "audio", 1.0, ToyEmbedder(), work / "labels.csv", work / "run", ["tone"],
    start=start, cache=EmbeddingCache(work / "cache"), progress=False,
)
"""


def _answers(root: Path) -> list[str]:
    return (root / "labeling_work" / "labels.csv").read_text().splitlines()[1:]


def test_click_a_label_press_a_key_refit_and_the_panel_grows(lab_page, lab_server, shoot):
    page = lab_page
    write_notebook(
        lab_server.root / "labeling.ipynb",
        [SETUP, "grid = LabelingGrid(loop, page_size=6)\ngrid"],
    )
    open_notebook(page, lab_server, "labeling.ipynb")
    state = run_all_and_wait(page, timeout=180)
    assert error_outputs(page) == [] and state["executed"] == state["total"]
    grid = output_with(page, "refit")
    cards = grid.locator(".labeling-card")
    cards.first.wait_for(timeout=30_000)
    assert cards.count() == 6
    assert len(_answers(lab_server.root)) == 3  # the start examples
    panel = grid.locator(".widget-html", has=page.locator("table")).first
    assert len(html_table(panel)) == 1  # the header only: no round yet

    # a click on a label button: the card says so, the answer is on disk
    cards.nth(0).locator(".widget-button", has_text=re.compile("^present$")).click()
    cards.nth(0).get_by_text("answered: present").wait_for(timeout=15_000)
    # a key over a card (ipyevents focuses the card under the mouse): 2 = absent
    cards.nth(1).locator("img").first.hover()
    page.keyboard.press("2")
    cards.nth(1).get_by_text("answered: absent").wait_for(timeout=15_000)
    answers = _answers(lab_server.root)
    assert len(answers) == 5 and ",tone," in answers[3] and ",tone,," in answers[4]

    # refit: the panel gains the round's row, the next page is shown
    grid.locator(".widget-button", has_text=re.compile("^refit$")).click()
    page.wait_for_function(
        """(el) => el.querySelectorAll('table tr').length >= 2""",
        arg=panel.element_handle(),
        timeout=30_000,
    )
    rows = html_table(panel)
    assert rows[0][:3] == ["round", "labels", "positive"]
    assert rows[1][0] == "0" and int(rows[1][1]) == 5
    grid.get_by_text(re.compile(r"round 1, page 2")).wait_for(timeout=15_000)
    assert grid.get_by_text("answered:").count() == 0  # a fresh page
    page.mouse.move(1, 1)
    shoot(grid, "labeling_grid")
    assert widget_console_errors(page.woodcock_errors) == [], page.woodcock_errors
    shutdown_kernels(page)
