"""Training control in JupyterLab as a student uses it: Start, watch the curves, Stop, Resume.

The notebook builds a :class:`TrainingControl` on a small built-in dataset (64x64 images) and
does not start it; the test presses the buttons in the page and reads the run folder on disk
between the clicks.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest
from labdriver import (
    error_outputs,
    open_notebook,
    run_all_and_wait,
    shutdown_kernels,
    widget_console_errors,
    write_notebook,
)

from woodcock_widgets.ml.bundle import ModelBundle, read_bundle_payload

pytestmark = [pytest.mark.browser, pytest.mark.slow]

EPOCHS = 4


def control_cells(data_dir, run_dir) -> list[str]:
    return [
        (
            "from woodcock_widgets.data.synthetic import make_woodcock_dataset\n"
            "from woodcock_widgets.workflow.pipeline import prepare_labels\n"
            "from woodcock_widgets.audio.preprocessing import Preprocessing\n"
            "from woodcock_widgets.widgets import TrainingControl\n"
            f"csv = make_woodcock_dataset({str(data_dir)!r}, n_song=8, n_call=4, n_absent=8,"
            " seed=3)\n"
            "table = prepare_labels(csv, 'sound_type',\n"
            "    {'song': 'present', 'call': 'absent', 'na': 'absent'}, 'woodcock_song')"
        ),
        (
            f"control = TrainingControl({str(run_dir)!r}, table,\n"
            "    preprocessing=Preprocessing(image_shape=(64, 64)),\n"
            f"    epochs={EPOCHS}, batch_size=8, learning_rate=0.01, pretrained=False,"
            " log_every=1)\n"
            "control"
        ),
    ]


def curve_points(figure) -> int:
    """Points drawn on the training-loss line (one marker per finished epoch)."""
    curve = figure.locator(".curve")
    return curve.first.locator("path.dot").count() if curve.count() else 0


def history_epochs(run_dir) -> list[int]:
    return pd.read_csv(run_dir / "history.csv")["epoch"].astype(int).tolist()


def test_start_stop_resume(lab_page, lab_server, shoot, tmp_path):
    page = lab_page
    run_dir = lab_server.root / "control_run"
    nb = "training_control.ipynb"
    write_notebook(lab_server.root / nb, control_cells(tmp_path / "data", run_dir))
    open_notebook(page, lab_server, nb)
    run_all_and_wait(page, timeout=120)
    assert error_outputs(page) == []

    area = page.locator(".jp-OutputArea-output").last
    start = area.locator(".widget-button", has_text=re.compile("^Start$"))
    stop = area.locator(".widget-button", has_text=re.compile("^Stop$"))
    resume = area.locator(".widget-button", has_text=re.compile("^Resume$"))
    loss = area.locator(".bqplot.figure", has=page.locator("text.mainheading", has_text="loss"))
    start.wait_for(timeout=30_000)
    assert stop.is_disabled()
    assert curve_points(loss) == 0

    # Start: the kernel is free at once and the curves gain a point per finished epoch
    start.click()
    loss.locator(".curve path.dot").first.wait_for(timeout=120_000)
    assert curve_points(loss) >= 1
    stop.click()
    status = area.locator(".widget-html", has_text=re.compile(r"^stopped: "))
    status.wait_for(timeout=120_000)
    stopped_text = status.inner_text()
    done = history_epochs(run_dir)
    assert 1 <= len(done) < EPOCHS, f"stop came too late: {stopped_text}"
    assert done == list(range(1, len(done) + 1))
    # the run folder is consistent: last.pt loads and holds exactly the epochs in history.csv
    payload = read_bundle_payload(run_dir / "last.pt")
    assert payload["training_state"]["epoch"] == len(done)
    assert ModelBundle.load(run_dir / "last.pt").label_dict
    assert ModelBundle.load(run_dir / "best.pt").label_dict
    assert curve_points(loss) == len(done)
    assert f"{len(done)} of {EPOCHS} epochs" in stopped_text

    # Resume continues from last.pt to the end
    resume.click()
    area.locator(".widget-html", has_text=re.compile(r"^finished: ")).wait_for(timeout=180_000)
    assert history_epochs(run_dir) == list(range(1, EPOCHS + 1))
    assert read_bundle_payload(run_dir / "last.pt")["training_state"]["epoch"] == EPOCHS
    assert curve_points(loss) == EPOCHS
    assert error_outputs(page) == []
    assert widget_console_errors(page.woodcock_errors) == []

    shoot(area, "training_control_resumed")
    shutdown_kernels(page)
