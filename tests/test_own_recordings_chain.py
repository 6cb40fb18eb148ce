"""The "your own recordings" chain: its notebooks, parameters, runner and CLI, and a whole run.

The static checks and the runner's refusals are fast. The chain itself runs once per session
(``slow``, ``notebook``) through ``woodcock-widgets tutorial --chain own-recordings`` on the
smoke preset over the Bengalese finch song of ``../shared/real_labeled`` (env
``WOODCOCK_REAL_LABELED``): 8 recordings, 3 syllable classes, 1-second windows, BirdNET
embeddings; the tests after it check what every stage wrote.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import papermill as pm
import pytest
from _real_labeled import require_real_labeled

from woodcock_widgets.__main__ import main
from woodcock_widgets.cli import build_parser
from woodcock_widgets.cli import tutorial as tutorial_cli
from woodcock_widgets.errors import SplitError, TutorialError
from woodcock_widgets.ml.bundle import ModelBundle
from woodcock_widgets.tables.windows import WINDOW_COLUMNS, read_window_table
from woodcock_widgets.tutorial import own_recordings
from woodcock_widgets.tutorial import own_recordings_steps as steps
from woodcock_widgets.tutorial.own_recordings import OwnRecordingsRun
from woodcock_widgets.tutorial.own_recordings_steps import (
    label_mode,
    read_and_match,
    split_by_recording,
)
from woodcock_widgets.tutorial.parameters import (
    CHAINS,
    declared_parameters,
    notebooks_dir,
    resolve_parameters,
)
from woodcock_widgets.tutorial.runner import RECORD_FILENAME, run_tutorial
from woodcock_widgets.tutorial.tutorial_run import TutorialRun
from woodcock_widgets.workflow.run_folder import RunFolder

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "woodcock_widgets" / "tutorial" / "notebooks" / "own_recordings"
CHAIN = "own-recordings"
STAGE_NAMES = [s.name for s in own_recordings.STAGES]
PY_TYPES = {"str": str, "int": int, "float": float, "bool": bool, "dict": dict, "list": list}
RUN_FOLDER_NAMES = [
    RunFolder.CONFIG,
    RunFolder.HISTORY,
    RunFolder.LABELS,
    RunFolder.BEST,
    RunFolder.LAST,
    RunFolder.TRAIN,
    RunFolder.VALID,
]
CLASSES = ["a", "e", "i"]  # three syllables of gy6or6, in every song bout

# What each notebook lets a user change (a removed or renamed parameter breaks runs and docs).
EXPECTED_PARAMETERS = {
    "01_annotations_to_windows": {
        "run_dir",
        "audio_dir",
        "annotations",
        "annotation_format",
        "label_column",
        "csv_columns",
        "classes",
        "max_recordings",
        "fully_annotated",
        "window_seconds",
        "step_seconds",
        "min_overlap",
    },
    "02_train": {
        "run_dir",
        "method",
        "train_fraction",
        "seed",
        "multi_label",
        "epochs",
        "batch_size",
        "learning_rate",
        "pretrained",
    },
    "03_evaluate": {"run_dir", "threshold"},
    "04_predict": {"run_dir", "recordings", "threshold", "overlap", "workers"},
    "05_labeling_loop": {
        "run_dir",
        "labeling_class",
        "start_from",
        "examples",
        "recordings",
        "answers",
        "rounds",
        "page_size",
        "strategy",
        "seed",
    },
}


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def _python(source: str) -> str:
    """A cell's source as IPython runs it (``%pip`` becomes a ``run_line_magic`` call)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


@pytest.fixture(scope="module")
def declared():
    return declared_parameters(NOTEBOOKS, CHAIN)


@pytest.fixture(scope="session")
def gy6or6() -> Path:
    return require_real_labeled() / "bengalese_finch_gy6or6"


