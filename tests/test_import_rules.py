"""Layering and safety rules checked on the package source (DESIGN.md §2)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "woodcock_widgets"
WIDGETS = PACKAGE / "widgets"
UI_PACKAGES = {"ipywidgets", "bqplot", "IPython", "ipyevents"}


def _sources(include_widgets: bool) -> list[Path]:
    files = sorted(PACKAGE.rglob("*.py"))
    if not include_widgets:
        files = [f for f in files if WIDGETS not in f.parents]
    return files


def _core_modules() -> list[str]:
    out = []
    for f in _sources(include_widgets=False):
        rel = f.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append(".".join(parts))
    return out


def _imported_roots(tree: ast.AST) -> set[str]:
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module",)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            roots.add(node.args[0].value.split(".")[0])
    return roots


def test_the_rule_is_checked_on_the_real_package():
    core = _core_modules()
    assert {
        "woodcock_widgets.audio.clip",
        "woodcock_widgets.ml.training",
        "woodcock_widgets.ml.predict",
    } <= (set(core))
    assert not any(m.startswith("woodcock_widgets.widgets") for m in core)


@pytest.mark.parametrize(
    "path", _sources(include_widgets=False), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_core_source_does_not_import_ui_packages(path):
    roots = _imported_roots(ast.parse(path.read_text(), filename=str(path)))
    assert not roots & UI_PACKAGES, f"{path} imports {sorted(roots & UI_PACKAGES)}"


def test_the_import_check_catches_a_violation():
    code = "import os\ndef f():\n    from ipywidgets import Button\n    import bqplot.pyplot\n"
    assert _imported_roots(ast.parse(code)) & UI_PACKAGES == {"ipywidgets", "bqplot"}
    dyn = "import importlib\nimportlib.import_module('IPython.display')\n"
    assert "IPython" in _imported_roots(ast.parse(dyn))


def test_importing_every_core_module_leaves_ui_packages_out():
    script = (
        "import importlib, json, sys\n"
        f"mods = {_core_modules()!r}\n"
        "for m in mods:\n"
        "    importlib.import_module(m)\n"
        "import woodcock_widgets as w\n"
        "for name in w.__all__:\n"
        "    getattr(w, name)\n"
        f"print(json.dumps(sorted(k for k in sys.modules if k.split('.')[0] in {UI_PACKAGES!r})))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PACKAGE.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1]) == []


def _shell_uses(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        for kw in node.keywords:
            if kw.arg == "shell" and not (
                isinstance(kw.value, ast.Constant) and kw.value.value is False
            ):
                found.append(f"shell= on line {node.lineno}")
        f = node.func
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
            name = f"{f.value.id}.{f.attr}"
            if name in (
                "os.system",
                "os.popen",
                "subprocess.getoutput",
                "subprocess.getstatusoutput",
            ):
                found.append(f"{name} on line {node.lineno}")
        if isinstance(f, ast.Name) and f.id in ("system", "popen", "getoutput", "getstatusoutput"):
            found.append(f"{f.id} on line {node.lineno}")
    return found


@pytest.mark.parametrize(
    "path", _sources(include_widgets=True), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_no_shell_commands_anywhere_in_the_package(path):
    assert _shell_uses(ast.parse(path.read_text(), filename=str(path))) == []


def test_the_shell_check_catches_violations():
    code = (
        "import os, subprocess\n"
        "subprocess.run('ls', shell=True)\n"
        "os.system('ls')\n"
        "os.popen('ls')\n"
        "subprocess.run(['ls'], shell=False)\n"
    )
    assert len(_shell_uses(ast.parse(code))) == 3


# ------------------------------------------------------------------ the layers (issue 11)
#: What each layer may import from the package (besides itself and the base modules).
LAYERS = {
    "audio": set(),
    "tables": {"audio"},
    "ml": {"audio", "tables", "data"},  # models fetch ImageNet weights with data.download
    "workflow": {"audio", "tables", "ml"},
    "data": {"audio"},
    "tutorial": {"audio", "tables", "ml", "workflow", "data"},
    "widgets": {"audio", "tables", "ml", "workflow", "data"},
    "cli": {"audio", "tables", "ml", "workflow", "data", "tutorial"},
}
BASE = {"errors", "io_utils", "__init__", "__main__"}


def _layer_of(module: str) -> str:
    """``woodcock_widgets.ml.bundle`` → ``ml``; root modules are their own names."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)


def _package_imports(path: Path, module: str) -> set[str]:
    """Absolute names of the package modules a source file imports (at any depth)."""
    package = module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "woodcock_widgets" or not target.startswith("woodcock_widgets"):
                # `from . import x`: the names may be modules of the package
                if target == "woodcock_widgets":
                    found.update(f"woodcock_widgets.{a.name}" for a in node.names)
                continue
            found.add(target)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("woodcock_widgets."))
    return found


def _layer_violations(path: Path, module: str | None = None) -> list[str]:
    module = module or _module_name(path)
    own = _layer_of(module)
    if own in BASE or own not in LAYERS:
        return []
    allowed = LAYERS[own] | {own} | BASE
    bad = []
    for target in sorted(_package_imports(path, module)):
        layer = _layer_of(target)
        if layer not in allowed and layer in LAYERS:
            bad.append(f"{own} imports {target}")
    return bad


def test_every_package_folder_is_a_known_layer():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders <= set(LAYERS), f"unknown layers: {folders - set(LAYERS)}"
    assert {"audio", "tables", "ml", "workflow", "data", "tutorial", "widgets", "cli"} <= folders


@pytest.mark.parametrize(
    "path", _sources(include_widgets=True), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_each_layer_imports_only_the_layers_below_it(path):
    assert _layer_violations(path) == []


def test_the_layer_check_catches_a_violation(tmp_path):
    fake = PACKAGE / "tables" / "labels.py"
    text = fake.read_text() + "\nfrom ..ml.bundle import ModelBundle\n"
    probe = tmp_path / "probe.py"
    probe.write_text(text)
    bad = _layer_violations(probe, "woodcock_widgets.tables.probe")
    assert bad == ["tables imports woodcock_widgets.ml.bundle"]


@pytest.mark.parametrize("path", sorted((PACKAGE / "tables").rglob("*.py")), ids=lambda p: p.name)
def test_table_modules_never_import_torch(path):
    roots = _imported_roots(ast.parse(path.read_text(), filename=str(path)))
    assert "torch" not in roots and "torchvision" not in roots, f"{path} imports torch"


def test_the_label_remapper_loads_without_torch():
    script = (
        "import sys\n"
        "import woodcock_widgets.tables.remapping, woodcock_widgets.tables.labeled\n"
        "print('torch' in sys.modules)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", script], cwd=PACKAGE.parent, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"
