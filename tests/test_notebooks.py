"""The tutorial notebooks: declared parameters, clean committed files, and the whole chain run.

The chain runs once per test session on the smoke preset (papermill, real kernels); the tests
after it check what every stage promised to write.
"""

from __future__ import annotations

import ast
import json
import os
import re
import sys
import types
from pathlib import Path
from unittest import mock

import nbformat
import numpy as np
import pandas as pd
import papermill as pm
import pytest
import soundfile as sf

from woodcock_widgets.tutorial.runner import (
    PRESETS,
    RECORD_FILENAME,
    STAGES,
    declared_parameters,
    resolve_parameters,
    run_tutorial,
)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "woodcock_widgets" / "tutorial" / "notebooks"
STAGE_NAMES = [s.name for s in STAGES]
PY_TYPES = {"str": str, "int": int, "float": float, "bool": bool, "dict": dict, "list": list}

# What each notebook lets a user change (a removed or renamed parameter breaks runs and docs).
EXPECTED_PARAMETERS = {
    "01_get_data": {"run_dir", "download", "n_song", "n_call", "n_absent", "seed", "difficulty"},
    "02_inspect_and_relabel": {"run_dir", "label_column", "mapping", "new_column", "species"},
    "03_split": {"run_dir", "train_fraction", "seed", "group_column"},
    "04_train": {
        "run_dir",
        "epochs",
        "batch_size",
        "learning_rate",
        "image_size",
        "pretrained",
        "augment",
        "seed",
        "log_every",
        "method",
    },
    "05_evaluate": {"run_dir", "threshold", "recording", "overlap"},
}


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def _code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


# --------------------------------------------------------------------------- static checks
def test_one_notebook_per_stage_and_nothing_else():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == STAGE_NAMES


@pytest.mark.parametrize("name", STAGE_NAMES)
def test_notebook_is_valid_and_uses_the_python3_kernel(name):
    nb = _read(name)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"


