"""Drive JupyterLab and Voila pages in the browser tests like a student would.

Helpers take a playwright ``Page``. JupyterLab runs with ``expose_app_in_browser``, so the
waits read the notebook model (execution counts, kernel status) rather than guess from
timing; actions (Run All, button clicks) go through the visible UI.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "woodcock_widgets" / "tutorial" / "notebooks"

# words that tie a console error to our widget stack (not to, say, a missing favicon)
WIDGET_ERROR_WORDS = (
    "bqplot",
    "jupyter-widgets",
    "jupyter_widgets",
    "widget",
    "woodcock",
    "ipywidgets",
    "comm",
)

_NOTEBOOK_STATE_JS = """() => {
  const app = window.jupyterapp;
  const panel = app && app.shell.currentWidget;
  if (!panel || !panel.content || !panel.sessionContext) return null;
  const session = panel.sessionContext.session;
  const kernel = session && session.kernel;
  const cells = panel.content.widgets.filter(c => c.model.type === 'code');
  return {
    kernel: kernel ? kernel.status : 'none',
    total: cells.length,
    executed: cells.filter(c => c.model.executionCount !== null).length,
    running: Array.from(panel.content.node.querySelectorAll('.jp-InputPrompt'))
      .filter(p => p.textContent.includes('*')).length,
  };
}"""


def write_notebook(path: Path, sources: list[str]) -> Path:
    """Write a notebook of code cells with the python3 kernel selected."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


def notebook_state(page) -> dict | None:
    """Kernel status and execution counts of the notebook in the main area."""
    return page.evaluate(_NOTEBOOK_STATE_JS)


def open_notebook(page, server, rel_path: str, timeout: float = 90.0) -> None:
    """Open ``rel_path`` (relative to the server root) and wait for an idle kernel."""
    # ?reset: start from an empty workspace, not the tabs (and kernels) of the last page
    page.goto(f"{server.url}lab/tree/{rel_path}?reset", wait_until="domcontentloaded")
    page.wait_for_function(
        f"""() => {{
          const app = window.jupyterapp;
          const panel = app && app.shell.currentWidget;
          if (!panel || !panel.context || panel.context.path !== {json.dumps(rel_path)}) {{
            return false;
          }}
          const s = ({_NOTEBOOK_STATE_JS})();
          return s && s.kernel === 'idle' && panel.content.widgets.length > 0;
        }}""",
        timeout=timeout * 1000,
        polling=250,
    )


def menu(page, top: str, item: str) -> None:
    """Click a main-menu entry, e.g. ``menu(page, "Run", "Run All Cells")``."""
    page.locator(
        "#jp-MainMenu .lm-MenuBar-itemLabel", has_text=re.compile(f"^{re.escape(top)}$")
    ).click()
    page.locator(
        ".lm-Menu-content .lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")
    ).first.click()


def run_all_and_wait(page, timeout: float = 180.0) -> dict:
    """Run → Run All Cells, then wait until every code cell ran and the kernel is idle.

    A cell that raises stops Run All; the wait then ends too (the caller checks
    :func:`error_outputs` and the returned execution counts).
    """
    menu(page, "Run", "Run All Cells")
    page.wait_for_function(
        f"""() => {{
          const s = ({_NOTEBOOK_STATE_JS})();
          if (!s || s.kernel !== 'idle' || s.running !== 0) return false;
          const failed = Array.from(document.querySelectorAll(
              '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'))
            .some(e => e.textContent.includes('Traceback'));
          return failed || s.executed === s.total;
        }}""",
        timeout=timeout * 1000,
        polling=250,
    )
    return notebook_state(page)


def error_outputs(page) -> list[str]:
    """Texts of tracebacks and error outputs in the notebook (empty when clean)."""
    return page.evaluate("""() => {
      const out = [];
      for (const el of document.querySelectorAll(
          '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')) {
        if (el.textContent.includes('Traceback')) out.push(el.textContent.slice(0, 2000));
      }
      for (const el of document.querySelectorAll('.jp-OutputArea-output .jp-RenderedText')) {
        const t = el.textContent;
        if (/Traceback|\\w*Error\\b/.test(t)) out.push(t.slice(0, 2000));
      }
      return out;
    }""")


def widget_console_errors(messages: list[str]) -> list[str]:
    """Uncaught page errors, and console errors that mention our widget stack."""
    return [
        m
        for m in messages
        if m.startswith("pageerror:") or any(w in m.lower() for w in WIDGET_ERROR_WORDS)
    ]


def collect_errors(page) -> list[str]:
    """Record the page's console errors and uncaught errors in a list (returned)."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    return errors


def image_digest(locator) -> str:
    """SHA-256 of the bytes behind an ``<img>`` or SVG ``<image>`` (blob, data or http URL)."""
    return locator.evaluate("""async (el) => {
      const url = el.getAttribute('href') || el.getAttribute('xlink:href') || el.src;
      const buf = await (await fetch(url)).arrayBuffer();
      if (!buf.byteLength) return 'empty';
      const d = await crypto.subtle.digest('SHA-256', buf);
      return Array.from(new Uint8Array(d)).map(b => b.toString(16).padStart(2, '0')).join('');
    }""")


def polyline_points(locator) -> int:
    """How many points a bqplot line path (``d`` attribute) has."""
    d = locator.get_attribute("d") or ""
    return len(re.findall(r"[ML]", d))


def parameterized_copy(src: Path, dst: Path, parameters: dict) -> Path:
    """Write ``src`` to ``dst`` with papermill's injected-parameters cell (not executed)."""
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    nb = parameterize_notebook(load_notebook_node(str(src)), parameters)
    nbformat.write(nb, dst)
    return dst


def shutdown_kernels(page) -> None:
    """Shut down every kernel session of the JupyterLab page (frees the 2 shared cores)."""
    page.evaluate("() => window.jupyterapp.serviceManager.sessions.shutdownAll()")


def output_with(page, text: str, selector: str = ".widget-button"):
    """The cell output holding a widget element (by default a button) with ``text``."""
    return page.locator(
        ".jp-OutputArea-output", has=page.locator(selector, has_text=re.compile(f"^{text}$"))
    )


def image_size(locator) -> list[int]:
    """Natural ``[width, height]`` of the picture behind an ``<img>`` or SVG ``<image>``."""
    return locator.evaluate("""async (el) => {
      const img = new Image();
      img.src = el.getAttribute('href') || el.getAttribute('xlink:href') || el.src;
      await img.decode();
      return [img.naturalWidth, img.naturalHeight];
    }""")


def audio_duration(locator, timeout_ms: int = 15_000) -> float:
    """Duration in seconds of an ``<audio>`` element's sound, once the browser decoded it."""
    return locator.evaluate(
        """(a, timeout) => new Promise((resolve, reject) => {
          if (a.readyState >= 1 && isFinite(a.duration)) return resolve(a.duration);
          a.addEventListener('loadedmetadata', () => resolve(a.duration), {once: true});
          a.addEventListener('error', () => reject(new Error('audio error')), {once: true});
          if (a.preload === 'none') a.preload = 'metadata';
          a.load();
          setTimeout(() => reject(new Error('no audio metadata')), timeout);
        })""",
        timeout_ms,
    )


def html_table(locator) -> list[list[str]]:
    """Rows (cells' text) of the first ``<table>`` inside ``locator``."""
    return locator.locator("table").first.evaluate(
        "t => Array.from(t.rows).map(r => Array.from(r.cells).map(c => c.textContent.trim()))"
    )
