"""Smoke test: ipywidgets and bqplot render and talk to the kernel in this JupyterLab."""

from __future__ import annotations

import pytest
from labdriver import (
    collect_errors,
    error_outputs,
    image_digest,
    open_notebook,
    run_all_and_wait,
    widget_console_errors,
    write_notebook,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SMOKE_CELLS = [
    "import bqplot as bq\nimport ipywidgets as w",
    (
        "label = w.Label('clicked 0 times')\n"
        "button = w.Button(description='Smoke button')\n"
        "def on_click(_):\n"
        "    n = int(label.value.split()[1]) + 1\n"
        "    label.value = f'clicked {n} times'\n"
        "button.on_click(on_click)\n"
        "x = bq.LinearScale(); y = bq.LinearScale()\n"
        "line = bq.Lines(x=[0, 1, 2, 3], y=[0, 1, 0, 2], scales={'x': x, 'y': y})\n"
        "bars = bq.Bars(x=[0, 1, 2], y=[3, 1, 2], scales={'x': x, 'y': y})\n"
        "fig = bq.Figure(marks=[line, bars], title='smoke figure',\n"
        "                axes=[bq.Axis(scale=x), bq.Axis(scale=y, orientation='vertical')])\n"
        "w.VBox([w.HBox([button, label]), fig])"
    ),
]


def test_button_and_bqplot_render(lab_page, lab_server, shoot):
    page = lab_page
    write_notebook(lab_server.root / "smoke_widgets.ipynb", SMOKE_CELLS)
    open_notebook(page, lab_server, "smoke_widgets.ipynb")
    state = run_all_and_wait(page, timeout=120)
    assert state["executed"] == len(SMOKE_CELLS)

    button = page.locator(".jp-OutputArea-output .widget-button", has_text="Smoke button")
    button.wait_for(timeout=30_000)
    figure = page.locator(".jp-OutputArea-output .bqplot.figure")
    figure.wait_for(timeout=30_000)
    assert figure.locator("text.mainheading", has_text="smoke figure").count() >= 1
    line = figure.locator(".curve path.line").first
    assert (line.get_attribute("d") or "").count("L") >= 3  # four points, three segments
    assert figure.locator(".bargroup rect.bar").count() == 3

    # the click goes to the kernel and the new label value comes back
    button.click()
    page.locator(".widget-label", has_text="clicked 1 times").wait_for(timeout=15_000)

    shoot(page.locator(".jp-OutputArea-output").last, "smoke_widgets")
    assert error_outputs(page) == []
    assert widget_console_errors(page.woodcock_errors) == []


VOILA_CELLS = [
    (
        "import io, wave\n"
        "import numpy as np\n"
        "import bqplot as bq\n"
        "import ipywidgets as w\n"
        "from PIL import Image as PILImage\n"
        "pixels = (np.indices((32, 64)).sum(0) * 3 % 256).astype('uint8')\n"
        "png = io.BytesIO(); PILImage.fromarray(pixels).save(png, format='PNG')\n"
        "image = w.Image(value=png.getvalue(), format='png')\n"
        "sx = bq.LinearScale(min=0, max=2); sy = bq.LinearScale(min=0, max=1)\n"
        "mark = bq.Image(image=image, scales={'x': sx, 'y': sy}, x=[0, 2], y=[0, 1])\n"
        "fig = bq.Figure(marks=[mark], title='smoke image')\n"
        "tone = (np.sin(np.arange(8000) * 0.1) * 8000).astype('<i2')\n"
        "wav = io.BytesIO()\n"
        "with wave.open(wav, 'wb') as f:\n"
        "    f.setnchannels(1); f.setsampwidth(2); f.setframerate(8000)\n"
        "    f.writeframes(tone.tobytes())\n"
        "player = w.Audio(value=wav.getvalue(), format='wav', autoplay=False, loop=False)\n"
        "w.VBox([fig, player])"
    ),
]


def test_voila_renders_image_and_audio(browser, voila_server, tmp_path, shoot):
    nb = write_notebook(tmp_path / "smoke_voila.ipynb", VOILA_CELLS)
    server = voila_server(nb)
    page = browser.new_page()
    errors = collect_errors(page)
    try:
        page.goto(server.url, wait_until="domcontentloaded", timeout=120_000)
        figure = page.locator(".bqplot.figure")
        figure.wait_for(timeout=120_000)
        svg_image = figure.locator("image").first
        svg_image.wait_for(state="attached", timeout=30_000)
        assert image_digest(svg_image) != "empty"
        audio = page.locator("audio").first
        audio.wait_for(state="attached", timeout=30_000)
        assert audio.get_attribute("autoplay") is None
        assert audio.evaluate("a => a.src.length") > 0
        shoot(page, "smoke_voila")
        assert widget_console_errors(errors) == []
    finally:
        page.close()
