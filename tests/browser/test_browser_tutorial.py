"""The tutorial chain in a real browser: every notebook on the smoke preset, Run All Cells.

Each stage runs in JupyterLab in order, into one run folder under the server's root; after
Run All the DOM must show that stage's widgets (spectrogram image, audio players, bar charts,
training curves, confusion matrix) with no error output and no widget console errors, and a
student's clicks (next, a new mapping, a confusion cell) must change what is shown. Voila then
renders the inspect-and-relabel notebook.

``WOODCOCK_BROWSER_PARAMS`` (JSON) overrides smoke-preset parameters, and
``WOODCOCK_UPDATE_DOCS_IMAGE=1`` copies the README's screenshots into ``docs/images/``
(``conftest.DOCS_IMAGES``); the README's come from the default preset::

    WOODCOCK_BROWSER_PARAMS='{"preset": "default", "epochs": 5}' WOODCOCK_UPDATE_DOCS_IMAGE=1 \
        .venv/bin/python -m pytest tests/browser/test_browser_tutorial.py -k "not voila"
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time

import pandas as pd
import pytest
from labdriver import (
    NOTEBOOKS,
    audio_duration,
    collect_errors,
    error_outputs,
    html_table,
    image_digest,
    image_size,
    open_notebook,
    output_with,
    parameterized_copy,
    polyline_points,
    run_all_and_wait,
    shutdown_kernels,
    widget_console_errors,
)

from woodcock_widgets.tutorial.runner import STAGES, declared_parameters, resolve_parameters

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STAGE_NAMES = [s.name for s in STAGES]


@pytest.fixture(scope="session")
def chain(lab_server):
    """The run folder and the smoke-preset parameters of every stage; records passed stages."""
    declared = declared_parameters(NOTEBOOKS)
    overrides = json.loads(os.environ.get("WOODCOCK_BROWSER_PARAMS", "{}"))
    _, values = resolve_parameters({"preset": "smoke", **overrides}, declared)
    run_dir = lab_server.root / "smoke_run"
    params = {}
    for stage in STAGE_NAMES:
        given = {k: v for k, v in values.items() if k in declared[stage]}
        if "run_dir" in declared[stage]:
            given["run_dir"] = str(run_dir)
        params[stage] = given
    return {"run_dir": run_dir, "params": params, "passed": set()}


def run_stage(page, server, chain, stage: str, timeout: float = 180.0) -> dict:
    """Write the stage's smoke copy into the server root, open it, Run All, check it is clean."""
    missing = [s for s in STAGE_NAMES[: STAGE_NAMES.index(stage)] if s not in chain["passed"]]
    if missing:
        pytest.fail(f"stage {stage} needs the earlier stages, which did not pass: {missing}")
    name = f"smoke_{stage}.ipynb"
    parameterized_copy(NOTEBOOKS / f"{stage}.ipynb", server.root / name, chain["params"][stage])
    open_notebook(page, server, name)
    state = run_all_and_wait(page, timeout=timeout)
    errors = error_outputs(page)
    assert errors == [], f"{stage}: error output in the notebook:\n" + "\n".join(errors)
    assert state["executed"] == state["total"], f"{stage}: not every cell ran: {state}"
    return state


def finish_stage(page, chain, stage: str) -> None:
    """Final checks shared by all stages; marks the stage passed."""
    assert widget_console_errors(page.woodcock_errors) == [], page.woodcock_errors
    shutdown_kernels(page)
    chain["passed"].add(stage)


def class_counts(locator) -> dict[str, int]:
    """``{class: count}`` from a counts table with ``class`` and ``count`` columns."""
    head, *rows = html_table(locator)
    k, n = head.index("class"), head.index("count")
    return {r[k]: int(r[n]) for r in rows}


def test_01_get_data(lab_page, lab_server, chain, shoot):
    page = lab_page
    run_stage(page, lab_server, chain, "01_get_data")
    assert (chain["run_dir"] / "clips.csv").is_file()
    assert page.locator(".jp-RenderedHTMLCommon table").count() >= 2  # head() and crosstab
    finish_stage(page, chain, "01_get_data")


