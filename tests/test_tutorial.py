"""The tutorial runner: parameter checks, run folders (resume or refuse), failing stages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from woodcock_widgets.__main__ import main
from woodcock_widgets.errors import TutorialError, WoodcockError
from woodcock_widgets.tutorial.runner import (
    PRESETS,
    RECORD_FILENAME,
    declared_parameters,
    parse_parameters,
    resolve_parameters,
    run_tutorial,
)

NOTEBOOKS = Path(__file__).resolve().parents[1] / "woodcock_widgets" / "tutorial" / "notebooks"


@pytest.fixture(scope="module")
def declared():
    return declared_parameters(NOTEBOOKS)


# ------------------------------------------------------------------------ parsing and types
def test_parse_parameters_keeps_text_and_refuses_repeats_and_bad_names():
    assert parse_parameters([["epochs", "3"], ["preset", "smoke"]]) == {
        "epochs": "3",
        "preset": "smoke",
    }
    with pytest.raises(TutorialError, match="'epochs' is given twice"):
        parse_parameters([["epochs", "3"], ["epochs", "4"]])
    with pytest.raises(TutorialError, match="not a valid name"):
        parse_parameters([["n-song", "3"]])


def test_text_values_become_the_declared_types(declared):
    _, values = resolve_parameters(
        {
            "epochs": "3",
            "learning_rate": "0.05",
            "download": "False",
            "augment": "yes",
            "mapping": '{"song": "present", "call": "present", "na": "absent"}',
            "label_column": "woodcock",
        },
        declared,
    )
    assert values == {
        "epochs": 3,
        "learning_rate": 0.05,
        "download": False,
        "augment": True,
        "mapping": {"song": "present", "call": "present", "na": "absent"},
        "label_column": "woodcock",
    }
    assert type(values["learning_rate"]) is float


def test_python_values_are_taken_as_they_are(declared):
    _, values = resolve_parameters({"epochs": 3, "threshold": 1, "augment": True}, declared)
    assert values == {"epochs": 3, "threshold": 1.0, "augment": True}


@pytest.mark.parametrize(
    ("name", "value", "kind"),
    [
        ("epochs", "five", "a whole number"),
        ("epochs", "3.5", "a whole number"),
        ("epochs", True, "a whole number"),
        ("learning_rate", "fast", "a number"),
        ("learning_rate", "nan", "a number"),
        ("download", "maybe", "true or false"),
        ("mapping", "song=present", "a JSON object"),
        ("mapping", "[1, 2]", "a JSON object"),
        ("label_column", 3, "text"),
    ],
)
def test_a_value_of_the_wrong_type_names_the_parameter(declared, name, value, kind):
    with pytest.raises(TutorialError, match=f"parameter '{name}' must be {kind}"):
        resolve_parameters({name: value}, declared)


def test_an_unknown_name_is_refused_with_the_closest_known_one(declared):
    with pytest.raises(TutorialError, match=r"unknown parameter 'epoch' \(did you mean 'epochs'"):
        resolve_parameters({"epoch": "3"}, declared)
    with pytest.raises(TutorialError, match="unknown parameter 'zzz'; the notebooks take: augment"):
        resolve_parameters({"zzz": "3"}, declared)


def test_presets_expand_and_given_values_win(declared):
    preset, values = resolve_parameters({"preset": "smoke", "epochs": "1"}, declared)
    assert preset == "smoke"
    assert values == {**PRESETS["smoke"], "epochs": 1}
    assert resolve_parameters({}, declared) == ("default", {})
    with pytest.raises(TutorialError, match="unknown preset 'tiny'.*'default', 'smoke'"):
        resolve_parameters({"preset": "tiny"}, declared)


def test_run_dir_is_not_a_parameter(declared):
    with pytest.raises(TutorialError, match="--run-dir"):
        resolve_parameters({"run_dir": "/tmp/x"}, declared)


def test_notebooks_disagreeing_on_a_type_are_reported(declared):
    broken = json.loads(json.dumps(declared))
    broken["03_split"]["seed"]["inferred_type_name"] = "str"
    with pytest.raises(TutorialError, match="'seed'"):
        resolve_parameters({}, broken)


def test_cli_reports_a_bad_parameter_in_one_line_before_running_anything(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["tutorial", "--run-dir", str(run_dir), "-p", "epochs", "many"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: parameter 'epochs' must be a whole number")
    assert len(err.strip().splitlines()) == 1
    assert not run_dir.exists()


# --------------------------------------------------------------------------- run folders
def test_a_folder_with_other_files_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(TutorialError, match="not empty.*notes.txt.*holds no tutorial run"):
        run_tutorial(tmp_path, {"preset": "smoke"}, log=None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_file_is_not_a_run_folder(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(WoodcockError, match="is a file"):
        run_tutorial(target, log=None)


def test_a_folder_another_runner_works_in_is_refused(tmp_path):
    (tmp_path / ".tutorial.lock").write_text(str(os.getppid()))  # a live process
    with pytest.raises(TutorialError, match=f"another tutorial run \\(process {os.getppid()}\\)"):
        run_tutorial(tmp_path, {"preset": "smoke"}, log=None)
    assert not (tmp_path / RECORD_FILENAME).exists()


def test_unknown_stop_after_is_refused(tmp_path):
    with pytest.raises(TutorialError, match="unknown stage '06_party'"):
        run_tutorial(tmp_path / "r", stop_after="06_party", log=None)


def _record(run_dir: Path) -> dict:
    return json.loads((run_dir / RECORD_FILENAME).read_text())


@pytest.mark.notebook
@pytest.mark.slow
def test_a_failing_stage_is_named_and_stops_the_chain(tmp_path):
    run_dir = tmp_path / "run"
    params = {"preset": "smoke", "label_column": "no_such_column"}
    with pytest.raises(TutorialError) as info:
        run_tutorial(run_dir, params, log=None)
    message = str(info.value)
    assert message.startswith("stage 02_inspect_and_relabel failed: LabelError")
    assert "no_such_column" in message
    assert str(run_dir / "notebooks" / "02_inspect_and_relabel.ipynb") in message
    record = _record(run_dir)
    assert {k: v["status"] for k, v in record["stages"].items()} == {
        "01_get_data": "done",
        "02_inspect_and_relabel": "failed",
    }
    assert "no_such_column" in record["stages"]["02_inspect_and_relabel"]["error"]
    # the executed notebook is kept, with the error where it happened
    nb = nbformat.read(run_dir / "notebooks" / "02_inspect_and_relabel.ipynb", as_version=4)
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert [e.ename for e in errors] == ["LabelError"]
    assert not (run_dir / "labels.csv").exists() and not (run_dir / "train.csv").exists()
    assert not (run_dir / ".tutorial.lock").exists()

    # a second run into the folder: refused without resume, or with other parameters
    with pytest.raises(TutorialError, match="already holds a tutorial run.*01_get_data"):
        run_tutorial(run_dir, params, log=None)
    with pytest.raises(TutorialError, match="parameter 'label_column' was 'no_such_column'"):
        run_tutorial(
            run_dir, {"preset": "smoke", "label_column": "woodcock"}, resume=True, log=None
        )
    with pytest.raises(TutorialError, match="preset was 'smoke' there, now 'default'"):
        run_tutorial(run_dir, {"label_column": "no_such_column"}, resume=True, log=None)

    # resuming with the same parameters skips the finished stage and fails the same way
    before = (run_dir / "clips.csv").stat().st_mtime_ns
    lines: list[str] = []
    with pytest.raises(TutorialError, match="stage 02_inspect_and_relabel failed"):
        run_tutorial(run_dir, params, resume=True, log=lines.append)
    assert "[1/5] 01_get_data: already done, skipped" in lines
    assert (run_dir / "clips.csv").stat().st_mtime_ns == before


@pytest.mark.notebook
@pytest.mark.slow
def test_resume_continues_where_a_run_stopped_and_reruns_lost_outputs(tmp_path):
    run_dir = tmp_path / "run"
    params = {"preset": "smoke", "n_song": "4", "n_call": "2", "n_absent": "4"}
    run_tutorial(run_dir, params, stop_after="01_get_data", log=None)
    assert list(_record(run_dir)["stages"]) == ["01_get_data"]
    assert (run_dir / "clips.csv").is_file() and not (run_dir / "labels.csv").exists()

    lines: list[str] = []
    run_tutorial(
        run_dir, params, resume=True, stop_after="02_inspect_and_relabel", log=lines.append
    )
    assert lines[1:] == [
        "[1/5] 01_get_data: already done, skipped",
        "[2/5] 02_inspect_and_relabel: running",
        lines[3],
    ]
    assert lines[3].startswith("[2/5] 02_inspect_and_relabel: done in ")
    assert (run_dir / "labels.csv").is_file()

    # an output lost since: its stage (and everything after it) runs again
    (run_dir / "labels.json").unlink()
    lines.clear()
    run_tutorial(
        run_dir, params, resume=True, stop_after="02_inspect_and_relabel", log=lines.append
    )
    assert "[2/5] 02_inspect_and_relabel: running" in lines
    assert (run_dir / "labels.json").is_file()
    assert [v["status"] for v in _record(run_dir)["stages"].values()] == ["done", "done"]


@pytest.mark.notebook
@pytest.mark.slow
def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / ".tutorial.lock").write_text(str(dead.pid))
    params = {"preset": "smoke", "n_song": "2", "n_call": "2", "n_absent": "2"}
    run_tutorial(tmp_path, params, stop_after="01_get_data", log=None)
    assert _record(tmp_path)["stages"]["01_get_data"]["status"] == "done"
    assert not (tmp_path / ".tutorial.lock").exists()