# --------------------------------------------------------------------------- static checks
def test_the_chain_is_registered_and_its_notebooks_ship_with_the_package():
    assert list(CHAINS) == list(tutorial_cli.CHAINS) == ["classroom", CHAIN]
    assert notebooks_dir(CHAIN) == NOTEBOOKS
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == STAGE_NAMES
    assert CHAINS[CHAIN].stages == own_recordings.STAGES
    data = (ROOT / "pyproject.toml").read_text()
    assert '"notebooks/own_recordings/*.ipynb"' in data


@pytest.mark.parametrize("name", STAGE_NAMES)
def test_notebook_is_clean_valid_and_has_one_parameters_cell(name):
    nb = _read(name)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].cell_type == "code"
    code = [c for c in nb.cells if c.cell_type == "code"]
    for i, cell in enumerate(code):
        assert cell.outputs == [] and cell.execution_count is None, f"{name} cell {i} ran"
        ast.parse(_python(cell.source))
    assert 'print(f"wrote' in code[-1].source  # it ends by saying what it wrote


@pytest.mark.parametrize("name", STAGE_NAMES)
def test_notebook_code_names_no_run_folder_file(name):
    # the training folder's files are the RunFolder's, the chain's are OwnRecordingsRun's
    cells = [c for c in _read(name).cells if c.cell_type == "code"]
    assert [n for c in cells for n in RUN_FOLDER_NAMES if n in c.source] == []
    assert not any('.csv"' in c.source or ".csv'" in c.source for c in cells)


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


def test_one_run_folder_one_type_per_name_and_embeddings_by_default(declared):
    assert {d["run_dir"]["default"] for d in declared.values()} == {'"runs/own_recordings"'}
    kinds: dict[str, set] = {}
    for params in declared.values():
        for name, p in params.items():
            kinds.setdefault(name, set()).add(p["inferred_type_name"])
    assert {n: k for n, k in kinds.items() if len(k) > 1} == {}
    assert declared["02_train"]["method"]["default"] == '"embeddings"'
    assert "cnn" in declared["02_train"]["method"]["help"]


def test_presets_set_sizes_only_with_their_declared_types(declared):
    where = {"audio_dir": "/data/wav", "annotations": "/data/tables"}
    for preset, values in own_recordings.PRESETS.items():
        name, resolved = resolve_parameters({"preset": preset, **where}, declared, CHAIN)
        assert name == preset
        assert resolved == {**values, **where}  # already typed: nothing was converted
        assert not set(values) & set(own_recordings.REQUIRED)  # the data is the user's
    smoke = own_recordings.PRESETS["smoke"]
    assert smoke["method"] == "embeddings" and smoke["max_recordings"] <= 10


# --------------------------------------------------------------- refusals, before any work
@pytest.mark.parametrize("missing", ["audio_dir", "annotations"])
def test_a_missing_required_parameter_is_named(declared, missing):
    given = {"preset": "smoke", "audio_dir": "/data/wav", "annotations": "/data/tables"}
    del given[missing]
    with pytest.raises(TutorialError, match=f"needs parameter '{missing}'"):
        resolve_parameters(given, declared, CHAIN)
    with pytest.raises(TutorialError, match=f"needs parameter '{missing}'"):
        resolve_parameters({**given, missing: "  "}, declared, CHAIN)


