"""The "your own recordings" chain in a real browser: each notebook on the smoke preset, Run All.

Each stage runs in JupyterLab in order, into one run folder under the server's root, on the
Bengalese finch song of ``../shared/real_labeled`` (8 recordings, 3 syllable classes, 1-second
windows, BirdNET embeddings). After Run All the notebook must show no error output and no
widget console error, and the DOM must show its results: the long-recording view of notebook 1
(a real spectrogram with the annotation boxes over it: the alignment check), the split, the
per-class evaluation table, and the detections of notebook 4 drawn over a scanned recording.
Saves ``own_recordings_long_view.png`` (and ``own_recordings_detections.png``) in the
screenshot folder.
"""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from _real_labeled import require_real_labeled
from labdriver import (
    NOTEBOOKS,
    error_outputs,
    html_table,
    image_size,
    open_notebook,
    output_with,
    parameterized_copy,
    run_all_and_wait,
    shutdown_kernels,
    widget_console_errors,
)

from woodcock_widgets.tutorial.own_recordings import CHAIN, STAGES, OwnRecordingsRun
from woodcock_widgets.tutorial.parameters import declared_parameters, resolve_parameters

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHAIN_NOTEBOOKS = NOTEBOOKS / "own_recordings"
STAGE_NAMES = [s.name for s in STAGES]
CLASSES = ["a", "e", "i"]


@pytest.fixture(scope="session")
def own_chain(lab_server):
    """The run folder and the smoke-preset parameters of every stage; records passed stages."""
    gy6or6 = require_real_labeled() / "bengalese_finch_gy6or6"
    declared = declared_parameters(CHAIN_NOTEBOOKS, CHAIN)
    given = {
        "preset": "smoke",
        "audio_dir": str(gy6or6 / "wav"),
        "annotations": str(gy6or6 / "raven"),
        "classes": json.dumps(CLASSES),
    }
    _, values = resolve_parameters(given, declared, CHAIN)
    run_dir = lab_server.root / "own_recordings_run"
    params = {}
    for stage in STAGE_NAMES:
        mine = {k: v for k, v in values.items() if k in declared[stage]}
        params[stage] = {**mine, "run_dir": str(run_dir)}
    return {"run_dir": run_dir, "params": params, "passed": set()}


def run_stage(page, server, chain, stage: str, timeout: float = 240.0) -> None:
    """Write the stage's smoke copy into the server root, open it, Run All, check it is clean."""
    missing = [s for s in STAGE_NAMES[: STAGE_NAMES.index(stage)] if s not in chain["passed"]]
    if missing:
        pytest.fail(f"stage {stage} needs the earlier stages, which did not pass: {missing}")
    name = f"own_{stage}.ipynb"
    parameterized_copy(
        CHAIN_NOTEBOOKS / f"{stage}.ipynb", server.root / name, chain["params"][stage]
    )
    open_notebook(page, server, name)
    state = run_all_and_wait(page, timeout=timeout)
    errors = error_outputs(page)
    assert errors == [], f"{stage}: error output in the notebook:\n" + "\n".join(errors)
    assert state["executed"] == state["total"], f"{stage}: not every cell ran: {state}"


def finish_stage(page, chain, stage: str) -> None:
    """Final checks shared by all stages; marks the stage passed."""
    assert widget_console_errors(page.woodcock_errors) == [], page.woodcock_errors
    shutdown_kernels(page)
    chain["passed"].add(stage)


def table_with(page, header: str) -> list[list[str]]:
    """Rows of the rendered DataFrame whose header has ``header``."""
    output = page.locator(
        ".jp-OutputArea-output", has=page.locator("table th", has_text=re.compile(f"^{header}$"))
    ).last
    return html_table(output)


def check_long_view(page, events_expected: bool = True):
    """The long-recording view: a real spectrogram, and its boxes named in the legend."""
    view = output_with(page, "next ▶")
    image = view.locator(".bqplot.figure image").first
    image.wait_for(state="attached", timeout=30_000)
    width, height = image_size(image)
    assert width > 100 and height > 100, "the spectrogram is the blank placeholder"
    legend = view.locator(".widget-html", has_text=re.compile("events in view"))
    shown = int(re.search(r"(\d+) of \d+ events in view", legend.inner_text()).group(1))
    if events_expected:
        assert shown > 0
        outlines = view.locator(".bqplot.figure").first.locator(".curve path.line")
        runs = sum(
            (outlines.nth(k).get_attribute("d") or "").count("M") for k in range(outlines.count())
        )
        assert runs >= shown  # one outline per box in view (+ the window bounds)
    return view


def test_01_annotations_to_windows(lab_page, lab_server, own_chain, shoot):
    page = lab_page
    run_stage(page, lab_server, own_chain, "01_annotations_to_windows")
    run = OwnRecordingsRun(own_chain["run_dir"])
    windows = pd.read_csv(run.windows_csv)
    assert list(windows.columns)[3:] == CLASSES
    # the alignment check: the first recording with its Raven boxes, coloured by class
    view = check_long_view(page)
    page.mouse.move(1, 1)  # no hover toolbar in the picture
    shoot(view, "own_recordings_long_view")
    # the per-class counts, as a table
    rows = table_with(page, "positives")
    counts = {r[0]: int(r[1]) for r in rows[2:] or rows[1:] if r and r[0] in CLASSES}
    assert counts == windows[CLASSES].sum().to_dict()
    finish_stage(page, own_chain, "01_annotations_to_windows")


def test_02_train(lab_page, lab_server, own_chain):
    page = lab_page
    run_stage(page, lab_server, own_chain, "02_train")
    training = OwnRecordingsRun(own_chain["run_dir"]).training
    assert training.best.is_file() and training.history_path.is_file()
    rows = table_with(page, "valid_windows")
    assert {r[0] for r in rows if r} >= set(CLASSES)
    finish_stage(page, own_chain, "02_train")


def test_03_evaluate(lab_page, lab_server, own_chain):
    page = lab_page
    run_stage(page, lab_server, own_chain, "03_evaluate")
    metrics = pd.read_csv(OwnRecordingsRun(own_chain["run_dir"]).evaluation_csv)
    assert metrics["class"].tolist() == CLASSES
    rows = table_with(page, "ap")
    assert {r[0] for r in rows if r} >= set(CLASSES)
    finish_stage(page, own_chain, "03_evaluate")


def test_04_predict(lab_page, lab_server, own_chain, shoot):
    page = lab_page
    run_stage(page, lab_server, own_chain, "04_predict")
    run = OwnRecordingsRun(own_chain["run_dir"])
    detections = pd.read_csv(run.detections_csv)
    assert len(detections) > 0 and set(detections["annotation"]) <= set(CLASSES)
    assert list(run.raven_dir.glob("*.selections.txt"))
    # the detections of the first scanned recording, drawn over it from its Raven table
    first = run.scanned_recordings()[0]
    view = check_long_view(page, events_expected=(detections["file"] == first).any())
    page.mouse.move(1, 1)
    shoot(view, "own_recordings_detections")
    finish_stage(page, own_chain, "04_predict")