def test_02_inspect_and_relabel(lab_page, lab_server, chain, shoot):
    page = lab_page
    run_stage(page, lab_server, chain, "02_inspect_and_relabel")
    assert (chain["run_dir"] / "labels.json").is_file()

    # the inspector: a real spectrogram on the bqplot figure and a 2-second audio player
    inspector = output_with(page, "next ▶")
    image = inspector.locator(".bqplot.figure image").first
    image.wait_for(state="attached", timeout=30_000)
    width, height = image_size(image)
    assert width > 1 and height > 1, "the inspector shows the blank placeholder"
    players = inspector.locator("audio")
    assert players.count() >= 1
    assert audio_duration(players.first) == pytest.approx(2.0, abs=0.05)
    position = inspector.locator(".widget-html", has_text=re.compile(r"^clip \d+ of \d+"))
    assert position.inner_text().startswith("clip 1 of ")
    shoot(inspector, "inspector")

    # a student presses next: another clip, another picture
    before = image_digest(image)
    inspector.locator(".widget-button", has_text=re.compile("^next ▶$")).click()
    position.filter(has_text=re.compile(r"^clip 2 of ")).wait_for(timeout=15_000)
    deadline = time.monotonic() + 15
    while image_digest(image) == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert image_digest(image) != before, "the spectrogram did not change after next"

    # the remapper: counts as a table and bars; calls counted as songs change them
    remapper = output_with(page, "Save CSV")
    after = remapper.locator(".widget-html", has_text=re.compile("^after"))
    counts = class_counts(after)
    assert set(counts) == {"absent", "present"}
    bars_after = remapper.locator(".bqplot.figure").nth(1).locator(".bargroup rect.bar")
    assert bars_after.count() == 2
    heights = [bars_after.nth(k).get_attribute("height") for k in range(2)]
    shoot(remapper, "remapper")
    call_row = remapper.locator(
        ".widget-hbox", has=page.locator(".widget-html", has_text=re.compile(r"^call \("))
    )
    n_call = int(re.search(r"\((\d+) clips\)", call_row.inner_text()).group(1))
    assert n_call > 0
    call_box = call_row.locator("input")
    shown = after.text_content()
    call_box.fill("present")
    call_box.press("Tab")  # the class is taken when the box loses focus
    page.wait_for_function(
        "([el, old]) => el.textContent !== old",
        arg=[after.element_handle(), shown],
        timeout=15_000,
    )
    assert class_counts(after) == {
        "absent": counts["absent"] - n_call,
        "present": counts["present"] + n_call,
    }
    assert [bars_after.nth(k).get_attribute("height") for k in range(2)] != heights
    finish_stage(page, chain, "02_inspect_and_relabel")


def test_03_split(lab_page, lab_server, chain, shoot):
    page = lab_page
    run_stage(page, lab_server, chain, "03_split")
    assert (chain["run_dir"] / "train.csv").is_file()
    balance = output_with(page, "Save train/valid CSVs")
    figure = balance.locator(".bqplot.figure").first
    figure.wait_for(timeout=30_000)
    # two classes x (all, train, valid): six bars with a height
    bars = figure.locator(".bargroup rect.bar")
    assert bars.count() == 6
    assert all(float(bars.nth(k).get_attribute("height")) > 0 for k in range(6))
    shoot(balance, "split_balance")
    finish_stage(page, chain, "03_split")


def test_04_train(lab_page, lab_server, chain, shoot):
    page = lab_page
    run_stage(page, lab_server, chain, "04_train")
    train_dir = chain["run_dir"] / "training"
    epochs = chain["params"]["04_train"]["epochs"]
    history = pd.read_csv(train_dir / "history.csv")
    assert history["epoch"].tolist() == list(range(1, epochs + 1))
    assert (train_dir / "best.pt").is_file()

    control = output_with(page, "Start")
    control.locator(".widget-html", has_text=re.compile(r"^finished: ")).wait_for(timeout=30_000)
    # one point per epoch on every curve: loss, accuracy, F1, for train and valid
    for title in ("loss", "accuracy", "F1"):
        figure = control.locator(
            ".bqplot.figure",
            has=page.locator("text.mainheading", has_text=re.compile(f"^{title}$")),
        )
        curves = figure.locator(".curve")
        assert curves.count() == 2, title
        for k in range(2):
            assert curves.nth(k).locator("path.dot").count() == epochs, title
    shoot(control, "tutorial_training_control")
    shoot(figure.locator("xpath=.."), "tutorial_training_curves")
    finish_stage(page, chain, "04_train")


