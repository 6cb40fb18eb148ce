"""The widgets' views in a real browser: nothing clipped, charts that move, state that stays.

Each test writes a small notebook into the JupyterLab root (a few generated clips, and for the
review a stand-in model with given scores, so nothing is trained), runs it like a student,
measures what the page draws (text boxes against the figure, computed colours, overflow),
clicks, and saves screenshots: ``balance_chart``, ``balance_chart_seed7``,
``confusion_matrix``, ``review_given_scores``, ``review_cell_grid`` and
``inspector_contrast``. The last test executes a notebook the way ``woodcock-widgets
tutorial`` does and reopens it without a kernel run: its widgets must show their saved state.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from labdriver import (
    error_outputs,
    open_notebook,
    output_with,
    polyline_points,
    run_all_and_wait,
    shutdown_kernels,
    widget_console_errors,
    write_notebook,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NAMES = {0: "scolopax-minor-absent", 1: "scolopax-minor-present"}

# Boxes of SVG texts (axis ticks, axis labels, counts) that stick out of their figure, and
# HTML elements whose content is wider than the element (cut off or scrolled).
_CLIPPED_TEXT_JS = """(fig) => {
  const svg = fig.querySelector('svg');
  const box = svg.getBoundingClientRect();
  const out = [];
  for (const t of fig.querySelectorAll('svg text')) {
    const r = t.getBoundingClientRect();
    if (!t.textContent.trim() || r.width === 0) continue;
    if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1
        || r.bottom > box.bottom + 1) out.push(t.textContent);
  }
  return out;
}"""
_OVERFLOWING_JS = "(el) => el.scrollWidth > el.clientWidth + 1"


def clipped_texts(figure) -> list[str]:
    """Texts of a bqplot figure drawn (partly) outside its SVG: cut off on screen."""
    return figure.evaluate(_CLIPPED_TEXT_JS)


def overflowing(locator) -> bool:
    """Whether an element's content is wider than the element (its text is cut off)."""
    return locator.evaluate(_OVERFLOWING_JS)


@pytest.fixture(scope="module")
def clips(lab_server):
    """A few generated clips in the server root; returns the label CSV's path."""
    from woodcock_widgets.data.synthetic import make_woodcock_dataset

    return make_woodcock_dataset(
        lab_server.root / "view_clips", n_song=8, n_call=2, n_absent=8, seed=3
    )


def run_notebook(page, server, name: str, cells: list[str]) -> None:
    write_notebook(server.root / name, cells)
    open_notebook(page, server, name)
    state = run_all_and_wait(page, timeout=240)
    assert error_outputs(page) == [], error_outputs(page)
    assert state["executed"] == state["total"], state


