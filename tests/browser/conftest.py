"""Browser-test fixtures: headless Chromium, a JupyterLab server and Voila, all on 127.0.0.1.

The servers run from this virtual environment with no token, a throw-away settings and
workspace folder and a temporary root folder; they are stopped by PID at the end of the
session, also when a test fails. Chromium is Debian's (``make browser-deps``); nothing is
downloaded. Where it is missing, the tests fail under CI and skip elsewhere.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from labdriver import NOTEBOOKS, ROOT, collect_errors

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT = 90.0

# JupyterLab user settings for a quiet, fully rendered notebook: no news or update checks,
# and no notebook windowing, so every cell's output stays in the DOM for the checks.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(tmp: Path) -> dict[str, str]:
    """Environment for a server: offline, private Jupyter folders under ``tmp``."""
    env = dict(os.environ)
    env.update(
        WOODCOCK_OFFLINE="1",
        JUPYTERLAB_SETTINGS_DIR=str(tmp / "lab-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "lab-workspaces"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        JUPYTER_CONFIG_DIR=str(tmp / "jupyter-config"),
        IPYTHONDIR=str(tmp / "ipython"),
        PYTHONUNBUFFERED="1",
    )
    return env


@dataclass
class Server:
    """A running server process and where to reach it."""

    name: str
    proc: subprocess.Popen
    port: int
    root: Path
    log: Path
    extra: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        """Base URL, ending in ``/``."""
        return f"http://127.0.0.1:{self.port}/"

    def log_tail(self, n: int = 40) -> str:
        """The last ``n`` lines of the server log (for failure messages)."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"


def start_server(
    name: str, args: list[str], root: Path, port: int, env: dict, log: Path, ready_path: str
) -> Server:
    """Start ``args`` in ``root``; return once ``ready_path`` answers HTTP 200."""
    with open(log, "wb") as fh:
        proc = subprocess.Popen(  # noqa: S603 - a fixed argument list, no shell
            args,
            cwd=root,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = Server(name, proc, port, root, log)
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with code {proc.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(server.url + ready_path, timeout=5) as r:  # noqa: S310
                if r.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.5)
    stop_server(server)
    raise RuntimeError(
        f"{name} did not answer within {SERVER_START_TIMEOUT:.0f} s:\n{server.log_tail()}"
    )


def stop_server(server: Server) -> None:
    """Stop the server by its PID: terminate, then kill its process group if it lingers."""
    proc = server.proc
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    # kernels started by the server live in its session (process group = its PID)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def root_flags() -> list[str]:
    """``--allow-root`` where the tests run as root (CI containers)."""
    return ["--allow-root"] if os.geteuid() == 0 else []


# ---------------------------------------------------------------------------- chromium
@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """Debian's chromium; a failure under CI, a skip with the reason elsewhere."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        msg = f"{CHROMIUM} is missing: run `make browser-deps` (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    return CHROMIUM


@pytest.fixture(scope="session")
def browser(chromium_path):
    """A headless Chromium driven by playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        b = pw.chromium.launch(
            executable_path=str(chromium_path), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield b
        finally:
            b.close()
    finally:
        pw.stop()


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """Where the widget screenshots go: env WOODCOCK_SCREENSHOTS or ``screenshots/``."""
    out = Path(os.environ.get("WOODCOCK_SCREENSHOTS", ROOT / "screenshots")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    return out


# ---------------------------------------------------------------------------- servers
@pytest.fixture(scope="session")
def server_tmp(tmp_path_factory) -> Path:
    """Private Jupyter folders (settings, workspaces, runtime) shared by the servers."""
    tmp = tmp_path_factory.mktemp("jupyter")
    settings = tmp / "lab-settings"
    for rel, value in LAB_SETTINGS.items():
        path = settings / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    for sub in ("lab-workspaces", "runtime", "jupyter-config", "ipython"):
        (tmp / sub).mkdir()
    return tmp


@pytest.fixture(scope="session")
def lab_root(tmp_path_factory) -> Path:
    """The JupyterLab root folder, with copies of the tutorial notebooks."""
    root = tmp_path_factory.mktemp("lab_root")
    if NOTEBOOKS.is_dir():
        for nb in sorted(NOTEBOOKS.glob("*.ipynb")):
            shutil.copy2(nb, root / nb.name)
    return root


@pytest.fixture(scope="session")
def lab_server(server_tmp, lab_root) -> Iterator[Server]:
    """JupyterLab on 127.0.0.1, no token, the app exposed as ``window.jupyterapp``."""
    port = free_port()
    args = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        f"--ServerApp.root_dir={lab_root}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        *root_flags(),
    ]
    server = start_server(
        "JupyterLab",
        args,
        lab_root,
        port,
        server_env(server_tmp),
        server_tmp / "jupyterlab.log",
        "api/status",
    )
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def voila_server(server_tmp):
    """Factory: ``voila_server(notebook_path)`` serves one notebook; stopped after the test."""
    started: list[Server] = []

    def start(notebook: Path) -> Server:
        port = free_port()
        args = [
            sys.executable,
            "-m",
            "voila",
            str(notebook),
            "--no-browser",
            "--Voila.ip=127.0.0.1",
            f"--port={port}",
            "--Voila.token=",
        ]  # Voila has no root check (and no --allow-root flag)
        server = start_server(
            "Voila",
            args,
            notebook.parent,
            port,
            server_env(server_tmp),
            server_tmp / f"voila-{port}.log",
            "voila/static/voila.js",
        )
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            stop_server(server)


# ---------------------------------------------------------------------------- pages
@pytest.fixture
def lab_page(browser, lab_server):
    """A fresh browser page that records console errors in ``page.woodcock_errors``."""
    # tall, so screenshots of long widgets fit in the notebook's scroll area
    context = browser.new_context(viewport={"width": 1400, "height": 2200})
    page = context.new_page()
    page.woodcock_errors = collect_errors(page)
    try:
        yield page
    finally:
        context.close()


SHOTS = pytest.StashKey[list]()


#: Screenshots the README shows: browser-test name -> file in ``docs/images/``. With
#: ``WOODCOCK_UPDATE_DOCS_IMAGE=1`` each is copied there when its test takes it.
DOCS_IMAGES = {
    "tutorial_training_curves": "training_curves.png",
    "results_review": "review.png",
    "balance_chart": "balance_chart.png",
    "long_recording": "long_recording.png",
    "labeling_grid": "labeling_grid.png",
}


@pytest.fixture
def shoot(screenshot_dir, request):
    """``shoot(page_or_locator, name)`` saves ``name.png`` in the screenshot folder."""

    def save(target, name: str) -> Path:
        path = screenshot_dir / f"{name}.png"
        target.screenshot(path=str(path))
        request.config.stash.setdefault(SHOTS, []).append(path)
        if os.environ.get("WOODCOCK_UPDATE_DOCS_IMAGE") and name in DOCS_IMAGES:
            docs = ROOT / "docs" / "images"
            docs.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, docs / DOCS_IMAGES[name])
        return path

    return save


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Name the screenshots this session saved and their folder."""
    shots = config.stash.get(SHOTS, [])
    if shots:
        terminalreporter.write_line(f"browser screenshots ({len(shots)}) in {shots[0].parent}:")
        for s in shots:
            terminalreporter.write_line(f"  {s.name}")
