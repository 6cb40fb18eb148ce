"""The built wheel carries the notebooks and runs the tutorial from outside the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # setuptools reuses build/lib; a stale copy there would put deleted modules in the wheel
    shutil.rmtree(ROOT / "build", ignore_errors=True)
    r = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    shutil.rmtree(ROOT / "build", ignore_errors=True)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    (whl,) = out.glob("woodcock_widgets-*.whl")
    return whl


def test_the_wheel_ships_the_notebooks_and_every_layer(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for stage in ("01_get_data", "02_inspect_and_relabel", "03_split", "04_train", "05_evaluate"):
        assert f"woodcock_widgets/tutorial/notebooks/{stage}.ipynb" in names
    own = [n for n in names if n.startswith("woodcock_widgets/tutorial/notebooks/own_recordings/")]
    assert len([n for n in own if n.endswith(".ipynb")]) >= 4
    for layer in ("audio", "tables", "ml", "workflow", "data", "tutorial", "widgets", "cli"):
        assert f"woodcock_widgets/{layer}/__init__.py" in names
    assert not any(n.startswith("tests/") for n in names)


def test_the_installed_wheel_runs_the_smoke_tutorial(wheel, tmp_path):
    """A fresh venv outside the repo, the wheel in it, dependencies borrowed from ours."""
    env_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True, timeout=300)
    py = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # the dependencies (torch, papermill, ...) come from this environment's site-packages;
    # our own editable install there is a .pth hook, which a path listed here does not run
    Path(purelib, "borrowed_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [str(py), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True,
        timeout=300,
    )
    where = subprocess.run(
        [str(py), "-c", "import woodcock_widgets; print(woodcock_widgets.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert where.startswith(str(env_dir)), where  # the wheel, not the checkout
    run_dir = tmp_path / "run"
    env = {**os.environ, "WOODCOCK_OFFLINE": "1"}
    r = subprocess.run(
        [str(env_dir / "bin" / "woodcock-widgets"), "tutorial", "--run-dir", str(run_dir)]
        + ["-p", "preset", "smoke"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    executed = sorted(p.name for p in (run_dir / "notebooks").glob("*.ipynb"))
    assert executed == [
        "01_get_data.ipynb",
        "02_inspect_and_relabel.ipynb",
        "03_split.ipynb",
        "04_train.ipynb",
        "05_evaluate.ipynb",
    ]