def test_cli_missing_required_parameter_exits_2_and_writes_nothing(tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = ["tutorial", "--chain", CHAIN, "--run-dir", str(run_dir), "-p", "preset", "smoke"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "needs parameter 'audio_dir'" in err and "-p audio_dir" in err
    assert not run_dir.exists()


def test_cli_unknown_chain_exits_2_naming_the_choices(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["tutorial", "--chain", "backyard", "--run-dir", str(tmp_path / "r")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "backyard" in err and "'classroom'" in err and f"'{CHAIN}'" in err
    with pytest.raises(TutorialError, match="unknown chain 'backyard'; choose one of"):
        run_tutorial(tmp_path / "r", chain="backyard", log=None)


def test_the_classroom_chain_stays_the_default(tmp_path):
    args = build_parser().parse_args(["tutorial", "--run-dir", str(tmp_path)])
    assert args.chain == "classroom"


def test_a_run_folder_holds_the_run_of_one_chain(tmp_path):
    TutorialRun(tmp_path).write_record(
        {"format": 1, "request": {"preset": "smoke", "parameters": {}}, "stages": {}}
    )
    request = {"preset": "smoke", "parameters": {}, "chain": CHAIN}
    with pytest.raises(TutorialError, match="holds a run of the 'classroom' chain"):
        OwnRecordingsRun(tmp_path).check(request, resume=True)
    OwnRecordingsRun(tmp_path).write_record({"format": 1, "request": request, "stages": {}})
    with pytest.raises(TutorialError, match=f"holds a run of the '{CHAIN}' chain"):
        TutorialRun(tmp_path).check({"preset": "smoke", "parameters": {}}, resume=True)
    assert OwnRecordingsRun(tmp_path).check(request, resume=True)["request"] == request


# --------------------------------------------------------------------- the notebooks' helpers
def test_read_and_match_checks_its_inputs_and_keeps_the_first_recordings(gy6or6, tmp_path):
    with pytest.raises(TutorialError, match="parameter 'annotations' is empty"):
        read_and_match("", gy6or6 / "wav")
    with pytest.raises(TutorialError, match="audio folder not found"):
        read_and_match(gy6or6 / "raven", tmp_path / "nowhere")
    with pytest.raises(TutorialError, match=r"\['zz'\] are not labels of the tables; .*'a'"):
        read_and_match(gy6or6 / "raven", gy6or6 / "wav", classes=["a", "zz"])
    with pytest.raises(TutorialError, match="csv_columns apply to the csv format only"):
        read_and_match(gy6or6 / "raven", gy6or6 / "wav", csv_columns={"file": "audio_file"})
    found = read_and_match(gy6or6 / "raven", gy6or6 / "wav", max_recordings=3)
    assert len(found.recordings) == 3
    assert set(found.events["path"]) <= set(found.recordings["path"])
    # the CSV of the same events, with its own column names, gives the same events
    csv = read_and_match(
        gy6or6 / "annotations.csv",
        gy6or6 / "wav",
        "csv",
        csv_columns={"file": "audio_file", "start_time": "onset_s", "end_time": "offset_s"},
        max_recordings=3,
    )
    assert list(csv.recordings["path"]) == list(found.recordings["path"])
    keep = csv.events["label"].isin(found.events["label"].unique())
    assert keep.sum() == len(found.events)


def _windows(n_files: int, classes=("a", "b")) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for f in range(n_files):
        for k in range(6):
            labels = {c: int(rng.random() < 0.5) for c in classes}
            rows.append({"file": f"/rec/{f}.wav", "start_time": k, "end_time": k + 1, **labels})
    return pd.DataFrame(rows)


def test_split_by_recording_keeps_recordings_apart_and_reports_each_class():
    windows = _windows(10)
    split = split_by_recording(windows, 0.7, seed=3)
    train, valid = split
    assert not set(train["file"]) & set(valid["file"])
    assert len(train) + len(valid) == len(windows)
    assert list(train.columns) == list(windows.columns)  # a window table, as it came
    assert list(split.report.index) == ["a", "b"]
    assert split.report.loc["a", "valid_windows"] == valid["a"].sum()
    assert split.report.loc["b", "train_recordings"] == train.loc[train["b"] > 0, "file"].nunique()
    assert split_by_recording(windows, 0.7, seed=3).valid.equals(valid)  # same seed, same split


def test_a_class_without_positives_on_one_side_is_named_and_kept():
    windows = _windows(6)
    windows["rare"] = 0
    windows.loc[windows["file"] == "/rec/0.wav", "rare"] = 1
    split = split_by_recording(windows, 0.5, seed=0)
    side = "validation" if split.report.loc["rare", "valid_windows"] == 0 else "training"
    assert any("'rare'" in w and f"no positive window in {side}" in w for w in split.warnings)
    assert "rare" in split.train.columns and "rare" in split.valid.columns
    with pytest.raises(SplitError, match="at least two recordings"):
        split_by_recording(_windows(1), 0.5)


def test_label_mode_and_method_are_checked():
    assert [label_mode(m) for m in ("auto", "yes", "no", "YES")] == [None, True, False, True]
    with pytest.raises(TutorialError, match="multi_label must be one of"):
        label_mode("maybe")
    with pytest.raises(TutorialError, match="unknown method 'svm'"):
        steps.check_method("svm")
    assert [steps.check_method(m) for m in ("embeddings", "cnn")] == ["embeddings", "cnn"]


def test_windows_for_cnn_are_the_split_of_the_prepared_table():
    windows = _windows(6)
    split = split_by_recording(windows, 0.5, seed=1)
    table, (train, valid) = steps.windows_for_cnn(windows, split)
    assert table.multi_label and list(table.classes) == ["a", "b"]
    assert train[["file", "start_time", "a", "b"]].to_numpy().tolist() == (
        split.train[["file", "start_time", "a", "b"]].to_numpy().tolist()
    )
    assert len(valid) == len(split.valid)


# ------------------------------------------------------------------- the chain, run
@pytest.fixture(scope="session")
def chain_run(gy6or6, tmp_path_factory) -> Path:
    """The whole chain through the command line, on the smoke preset over gy6or6."""
    tmp = tmp_path_factory.mktemp("own_recordings")
    run_dir = tmp / "run"
    mp = pytest.MonkeyPatch()
    mp.setenv("WOODCOCK_CACHE", str(tmp / "cache"))  # the kernels embed afresh, into tmp
    try:
        argv = [
            "tutorial",
            "--chain",
            CHAIN,
            "--run-dir",
            str(run_dir),
            "-p",
            "preset",
            "smoke",
            "-p",
            "audio_dir",
            str(gy6or6 / "wav"),
            "-p",
            "annotations",
            str(gy6or6 / "raven"),
            "-p",
            "classes",
            json.dumps(CLASSES),
        ]
        assert main(argv) == 0
    finally:
        mp.undo()
    return run_dir


@pytest.mark.slow
@pytest.mark.notebook
def test_the_chain_runs_and_records_every_stage(chain_run, capsys):
    record = json.loads((chain_run / RECORD_FILENAME).read_text())
    assert record["request"]["chain"] == CHAIN and record["request"]["preset"] == "smoke"
    assert [record["stages"][s]["status"] for s in STAGE_NAMES] == ["done"] * len(STAGE_NAMES)
    run = OwnRecordingsRun(chain_run)
    assert run.missing_outputs(run.stages[-1]) == []
    for stage in run.stages:
        assert run.executed_notebook(stage).is_file()


@pytest.mark.slow
@pytest.mark.notebook
def test_01_wrote_the_window_table(chain_run, gy6or6):
    smoke = own_recordings.PRESETS["smoke"]
    windows = read_window_table(OwnRecordingsRun(chain_run).windows_csv)
    assert list(windows.columns) == WINDOW_COLUMNS + CLASSES
    assert windows["file"].nunique() == smoke["max_recordings"]
    assert set(windows["file"]) <= {str(p) for p in (gy6or6 / "wav").glob("*.wav")}
    assert np.allclose(windows["end_time"] - windows["start_time"], smoke["window_seconds"])
    assert windows[CLASSES].sum().gt(0).all() and (windows[CLASSES] == 0).any().all()


@pytest.mark.slow
@pytest.mark.notebook
def test_02_trained_embeddings_on_a_split_by_recording(chain_run):
    run = OwnRecordingsRun(chain_run)
    training = run.training
    config = training.read_config()
    assert config["method"] == "embeddings" and config["multi_label"] is True
    assert config["label_dict"] == {str(i): c for i, c in enumerate(CLASSES)}
    train, valid = (read_window_table(p) for p in (run.train_windows_csv, run.valid_windows_csv))
    assert not set(train["file"]) & set(valid["file"])
    assert valid["file"].nunique() >= 2
    assert len(train) + len(valid) == len(read_window_table(run.windows_csv))
    # the training run was fitted on exactly that split
    recorded = training.read_split()
    assert [len(part) for part in recorded] == [len(train), len(valid)]
    history = training.history()
    assert {"valid_map", *(f"valid_ap_{c}" for c in CLASSES)} <= set(history.columns)
    assert 0 < history["valid_map"].iloc[-1] <= 1
    bundle = ModelBundle.load(training.best)
    assert bundle.class_names == CLASSES


@pytest.mark.slow
@pytest.mark.notebook
def test_03_wrote_the_per_class_evaluation(chain_run):
    run = OwnRecordingsRun(chain_run)
    metrics = pd.read_csv(run.evaluation_csv).set_index("class")
    assert list(metrics.index) == CLASSES
    assert {"positives", "ap", "roc_auc", "precision", "recall", "f1", "best_threshold"} <= set(
        metrics.columns
    )
    valid = read_window_table(run.valid_windows_csv)
    assert metrics["positives"].tolist() == valid[CLASSES].sum().tolist()
    assert metrics["ap"].between(0, 1 + 1e-9).all()
    # the same AP as the training run's own validation figures
    history = run.training.history().iloc[-1]
    for c in CLASSES:
        assert metrics.loc[c, "ap"] == pytest.approx(history[f"valid_ap_{c}"], abs=1e-6)


@pytest.mark.slow
@pytest.mark.notebook
def test_04_scanned_the_validation_recordings_into_detections_and_raven_tables(chain_run):
    run = OwnRecordingsRun(chain_run)
    valid = read_window_table(run.valid_windows_csv)
    scanned = run.scanned_recordings()
    assert scanned == sorted(set(valid["file"]))
    detections = pd.read_csv(run.detections_csv)
    assert list(detections.columns) == ["file", "start_time", "end_time", "annotation", "score"]
    assert set(detections["annotation"]) <= set(CLASSES) and len(detections) > 0
    assert (detections["score"] >= 0.5).all()
    tables = sorted(run.raven_dir.rglob("*.selections.txt"))
    assert [t.name for t in tables] == [f"{Path(f).name}.selections.txt" for f in scanned]
    header = tables[0].read_text().splitlines()[0].split("\t")
    assert {"Begin Time (s)", "End Time (s)", "Annotation"} <= set(header)


@pytest.mark.slow
@pytest.mark.notebook
def test_05_ran_labeling_rounds_answered_from_the_annotations(chain_run):
    from woodcock_widgets.workflow.label_store import LabelStore, window_key

    run = OwnRecordingsRun(chain_run)
    declared = pm.inspect_notebook(str(NOTEBOOKS / "05_labeling_loop.ipynb"))
    rounds = int(declared["rounds"]["default"])
    page = own_recordings.PRESETS["smoke"]["page_size"]
    log = LabelStore(run.answers_csv, lock=False).log()
    start = log[log["strategy"] == "start"]
    assert len(start) == int(declared["examples"]["default"])
    assert (start["present"] == CLASSES[0]).all()  # the first class, by default
    answered = log[log["strategy"] == "top"]
    assert sorted(answered["round"].unique()) == list(range(rounds))
    assert len(answered) == rounds * page
    assert (answered["status"] == "labeled").all()  # every training window is annotated
    # the answers are the annotations': notebook 1's windows, standing in for the person
    windows = read_window_table(run.windows_csv)
    truth = {window_key(*w[:3]): w[3] for w in windows[[*WINDOW_COLUMNS, CLASSES[0]]].values}
    for r in answered.itertuples():
        assert int(r.present == CLASSES[0]) == truth[window_key(r.file, r.start_time, r.end_time)]
    # only training recordings were proposed; the kept-aside ones measure the held-out AP
    train = set(read_window_table(run.train_windows_csv)["file"])
    assert set(answered["file"]) <= {str(Path(f)) for f in train}
    metrics = pd.read_csv(run.labeling_dir / "rounds.csv")
    assert list(metrics["round"]) == list(range(rounds))
    precision = metrics[f"{CLASSES[0]}/page_precision"]
    assert precision.between(0, 1).all()
    # the notebook printed each round, and ends with the grid for a person to go on
    executed = nbformat.read(run.executed_notebook(run.stages[-1]), as_version=4)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert all(f"round {r}: " in printed for r in range(rounds)) and "held-out AP" in printed
    views = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert views, "the LabelingGrid was not displayed"


@pytest.mark.slow
@pytest.mark.notebook
def test_05_starts_from_the_trained_model_too(chain_run, tmp_path, monkeypatch):
    import shutil

    from woodcock_widgets.tutorial.own_recordings_labeling import open_loop
    from woodcock_widgets.workflow.labeling_session import TableAnswers, run_rounds

    monkeypatch.setenv("WOODCOCK_CACHE", str(chain_run.parent / "cache"))  # the chain's
    copy = tmp_path / "run"
    shutil.copytree(chain_run, copy, ignore=shutil.ignore_patterns("labeling"))
    run = OwnRecordingsRun(copy)
    with pytest.raises(TutorialError, match="start_from must be one of"):
        open_loop(run, start_from="bundle")
    with pytest.raises(TutorialError, match="labeling_class 'zz' is not a class"):
        open_loop(run, "zz")
    loop = open_loop(run, CLASSES[1], start_from="model")
    with loop:
        scores = loop.scores[:, 0]
        assert loop.score_source == {CLASSES[1]: "bundle"} and loop.cache.model_calls == 0
        bundle = ModelBundle.load(run.training.best)
        expected = bundle.score_windows(loop.windows)[:, CLASSES.index(CLASSES[1])]
        assert np.allclose(scores, expected, atol=1e-5)
        table = run_rounds(loop, TableAnswers(run.windows_csv), 1, 10, held_out=None, log=None)
        assert table["labels"].iloc[0] == 10 and loop.score_source[CLASSES[1]].startswith("model")
    again = open_loop(run, CLASSES[1], start_from="model")  # a cell run again continues
    assert again.round == 1 and len(again.store) == 10
    third = open_loop(run, CLASSES[1], start_from="model")  # closed `again`, or it was refused
    assert third.round == 1
    third.close()


@pytest.mark.slow
@pytest.mark.notebook
def test_a_resumed_run_skips_every_stage_done(chain_run, gy6or6):
    lines: list[str] = []
    params = {
        "preset": "smoke",
        "audio_dir": str(gy6or6 / "wav"),
        "annotations": str(gy6or6 / "raven"),
        "classes": json.dumps(CLASSES),
    }
    run_tutorial(chain_run, params, resume=True, chain=CHAIN, log=lines.append)
    assert sum("already done, skipped" in line for line in lines) == len(STAGE_NAMES)
    with pytest.raises(TutorialError, match="holds a run of the 'own-recordings' chain"):
        run_tutorial(chain_run, {"preset": "smoke"}, resume=True, log=None)


@pytest.mark.slow
@pytest.mark.notebook
def test_the_cnn_method_trains_and_evaluates_on_the_same_kind_of_windows(gy6or6, tmp_path):
    params = {
        "preset": "smoke",
        "audio_dir": str(gy6or6 / "wav"),
        "annotations": str(gy6or6 / "raven"),
        "classes": CLASSES,
        "method": "cnn",
        "epochs": 1,
    }
    run_dir = tmp_path / "cnn"
    run_tutorial(run_dir, params, chain=CHAIN, stop_after="03_evaluate", log=None)
    run = OwnRecordingsRun(run_dir)
    config = run.training.read_config()
    assert config.get("method") != "embeddings" and config["multi_label"] is True
    assert config["training"]["epochs"] == 1
    assert config["label_dict"] == {str(i): c for i, c in enumerate(CLASSES)}
    assert {"valid_map", *(f"valid_ap_{c}" for c in CLASSES)} <= set(run.training.history())
    metrics = pd.read_csv(run.evaluation_csv).set_index("class")
    assert list(metrics.index) == CLASSES and metrics["ap"].notna().all()
    assert not run.predictions_dir.exists()  # stopped after notebook 3