def test_05_evaluate(lab_page, lab_server, chain, shoot):
    page = lab_page
    run_stage(page, lab_server, chain, "05_evaluate")
    run_dir = chain["run_dir"]
    windows = pd.read_csv(run_dir / "predictions.csv")
    assert len(windows) > 0
    assert list((run_dir / "raven").glob("*.selections.txt"))

    review = output_with(page, "Score recording")
    # the confusion matrix: a 2x2 heat map whose counts add up to the validation clips
    cells = review.locator("rect.heatmapcell")
    cells.first.wait_for(timeout=30_000)
    assert cells.count() == 4
    counts = [int(t) for t in review.locator(".wcw-confusion text.label").all_text_contents()]
    assert sum(counts) == len(pd.read_csv(run_dir / "valid.csv"))
    # the clips it shows come with a spectrogram and a player
    image = review.locator(".bqplot.figure image").first
    assert image_size(image)[0] > 1
    assert audio_duration(review.locator("audio").first) == pytest.approx(2.0, abs=0.05)
    # the long recording: one score per window, one dot per detection in the Raven table
    score_figure = review.locator(
        ".bqplot.figure", has=page.locator(".axis text.axislabel", has_text=re.compile("^score$"))
    )
    assert polyline_points(score_figure.locator(".curve path.line").first) == len(windows)
    raven = next((run_dir / "raven").glob("*.selections.txt"))
    n_detections = len(raven.read_text().strip().splitlines()) - 1
    assert score_figure.locator(".object_grp path.dot").count() == n_detections
    shoot(review, "results_review")

    # a student clicks a cell (the fullest; a smoke model may predict one class only)
    k = max(range(4), key=counts.__getitem__)
    cells.nth(k).click()
    position = review.locator(".widget-html", has_text=re.compile(r"^clip \d+ of \d+"))
    position.filter(has_text=f"of {counts[k]} ").wait_for(timeout=15_000)
    cell_line = review.locator(".widget-html", has_text=re.compile(r"^true .* · predicted "))
    assert f": {counts[k]} clip(s)" in cell_line.inner_text()
    finish_stage(page, chain, "05_evaluate")


def test_inspector_in_voila(browser, voila_server, chain, tmp_path, shoot):
    """Voila renders the inspect-and-relabel notebook: spectrogram image and audio players."""
    if "01_get_data" not in chain["passed"]:
        pytest.fail("the Voila test needs the clips of stage 01_get_data, which did not pass")
    # a run folder of its own, holding stage 1's clips, so Voila's run leaves the chain alone
    run_dir = tmp_path / "voila_run"
    run_dir.mkdir()
    shutil.copytree(chain["run_dir"] / "data", run_dir / "data")
    shutil.copy2(chain["run_dir"] / "clips.csv", run_dir / "clips.csv")
    stage = "02_inspect_and_relabel"
    params = {**chain["params"][stage], "run_dir": str(run_dir)}
    nb = parameterized_copy(NOTEBOOKS / f"{stage}.ipynb", tmp_path / f"{stage}.ipynb", params)
    server = voila_server(nb)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = collect_errors(page)
    try:
        page.goto(server.url, wait_until="domcontentloaded", timeout=120_000)
        inspector = page.locator(
            ".jp-OutputArea-output",
            has=page.locator(".widget-button", has_text=re.compile("^next ▶$")),
        )
        image = inspector.locator(".bqplot.figure image").first
        image.wait_for(state="attached", timeout=120_000)
        width, height = image_size(image)
        assert width > 1 and height > 1, "Voila shows the blank placeholder"
        assert audio_duration(inspector.locator("audio").first) == pytest.approx(2.0, abs=0.05)
        page.locator(".widget-button", has_text=re.compile("^Save CSV$")).wait_for()
        assert page.locator("text=Traceback").count() == 0
        assert (run_dir / "labels.csv").is_file()  # Voila ran the whole notebook
        shoot(inspector, "voila_inspector")
        assert widget_console_errors(errors) == []
    finally:
        page.close()
