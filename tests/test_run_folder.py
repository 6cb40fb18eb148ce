"""RunFolder: one owner for every file of a run; nothing else in the package names them."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from woodcock_widgets.errors import BundleError, TrainingError
from woodcock_widgets.ml.bundle import ModelBundle
from woodcock_widgets.workflow.run_folder import RunFolder

PACKAGE = Path(__file__).resolve().parents[1] / "woodcock_widgets"
NAMES = (
    "config.json",
    "history.csv",
    "labels.json",
    "best.pt",
    "last.pt",
    "train.csv",
    "valid.csv",
)
#: The owners: RunFolder, and the tutorial-run object (which names its own files only).
OWNERS = {PACKAGE / "ml" / "run_folder.py", PACKAGE / "tutorial" / "tutorial_run.py"}


def test_paths_and_names(tmp_path):
    folder = RunFolder(tmp_path / "run")
    assert folder.config_path == tmp_path / "run" / "config.json"
    assert folder.history_path.name == "history.csv" and folder.labels_path.name == "labels.json"
    assert (folder.last.name, folder.best.name) == ("last.pt", "best.pt")
    assert (folder.train_csv.name, folder.valid_csv.name) == ("train.csv", "valid.csv")
    assert folder.checkpoint(3) == tmp_path / "run" / "checkpoints" / "epoch-0003.pt"
    assert repr(folder) == f"RunFolder({str(tmp_path / 'run')!r})"
    assert not folder.holds_run() and folder.epochs_done() == 0
    assert folder.history().empty
    folder.check_new()  # an empty (even missing) folder takes a new run


def test_labels_and_split_round_trip(tmp_path, song_table):
    folder = RunFolder(tmp_path)
    path = folder.write_labels(song_table, source_column="sound_type", mapping={"song": "present"})
    raw = json.loads(path.read_text())
    assert raw["label_dict"] == {"0": "absent", "1": "present"}  # JSON keys are text
    info = folder.read_labels()
    assert info["label_dict"] == {0: "absent", 1: "present"}  # codes are integers again
    assert info["class_column"] == "woodcock_song" and info["source_column"] == "sound_type"
    assert folder.read_label_dict() == song_table.label_dict
    assert folder.class_column() == "woodcock_song"
    df = song_table.df
    folder.write_split(df.iloc[:10], df.iloc[10:])
    train, valid = folder.read_split()
    assert (len(train), len(valid)) == (10, len(df) - 10)
    table, (train2, valid2) = folder.labeled_table()
    assert table.label_dict == song_table.label_dict
    assert table.class_column == "woodcock_song" and len(table.df) == len(df)
    pd.testing.assert_frame_equal(train, train2)
    assert not list(tmp_path.glob(".*.tmp"))


def test_missing_files_are_named(tmp_path):
    folder = RunFolder(tmp_path / "nothing")
    with pytest.raises(TrainingError, match="labels"):
        folder.read_labels()
    with pytest.raises(TrainingError, match="split"):
        folder.read_split()
    with pytest.raises(TrainingError, match="config.json"):
        folder.read_config()
    with pytest.raises(TrainingError, match="cannot resume.*config.json"):
        folder.read_config_for_resume()
    with pytest.raises(TrainingError, match="no epoch finished"):
        folder.read_checkpoint()
    with pytest.raises(BundleError, match="no epoch finished"):
        folder.latest_bundle()
    with pytest.raises(TrainingError, match="no label dictionary"):
        folder.read_label_dict()
    assert folder.class_column() is None


def test_a_trained_run(trained_run):
    folder = RunFolder(trained_run)
    assert folder.holds_run() and folder.epochs_done() == 2
    with pytest.raises(TrainingError, match="already holds a run"):
        folder.check_new()
    assert folder.history()["epoch"].tolist() == [1, 2]
    assert folder.read_label_dict() == {0: "absent", 1: "present"}
    assert folder.class_column() == "woodcock_song"  # recorded in config.json
    assert folder.bundle_path() == folder.best
    assert isinstance(folder.latest_bundle(), ModelBundle)
    assert RunFolder.containing(folder.best).path == trained_run
    assert RunFolder.containing(trained_run / "checkpoints" / "epoch-0001.pt") is None
    state = folder.read_checkpoint()["training_state"]
    assert state["epoch"] == 2


def test_next_free_folder_for_a_new_run(tmp_path):
    (tmp_path / "training").mkdir()
    (tmp_path / "training" / "x").write_text("x")
    (tmp_path / "training-2").mkdir()
    (tmp_path / "training-2" / "x").write_text("x")
    assert RunFolder(tmp_path / "training").next_free().path == tmp_path / "training-3"
    (tmp_path / "training-3").mkdir()  # empty: free
    assert RunFolder(tmp_path / "training-2").next_free().path == tmp_path / "training-3"


# --------------------------------------------------------- one owner of the file names
def _code_strings(tree: ast.AST) -> list[tuple[int, str]]:
    """String constants that are code (docstrings left out; comments are not in the tree)."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def _named_files(source: str) -> list[str]:
    return [
        f"line {line}: {text!r}"
        for line, text in _code_strings(ast.parse(source))
        if any(name in text for name in NAMES)
    ]


def test_the_check_finds_a_file_name_in_code_but_not_in_docs():
    code = (
        '"""Writes config.json."""\n'
        "import json\n"
        'path = run / "last.pt"  # last.pt\n'
        'msg = f"x {y}/best.pt"\n'
    )
    assert _named_files(code) == ["line 3: 'last.pt'", "line 4: '/best.pt'"]


@pytest.mark.parametrize(
    "path",
    sorted(p for p in PACKAGE.rglob("*.py") if p not in OWNERS),
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_no_module_but_the_owners_names_a_run_folder_file(path):
    assert _named_files(path.read_text()) == []


@pytest.mark.parametrize(
    "path", sorted((PACKAGE / "tutorial" / "notebooks").glob("*.ipynb")), ids=lambda p: p.name
)
def test_no_notebook_code_names_a_run_folder_file(path):
    cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    found = [n for c in cells for n in NAMES if n in c.source]
    assert found == []