@pytest.mark.parametrize("name", STAGE_NAMES)
def test_exactly_one_parameters_cell(name):
    tagged = [c for c in _read(name).cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert tagged[0].cell_type == "code"


@pytest.mark.parametrize("name", STAGE_NAMES)
def test_committed_without_outputs(name):
    for i, cell in enumerate(_code_cells(_read(name))):
        assert cell.outputs == [], f"{name} cell {i} has outputs"
        assert cell.execution_count is None, f"{name} cell {i} has an execution count"


@pytest.mark.parametrize("name", STAGE_NAMES)
def test_parameters_are_typed_explained_and_parse(name):
    params = pm.inspect_notebook(str(NOTEBOOKS / f"{name}.ipynb"))
    assert set(params) == EXPECTED_PARAMETERS[name]
    for p in params.values():
        kind = p["inferred_type_name"]
        assert kind in PY_TYPES, f"{name}: {p['name']} has no usable type annotation"
        assert len(p["help"].strip()) > 10, f"{name}: {p['name']} has no help comment"
        default = ast.literal_eval(p["default"])
        assert type(default) is PY_TYPES[kind], f"{name}: default of {p['name']} is not {kind}"


#: Non-blank, non-comment code lines of the five notebooks before they became a story (269).
CODE_LINES_BEFORE = 269


def _code_lines(nb) -> int:
    lines = [ln.strip() for c in _code_cells(nb) for ln in c.source.splitlines()]
    return sum(1 for ln in lines if ln and not ln.startswith("#"))


def test_notebooks_hold_well_under_half_their_former_code():
    total = sum(_code_lines(_read(name)) for name in STAGE_NAMES)
    assert total <= 0.45 * CODE_LINES_BEFORE, f"{total} code lines"


@pytest.mark.parametrize("name", STAGE_NAMES)
def test_no_placeholder_and_no_run_folder_plumbing(name):
    source = "\n".join(c.source for c in _code_cells(_read(name)))
    for plumbing in (
        "PLACEHOLDER",
        "OWNER",
        "json.loads",
        "atomic_write",
        "pd.concat",
        "subprocess",
    ):
        assert plumbing not in source, f"{name} still has {plumbing}"


def test_run_dir_defaults_agree_so_interactive_notebooks_chain():
    declared = declared_parameters(NOTEBOOKS)
    assert {d["run_dir"]["default"] for d in declared.values()} == {'"runs/tutorial"'}


def test_a_name_has_one_type_in_every_notebook():
    kinds: dict[str, set] = {}
    for params in declared_parameters(NOTEBOOKS).values():
        for name, p in params.items():
            kinds.setdefault(name, set()).add(p["inferred_type_name"])
    assert {n: k for n, k in kinds.items() if len(k) > 1} == {}


def test_presets_set_only_declared_parameters_with_their_types():
    declared = declared_parameters(NOTEBOOKS)
    for preset in PRESETS:
        name, values = resolve_parameters({"preset": preset}, declared)
        assert name == preset
        assert values == PRESETS[preset]  # already typed: nothing was converted
    assert resolve_parameters({"preset": "smoke"}, declared)[1]["epochs"] <= 2


def test_default_preset_trains_from_random_weights():
    # no ImageNet weights can be had offline; the default run must not need them
    declared = declared_parameters(NOTEBOOKS)
    assert declared["04_train"]["pretrained"]["default"] == "False"
    assert declared["01_get_data"]["download"]["default"] == "False"


def _python(source: str) -> str:
    """A cell's source as IPython runs it (``%pip`` becomes a ``run_line_magic`` call)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


@pytest.mark.parametrize("name", STAGE_NAMES)
def test_notebook_code_parses_and_ends_by_saying_what_it_wrote(name):
    cells = _code_cells(_read(name))
    for cell in cells:
        ast.parse(_python(cell.source))
    # the last step either prints what it wrote or is one of the tutorial's steps, which do
    last = cells[-1].source
    assert 'print(f"wrote' in last or re.search(r"steps\.(get_clips|save_\w+|train\w*)\(", last)


def _setup_cell(name: str = "01_get_data") -> str:
    nb = _read(name)
    first_params = next(
        i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])
    )
    setup = [c for c in nb.cells[:first_params] if c.cell_type == "code"]
    assert len(setup) == 1, f"{name} needs one setup cell before its parameters"
    return setup[0].source


@pytest.mark.parametrize("name", STAGE_NAMES[1:])
def test_every_notebook_has_the_same_setup_cell(name):
    # on Colab each notebook gets its own fresh machine, so each must install the kit
    assert _setup_cell(name) == _setup_cell()


def _run_setup(monkeypatch, installed: bool, colab: bool) -> mock.Mock:
    """Run the setup cell with a stand-in IPython; returns its ``run_line_magic``."""
    shell = types.SimpleNamespace(run_line_magic=mock.Mock())
    if not installed:
        monkeypatch.setitem(sys.modules, "woodcock_widgets", None)  # "not installed"
        # the stand-in pip "installs" it: the import after it finds the real package
        shell.run_line_magic.side_effect = lambda *a: sys.modules.pop("woodcock_widgets")
    if colab:
        output = types.SimpleNamespace(enable_custom_widget_manager=mock.Mock())
        module = types.ModuleType("google.colab")
        module.output = output
        monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
        monkeypatch.setitem(sys.modules, "google.colab", module)
        shell.output = output
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    namespace = {"get_ipython": lambda: shell}
    exec(compile(_python(_setup_cell()), "setup", "exec"), namespace)
    assert "steps" in namespace  # the notebook's API is ready
    return shell


def test_colab_setup_does_nothing_on_jupyterlab(monkeypatch):
    shell = _run_setup(monkeypatch, installed=True, colab=False)
    shell.run_line_magic.assert_not_called()


def test_colab_setup_installs_the_kit_by_its_name_and_enables_widgets(monkeypatch):
    shell = _run_setup(monkeypatch, installed=False, colab=True)
    shell.run_line_magic.assert_called_once_with("pip", "install --quiet woodcock-widgets")
    shell.output.enable_custom_widget_manager.assert_called_once_with()


def test_binder_environment_is_cpu_torch_lab4_widgets8_and_installs_the_kit():
    binder = ROOT / "binder"
    lines = [
        line.strip()
        for line in (binder / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines
    names = {re.split(r"[<>=!~ ]", line)[0] for line in lines if not line.startswith("-")}
    assert {"torch", "torchvision", "jupyterlab", "ipywidgets", "bqplot"} <= names
    assert "jupyterlab>=4.0,<5" in lines and "ipywidgets>=8.0,<9" in lines
    post_build = binder / "postBuild"
    assert os.access(post_build, os.X_OK)
    assert re.search(r"pip install .*-e ", post_build.read_text())


def test_readme_binder_and_colab_links_open_the_first_notebook():
    readme = (ROOT / "README.md").read_text()
    first = f"woodcock_widgets/tutorial/notebooks/{STAGE_NAMES[0]}.ipynb"
    assert "mybinder.org/v2/gh/" in readme and f"?urlpath=lab/tree/{first}" in readme
    assert re.search(r"colab\.research\.google\.com/github/\S+/" + re.escape(first), readme)


# ------------------------------------------------------------------------- the chain, run
@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    """The whole chain on the smoke preset, once per session; returns the run folder."""
    run_dir = tmp_path_factory.mktemp("tutorial") / "smoke"
    run_tutorial(run_dir, {"preset": "smoke"}, log=None)
    return run_dir


@pytest.mark.notebook
@pytest.mark.slow
def test_chain_records_every_stage_done_and_keeps_executed_notebooks(smoke_run):
    record = json.loads((smoke_run / RECORD_FILENAME).read_text())
    assert [record["stages"][s]["status"] for s in STAGE_NAMES] == ["done"] * len(STAGES)
    assert record["request"] == {"preset": "smoke", "parameters": {}}
    for name in STAGE_NAMES:
        nb = nbformat.read(smoke_run / "notebooks" / f"{name}.ipynb", as_version=4)
        injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
        assert len(injected) == 1 and f'run_dir = "{smoke_run}"' in injected[0].source
        outputs = [o for c in _code_cells(nb) for o in c.outputs]
        assert not [o for o in outputs if o.output_type == "error"]
        last_text = "".join(o.get("text", "") for o in _code_cells(nb)[-1].outputs)
        assert "wrote " in last_text


@pytest.mark.notebook
@pytest.mark.slow
def test_stage1_clips_table_lists_the_preset_clips(smoke_run):
    clips = pd.read_csv(smoke_run / "clips.csv")
    smoke = PRESETS["smoke"]
    assert clips["sound_type"].value_counts().to_dict() == {
        "song": smoke["n_song"],
        "na": smoke["n_absent"],
        "call": smoke["n_call"],
    }
    for name in clips["filename"]:
        assert not Path(name).is_absolute()  # relative to the run folder: it can move
        assert (smoke_run / name).is_file()


@pytest.mark.notebook
@pytest.mark.slow
def test_stage2_labels_have_the_remapped_column_and_label_dict(smoke_run):
    labels = pd.read_csv(smoke_run / "labels.csv")
    expected = labels["sound_type"].map({"song": "present", "call": "absent", "na": "absent"})
    assert (labels["woodcock_song"] == expected).all()
    assert (labels["NumericLabels"] == (expected == "present").astype(int)).all()
    info = json.loads((smoke_run / "labels.json").read_text())
    assert info["class_column"] == "woodcock_song"
    assert info["label_dict"] == {"0": "scolopax-minor-absent", "1": "scolopax-minor-present"}


@pytest.mark.notebook
@pytest.mark.slow
def test_stage3_split_is_disjoint_complete_and_reported(smoke_run):
    labels = pd.read_csv(smoke_run / "labels.csv")
    train = pd.read_csv(smoke_run / "train.csv")
    valid = pd.read_csv(smoke_run / "valid.csv")
    assert set(train["filename"]).isdisjoint(valid["filename"])
    assert sorted([*train["filename"], *valid["filename"]]) == sorted(labels["filename"])
    assert len(train) == round(0.8 * len(labels))
    balance = pd.read_csv(smoke_run / "balance.csv", index_col=0)
    assert sorted(balance.index) == ["absent", "present"]
    assert balance.loc["present", "train_count"] == (train["woodcock_song"] == "present").sum()
    assert balance.loc["present", "valid_count"] == (valid["woodcock_song"] == "present").sum()
    for part in ("all", "train", "valid"):
        assert balance[f"{part}_fraction"].sum() == pytest.approx(1.0)


@pytest.mark.notebook
@pytest.mark.slow
def test_stage4_training_run_folder_and_bundle(smoke_run):
    from woodcock_widgets.ml.bundle import ModelBundle

    train_dir = smoke_run / "training"
    history = pd.read_csv(train_dir / "history.csv")
    assert history["epoch"].tolist() == list(range(1, PRESETS["smoke"]["epochs"] + 1))
    assert {"train_loss", "valid_accuracy", "valid_f1"} <= set(history.columns)
    config = json.loads((train_dir / "config.json").read_text())
    assert config["training"]["epochs"] == PRESETS["smoke"]["epochs"]
    assert config["preprocessing"]["image_shape"] == [PRESETS["smoke"]["image_size"]] * 2
    bundle = ModelBundle.load(train_dir / "best.pt")
    assert bundle.label_dict == {0: "scolopax-minor-absent", 1: "scolopax-minor-present"}
    assert bundle.preprocessing.image_shape == (PRESETS["smoke"]["image_size"],) * 2
    assert ModelBundle.load(train_dir / "last.pt").extra["epoch"] == PRESETS["smoke"]["epochs"]


@pytest.mark.notebook
@pytest.mark.slow
def test_stage5_predictions_and_raven_table(smoke_run):
    from woodcock_widgets.ml.predict import read_raven_table

    classes = ["scolopax-minor-absent", "scolopax-minor-present"]
    valid = pd.read_csv(smoke_run / "valid.csv")
    clip_scores = pd.read_csv(smoke_run / "valid_predictions.csv")
    assert clip_scores["filename"].tolist() == valid["filename"].tolist()
    assert set(clip_scores["true"]) <= set(classes)
    scores = clip_scores[[f"score_{c}" for c in classes]].to_numpy()
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-3)

    windows = pd.read_csv(smoke_run / "predictions.csv")
    recording = smoke_run / "long_recording.wav"
    assert windows["file"].unique().tolist() == [str(recording)]
    assert len(windows) == int(np.ceil(sf.info(recording).duration / 2.0 - 1e-9))
    np.testing.assert_allclose(windows[classes].sum(axis=1), 1.0, atol=1e-3)

    raven = read_raven_table(smoke_run / "raven" / "long_recording.selections.txt")
    hits = windows[windows[classes[1]] >= 0.5]
    assert raven["Begin Time (s)"].tolist() == pytest.approx(hits["start_time"].tolist())
    assert set(raven["Annotation"]) <= {classes[1]}


@pytest.mark.notebook
@pytest.mark.slow
def test_a_finished_run_resumes_without_running_anything(smoke_run):
    marks = {p: p.stat().st_mtime_ns for p in smoke_run.rglob("*") if p.is_file()}
    lines: list[str] = []
    run_tutorial(smoke_run, {"preset": "smoke"}, resume=True, log=lines.append)
    assert sum("already done, skipped" in line for line in lines) == len(STAGES)
    after = {p: p.stat().st_mtime_ns for p in marks}
    assert [p.name for p in marks if after[p] != marks[p]] == []


@pytest.mark.notebook
@pytest.mark.slow
def test_chain_trains_on_bird_embeddings_through_the_training_control(tmp_path, birdnet):
    """``method = "embeddings"``: notebook 04's TrainingControl fits the head, 05 reviews it."""
    run_dir = tmp_path / "embeddings"
    run_tutorial(run_dir, {"preset": "smoke", "method": "embeddings"}, log=None)
    history = pd.read_csv(run_dir / "training" / "history.csv")
    assert len(history) == 1  # one fitting step, not epochs
    assert {"valid_map", "zero_shot_ap", "head_C"} <= set(history.columns)
    nb = nbformat.read(run_dir / "notebooks" / "04_train.ipynb", as_version=4)
    printed = "".join(
        out.get("text", "") for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
    )
    assert "training finished after 1 epoch(s)" in printed
    assert "train_embeddings" not in "".join(cell.source for cell in nb.cells)
    assert (run_dir / "valid_predictions.csv").is_file()  # 05 scored with the embedding bundle
