"""Unit sizes (CONTRIBUTING.md, Style): no package file over 400 lines, no class over 250.

Lines of a file are counted as ``wc -l`` does; a class runs from its ``class`` line to its
last line (``end_lineno - lineno + 1``, docstring included, decorators not).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "woodcock_widgets"
MAX_FILE_LINES = 400
MAX_CLASS_LINES = 250


def _sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _file_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n")


def _class_sizes(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        (node.name, node.end_lineno - node.lineno + 1)
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
    ]


def _rel(path: Path) -> str:
    return path.relative_to(PACKAGE.parent).as_posix()


def test_the_walk_sees_the_package_and_measures_classes():
    files = _sources()
    assert len(files) > 50 and PACKAGE / "widgets" / "results_review.py" in files
    sizes = dict(_class_sizes(PACKAGE / "widgets" / "results_review.py"))
    assert 100 < sizes["ResultsReview"] <= MAX_CLASS_LINES


def test_no_package_file_is_over_400_lines():
    offenders = [
        f"{_rel(p)}: {n} lines" for p in _sources() if (n := _file_lines(p)) > MAX_FILE_LINES
    ]
    assert not offenders, f"files over {MAX_FILE_LINES} lines: " + "; ".join(offenders)


def test_no_class_is_over_250_lines():
    offenders = [
        f"{_rel(p)}::{name}: {n} lines"
        for p in _sources()
        for name, n in _class_sizes(p)
        if n > MAX_CLASS_LINES
    ]
    assert not offenders, f"classes over {MAX_CLASS_LINES} lines: " + "; ".join(offenders)
