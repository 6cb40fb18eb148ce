"""LongRecordingView in JupyterLab: a gy6or6 song bout with its Raven boxes, scrolled and clicked.

The notebook shows the widget on one real recording (``../shared/real_labeled``); the test
checks that the spectrogram and one outline per event in view are drawn, that a click inside
a box (on the spectrogram, as a user clicks) puts that event's sound in the player, that
"next" scrolls, and saves ``long_recording.png`` in the screenshot folder;
``WOODCOCK_UPDATE_DOCS_IMAGE=1`` also copies it into ``docs/images/`` for the README
(see ``conftest.DOCS_IMAGES``).
"""

from __future__ import annotations

import re
import time

import pytest
from _real_labeled import require_real_labeled
from labdriver import (
    audio_duration,
    error_outputs,
    image_digest,
    image_size,
    open_notebook,
    output_with,
    run_all_and_wait,
    shutdown_kernels,
    widget_console_errors,
    write_notebook,
)

from woodcock_widgets.tables.annotations import read_raven

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NAME = "032312_gy6or6_baseline_230312_0808.138"
START, DURATION = 1.0, 4.0


def cells(wav, table) -> list[str]:
    return [
        "from woodcock_widgets.widgets import LongRecordingView",
        (
            f"view = LongRecordingView({str(wav)!r}, {str(table)!r},\n"
            f"    start={START}, duration={DURATION}, frequency_range=(0, 12000))\n"
            "view"
        ),
    ]


def test_long_recording_view(lab_page, lab_server, shoot):
    gy6or6 = require_real_labeled() / "bengalese_finch_gy6or6"
    wav = gy6or6 / "wav" / f"{NAME}.wav"
    table = gy6or6 / "raven" / f"{NAME}.Table.1.selections.txt"
    events = read_raven(table)
    page = lab_page
    write_notebook(lab_server.root / "long_recording.ipynb", cells(wav, table))
    open_notebook(page, lab_server, "long_recording.ipynb")
    state = run_all_and_wait(page, timeout=180)
    assert error_outputs(page) == [] and state["executed"] == state["total"]

    view = output_with(page, "next ▶")
    figure = view.locator(".bqplot.figure").first
    image = figure.locator("image").first
    image.wait_for(state="attached", timeout=30_000)
    width, height = image_size(image)
    assert width > 100 and height > 100, "the spectrogram is the blank placeholder"

    # one outline per event in the stretch (class marks; windows and selection are other marks)
    shown = events[(events["end_time"] >= START) & (events["start_time"] <= START + DURATION)]
    legend = view.locator(".widget-html", has_text=re.compile("events in view"))
    assert f"{len(shown)} of {len(events)} events in view" in legend.inner_text()
    outlines = figure.locator(".curve path.line")
    runs = sum(
        (outlines.nth(k).get_attribute("d") or "").count("M") for k in range(outlines.count())
    )
    assert runs >= len(shown)  # + the window bounds

    # click the middle of the longest box in view, on the spectrogram, as a user does
    event = (shown["end_time"] - shown["start_time"]).idxmax()
    a, b = shown.loc[event, ["start_time", "end_time"]]
    box = image.bounding_box()
    x = box["x"] + ((a + b) / 2 - START) / DURATION * box["width"]
    y = box["y"] + (1 - 5000 / 12000) * box["height"]  # 5 kHz, inside the 500-10000 Hz box
    page.mouse.click(x, y)
    info = view.locator(".widget-html", has_text=re.compile(rf"^event {event}:"))
    info.wait_for(timeout=15_000)
    player = view.locator("audio").first
    deadline = time.monotonic() + 15
    while not player.evaluate("a => a.src.length > 0") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert audio_duration(player) == pytest.approx(b - a, abs=0.01)
    assert player.get_attribute("autoplay") is None
    page.mouse.move(1, 1)  # no hover toolbar in the picture
    time.sleep(1.0)  # (it fades out)
    shoot(view, "long_recording")  # the clicked box outlined, its sound in the player

    # next: another stretch, another picture and other boxes
    before = image_digest(image)
    view.locator(".widget-button", has_text=re.compile("^next ▶$")).click()
    later = START + DURATION
    view.locator(".widget-html", has_text=f"{later:.2f}–").first.wait_for(timeout=15_000)
    deadline = time.monotonic() + 15
    while image_digest(image) == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert image_digest(image) != before, "the spectrogram did not change after next"
    assert widget_console_errors(page.woodcock_errors) == []
    shutdown_kernels(page)