def wait_text_change(locator, old: str, timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = locator.inner_text()
        if now != old:
            return now
        time.sleep(0.2)
    return locator.inner_text()


def test_balance_chart_moves_with_fraction_and_seed_and_nothing_is_clipped(
    lab_page, lab_server, clips, shoot
):
    page = lab_page
    cells = [
        "from woodcock_widgets.workflow.pipeline import prepare_labels\n"
        "from woodcock_widgets.widgets import SplitBalance\n"
        f"table = prepare_labels({str(clips)!r}, 'sound_type',\n"
        "    {'song': 'present', 'call': 'absent', 'na': 'absent'}, new_column='woodcock_song')\n"
        "balance = SplitBalance(table, train_fraction=0.8, seed=0, save_dir='view_split')\n"
        "balance",
    ]
    run_notebook(page, lab_server, "view_balance.ipynb", cells)
    widget = output_with(page, "Save train/valid CSVs")
    figure = widget.locator(".bqplot.figure").first
    figure.wait_for(timeout=30_000)
    bars = figure.locator(".bargroup rect.bar")
    assert bars.count() == 6  # 3 parts x 2 classes
    # the legend is an HTML line above the figure: it cannot cover a title or a bar
    legend = widget.locator(".wcw-legend")
    assert "absent" in legend.inner_text() and "present" in legend.inner_text()
    assert legend.bounding_box()["y"] + legend.bounding_box()["height"] <= (
        figure.bounding_box()["y"] + 1
    )
    assert figure.locator("text.mainheading").all_text_contents() in ([], [""])
    assert clipped_texts(figure) == []
    button = widget.locator(".widget-button", has_text="Save train/valid CSVs")
    assert not overflowing(button), "the Save button's text is cut off"
    shoot(widget, "balance_chart")

    # a new train share moves clips from one bar to the other (stratified, as by default)
    heights = [bars.nth(k).get_attribute("height") for k in range(6)]
    share = widget.locator(".widget-text", has_text="train share").locator("input")
    share.fill("0.5")
    share.press("Enter")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if [bars.nth(k).get_attribute("height") for k in range(6)] != heights:
            break
        time.sleep(0.2)
    assert [bars.nth(k).get_attribute("height") for k in range(6)] != heights
    # a new seed: the same counts, other clips held out, and the line under the chart says so
    moved = widget.locator(".widget-html", has_text=re.compile(r"^seed \d+"))
    before = moved.inner_text()
    seed = widget.locator(".widget-text", has_text="seed").locator("input")
    seed.fill("7")
    seed.press("Enter")
    after = wait_text_change(moved, before)
    assert re.match(r"^seed 7: \d+ of the \d+ validation clips", after), after
    shoot(widget, "balance_chart_seed7")
    assert widget_console_errors(page.woodcock_errors) == []
    shutdown_kernels(page)


REVIEW_CELLS = [
    "import numpy as np\n"
    "import torch\n"
    "from woodcock_widgets.ml.bundle import ModelBundle\n"
    "from woodcock_widgets.ml.review import ClipScores\n"
    "from woodcock_widgets.widgets import ResultsReview\n"
    "from woodcock_widgets.workflow.pipeline import prepare_labels\n"
    "table = prepare_labels({clips!r}, 'sound_type',\n"
    "    {{'song': 'present', 'call': 'absent', 'na': 'absent'}}, new_column='woodcock_song')\n"
    "df = table.df\n"
    "y = df['NumericLabels'].to_numpy()\n"
    "p = np.where(y == 1, np.linspace(0.3, 0.99996, len(y)), np.linspace(0.02, 0.7, len(y)))\n"
    "names = {names!r}\n"
    "scores = ClipScores(df, np.c_[1 - p, p], y, list(names.values()))\n"
    "bundle = ModelBundle(torch.nn.Identity(), 'resnet18', names)\n"
    "review = ResultsReview(bundle, df, label_column='woodcock_song', scores=scores,\n"
    "    corrections_path='view_review/corrections.csv', raven_dir='view_review/raven')\n"
    "review",
]


def test_review_names_in_full_readable_counts_and_a_compact_grid(
    lab_page, lab_server, clips, shoot
):
    page = lab_page
    cells = [REVIEW_CELLS[0].format(clips=str(clips), names=NAMES)]
    run_notebook(page, lab_server, "view_review.ipynb", cells)
    review = output_with(page, "Score recording")
    matrix = review.locator(".bqplot.figure", has=page.locator("rect.heatmapcell")).first
    matrix.locator("rect.heatmapcell").first.wait_for(timeout=30_000)

    # full class names on both axes, nothing outside the figure
    ticks = matrix.locator(".axis .tick text").all_text_contents()
    for name in NAMES.values():
        assert ticks.count(name) == 2, ticks  # once as a row, once as a column
    assert clipped_texts(matrix) == []
    # counts: one per cell, white on the dark cells, dark on the light ones
    counts = page.evaluate(
        """(fig) => Array.from(fig.querySelectorAll('.label text, text.label'))
          .filter(t => /^\\d+$/.test(t.textContent.trim()))
          .map(t => [t.textContent.trim(), getComputedStyle(t).fill])""",
        matrix.element_handle(),
    )
    assert len(counts) == 4, counts
    values = [int(v) for v, _ in counts]
    for value, fill in counts:
        dark = int(value) > max(values) / 2
        assert fill == ("rgb(255, 255, 255)" if dark else "rgb(17, 17, 17)"), (value, fill)
    shoot(matrix, "confusion_matrix")
    shoot(review, "review_given_scores")

    # the chosen class's precision–recall curve is drawn, and another class draws another
    recall_axis = page.locator(".axis text.axislabel", has_text=re.compile("^recall$"))
    pr = review.locator(".bqplot.figure", has=recall_axis).first
    curve = pr.locator(".curve path.line").first
    curve.wait_for(timeout=15_000)
    assert polyline_points(curve) > 2 and clipped_texts(pr) == []
    drawn = curve.get_attribute("d")
    review.locator(".widget-dropdown select").first.select_option(label=NAMES[0])
    deadline = time.monotonic() + 15
    while curve.get_attribute("d") == drawn and time.monotonic() < deadline:
        time.sleep(0.2)
    assert curve.get_attribute("d") != drawn
    assert review.get_by_text(re.compile(f"^{NAMES[0]}: AP ")).is_visible()
    review.locator(".widget-dropdown select").first.select_option(label=NAMES[1])

    # a click in the middle of a cell, where its count is drawn, selects that cell
    line = review.locator(".widget-html", has_text=re.compile(r"^(all \d+ clips|true )"))
    before = line.inner_text()
    matrix.locator("rect.heatmapcell").nth(1).click()  # true absent, predicted present
    after = wait_text_change(line, before)
    assert re.match(r"^true scolopax-minor-absent · predicted scolopax-minor-present: ", after)
    matrix.locator("rect.heatmapcell").nth(2).click()  # true present, predicted absent
    after = wait_text_change(line, after)
    assert re.match(r"^true scolopax-minor-present · predicted scolopax-minor-absent: ", after)
    assert re.search(r": \d+ clip\(s\)", after), after

    # the cell's clips as a grid: captions name the labels; empty cells take no room
    n = int(re.search(r": (\d+) clip", after).group(1))
    review.locator(".widget-toggle-button", has_text=re.compile("^grid$")).click()
    grid = review.locator(".widget-gridbox").first
    grid.wait_for(timeout=15_000)
    shown = grid.locator(":scope > .widget-vbox:visible")
    deadline = time.monotonic() + 15
    while shown.count() != min(n, 9) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert shown.count() == min(n, 9)
    caption = shown.first.inner_text()
    assert re.search(
        r"true: scolopax-minor-\w+, predicted: scolopax-minor-\w+, score: [\d.]+", caption
    )
    assert re.search(r"0–2 s · 0–11 kHz", caption)
    rows = -(-min(n, 9) // 3)
    cell_height = shown.first.bounding_box()["height"]
    assert grid.bounding_box()["height"] < (rows + 0.5) * (cell_height + 6)  # no blank row
    shoot(review, "review_cell_grid")
    assert widget_console_errors(page.woodcock_errors) == []
    shutdown_kernels(page)


def test_inspector_contrast_readouts_and_clip_counter(lab_page, lab_server, clips, shoot):
    page = lab_page
    cells = [
        "from woodcock_widgets.widgets import SpectrogramInspector\n"
        f"inspector = SpectrogramInspector({str(clips)!r})\n"
        "inspector.index = 2\n"
        "inspector.db_range = (inspector.clip.peak_db - 15, -20)\n"
        "inspector",
    ]
    run_notebook(page, lab_server, "view_inspector.ipynb", cells)
    widget = output_with(page, "next ▶")
    readout = widget.locator(".widget-html", has_text=re.compile(r"^floor -?\d+(\.\d)? dB"))
    readout.wait_for(timeout=30_000)
    assert re.search(r"ceiling -20 dB", readout.inner_text())
    assert not overflowing(readout)
    # the clip slider's readout and the "clip N of M" line say the same number
    slider_value = widget.locator(".widget-slider", has_text="clip").locator(".widget-readout")
    position = widget.locator(".widget-html", has_text=re.compile(r"^clip \d+ of \d+"))
    assert position.inner_text().startswith(f"clip {slider_value.inner_text().strip()} of ")
    assert position.inner_text().startswith("clip 3 of ")
    figure = widget.locator(".bqplot.figure").first
    assert clipped_texts(figure) == []
    shoot(widget, "inspector_contrast")
    assert widget_console_errors(page.woodcock_errors) == []
    shutdown_kernels(page)


def test_an_executed_notebook_reopens_with_its_widgets(lab_page, lab_server, clips, tmp_path):
    """Run a notebook as the tutorial runner does; reopen it, run nothing: widgets show.

    papermill stores the widget state (nbclient's ``store_widget_state``), but JupyterLab
    renders widget outputs of untrusted notebooks as their text; signed (trusted) ones show
    the saved widgets with no kernel run.
    """
    from woodcock_widgets.tutorial.runner import _execute

    page = lab_page
    cells = [
        "from woodcock_widgets.widgets import SplitBalance\n"
        "from woodcock_widgets.workflow.pipeline import prepare_labels\n"
        f"table = prepare_labels({str(clips)!r}, 'sound_type',\n"
        "    {'song': 'present', 'call': 'absent', 'na': 'absent'}, new_column='woodcock_song')\n"
        "SplitBalance(table)",
    ]
    source = write_notebook(tmp_path / "report_source.ipynb", cells)
    report = lab_server.root / "view_report.ipynb"
    with open(tmp_path / "echo.txt", "w") as echo:
        _execute(source, report, {}, lab_server.root, echo)
    saved = json.loads(report.read_text())
    state = (
        saved["metadata"].get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    )
    assert state.get("state"), "the executed notebook holds no widget state"
    open_notebook(page, lab_server, "view_report.ipynb")
    outputs = page.locator(".jp-OutputArea-output")
    button = page.locator(".jp-OutputArea-output .widget-button", has_text="Save train/valid CSVs")
    button.wait_for(timeout=15_000)
    assert page.locator(".jp-OutputArea-output .bqplot.figure").count() >= 1
    assert "model not found" not in " ".join(outputs.all_inner_texts())
    shutdown_kernels(page)
