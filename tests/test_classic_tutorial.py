"""The original tutorial, run as its reader runs it: its imports, its split, its log parsing."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys

import pandas as pd
import pytest
import torch

from woodcock_widgets.errors import LabelError, SplitError, WoodcockError
from woodcock_widgets.ml.models import build_model
from woodcock_widgets.tables.splits import split_train_valid
from woodcock_widgets.workflow.pipeline import make_datasets

#: The tutorial's last step, copied verbatim from its text (the functions that parse the
#: captured log, and the plotting loop). Kept as text so it stays byte for byte the same.
TUTORIAL_PARSING = '''
def extract_all_lines_containing(source_text, str_to_extract):
    """Case-sensitive search for lines containing str_to_extract"""
    finished = False
    lines = source_text.split('\\n')
    extract_lines = [line for line in lines if str_to_extract in line]
    return extract_lines

def strip_log(log, sep=':     '):
    return log.split(sep)[1]

def get_metric_from_log(source_text, metric):
    if 'precision' in metric or 'recall' in metric:
        return [float(strip_log(line, sep=': ').strip('[]').split()[1]) for line in extract_all_lines_containing(source_text, metric)]
    return [float(strip_log(line, sep=': ')) for line in extract_all_lines_containing(source_text, metric)]
'''  # noqa: E501 - verbatim

TUTORIAL_PLOTTING = """
metrics_to_plot = ['valid_accuracy', 'train_accuracy']
fig, ax = plt.subplots(1, 1)
for metric in metrics_to_plot:
    results = get_metric_from_log(source_text, metric)
    ax.scatter(range(len(results)), results)
ax.set_ylim(0, 1)
ax.set_title('model training results')
"""

METRICS = (
    "train_loss",
    "train_accuracy",
    "train_precision",
    "train_recall",
    "train_f1",
    "valid_accuracy",
    "valid_precision",
    "valid_recall",
    "valid_f1",
)


class _Axes:
    """Just enough of matplotlib's Axes for the tutorial's plotting loop."""

    def __init__(self) -> None:
        self.points: list[tuple[list, list]] = []

    def scatter(self, x, y) -> None:
        self.points.append((list(x), list(y)))

    def set_ylim(self, *args) -> None:
        pass

    def set_title(self, *args) -> None:
        pass


class _Pyplot:
    def __init__(self) -> None:
        self.ax = _Axes()

    def subplots(self, *args):
        return object(), self.ax


def test_the_tutorials_six_names_import_from_the_package():
    from woodcock_widgets import (  # noqa: F401 - the tutorial's first cell, renamed
        Audio,
        SingleTargetAudioDataset,
        Spectrogram,
        binary_train_valid_split,
        run_command,
        train,
    )


@pytest.fixture(scope="module")
def classic_log(song_table, tiny_preprocessing, tmp_path_factory):
    """The captured output of the tutorial's ``train(...)`` call: 3 epochs, logged at 2 and 3."""
    from woodcock_widgets import train

    split = split_train_valid(song_table.df, "NumericLabels", 0.75, seed=0)
    train_dataset, valid_dataset = make_datasets(split, song_table.label_dict, tiny_preprocessing)
    torch.manual_seed(0)
    model = build_model("resnet18", 2, pretrained=False)
    train_outputs = io.StringIO()
    with contextlib.redirect_stdout(train_outputs):
        history = train(
            save_dir=tmp_path_factory.mktemp("classic") / "model_train_results",
            model=model,
            train_dataset=train_dataset,
            valid_dataset=valid_dataset,
            optimizer=torch.optim.SGD(model.parameters(), lr=1e-3),
            loss_fn=torch.nn.CrossEntropyLoss(),
            epochs=3,
            log_every=2,
            batch_size=8,
            num_workers=0,
        )
    assert len(history) == 3
    return train_outputs.getvalue(), history


def test_the_tutorials_parsing_gets_one_value_per_logged_epoch(classic_log):
    source_text, history = classic_log
    namespace: dict = {"source_text": source_text, "plt": _Pyplot()}
    exec(TUTORIAL_PARSING, namespace)  # noqa: S102 - the tutorial's own code, verbatim
    get_metric_from_log = namespace["get_metric_from_log"]
    logged = [2, 3]  # epoch % log_every == 0, and the last epoch
    for metric in METRICS:
        values = get_metric_from_log(source_text, metric)
        assert len(values) == len(logged), metric
        assert all(isinstance(v, float) for v in values), metric
    rows = history.to_frame().set_index("epoch")
    accuracy = get_metric_from_log(source_text, "valid_accuracy")
    assert accuracy == pytest.approx(rows.loc[logged, "valid_accuracy"].tolist())
    present = get_metric_from_log(source_text, "valid_precision")  # the second class's
    assert present == pytest.approx(rows.loc[logged, "valid_precision_present"].tolist())
    recall = get_metric_from_log(source_text, "valid_recall")
    assert recall == pytest.approx(rows.loc[logged, "valid_recall_present"].tolist())
    exec(TUTORIAL_PLOTTING, namespace)  # noqa: S102
    points = namespace["plt"].ax.points
    assert [len(y) for _, y in points] == [2, 2]  # one point per logged epoch, both metrics


def test_the_log_reads_like_the_original(classic_log):
    source_text, _ = classic_log
    lines = source_text.splitlines()
    assert [line for line in lines if line.startswith("Epoch")] == ["Epoch 2", "Epoch 3"]
    block = lines[lines.index("Epoch 2") : lines.index("Epoch 3")]
    assert block[1] == "  Validation results:"
    assert [line.split(":")[0].strip() for line in block[2:]] == list(METRICS)
    per_class = re.compile(r"^    (train|valid)_(precision|recall): \[\S+ \S+\]$")
    scalar = re.compile(r"^    \w+: -?\d[\d.e+-]*$")
    for line in block[2:]:
        name = line.split(":")[0].strip()
        assert (per_class if name.endswith(("precision", "recall")) else scalar).match(line), line
    assert lines[-1] == "Training complete."


def test_print_logging_false_prints_nothing(song_table, tiny_preprocessing, tmp_path, capsys):
    from woodcock_widgets import train

    split = split_train_valid(song_table.df, "NumericLabels", 0.75, seed=0)
    datasets = make_datasets(split, song_table.label_dict, tiny_preprocessing)
    torch.manual_seed(0)
    model = build_model("resnet18", 2, pretrained=False)
    train(tmp_path / "run", model, *datasets, epochs=1, batch_size=8, print_logging=False)
    assert capsys.readouterr().out == ""


# ------------------------------------------------------------- binary_train_valid_split
def _labels(n_present: int = 30, n_absent: int = 20) -> pd.DataFrame:
    values = ["present"] * n_present + ["absent"] * n_absent
    return pd.DataFrame({"filename": [f"f{i}.wav" for i in range(len(values))], "Labels": values})


def test_binary_split_is_stratified_one_against_the_rest():
    from woodcock_widgets import binary_train_valid_split

    df = _labels()
    before = df.copy()
    train_df, valid_df = binary_train_valid_split(df, "present")
    pd.testing.assert_frame_equal(df, before)  # the input is left as it was
    assert (len(train_df), len(valid_df)) == (40, 10)
    for part in (train_df, valid_df):
        assert part["NumericLabels"].dtype.kind == "i"
        assert (part["NumericLabels"] == (part["Labels"] == "present")).all()
        assert part["NumericLabels"].mean() == pytest.approx(0.6)  # the whole table's share
    again = binary_train_valid_split(df, "present")[0]
    assert list(again.index) == list(train_df.index)  # random_state 101 by default
    other = binary_train_valid_split(df, "present", random_state=7)[0]
    assert list(other.index) != list(train_df.index)
    t, v = binary_train_valid_split(
        df.rename(columns={"Labels": "woodcock"}), "absent", label_column="woodcock", train_size=0.6
    )
    assert (len(t), len(v)) == (30, 20) and t["NumericLabels"].sum() == 12


def test_binary_split_names_what_is_wrong():
    from woodcock_widgets import binary_train_valid_split

    with pytest.raises(LabelError, match="no column 'Labels'"):
        binary_train_valid_split(pd.DataFrame({"x": [1, 2]}), "a")
    with pytest.raises(SplitError, match="'song'"):
        binary_train_valid_split(_labels(), "song")  # no positive rows
    with pytest.raises(SplitError, match="train_size"):
        binary_train_valid_split(_labels(), "present", train_size=1.5)


# ------------------------------------------------------------------------- run_command
def test_run_command_returns_the_output_and_runs_no_shell(monkeypatch):
    from woodcock_widgets import run_command

    calls = []
    real = subprocess.run

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(subprocess, "run", spy)
    assert run_command("echo hello   world") == "hello world\n"
    # what a shell would interpret is passed on as plain text
    assert run_command("echo a | cat > out.txt; $HOME *") == "a | cat > out.txt; $HOME *\n"
    assert run_command("echo 'two words'") == "two words\n"
    assert all(kw.get("shell") is False and isinstance(a[0], list) for a, kw in calls)


def test_run_command_failures_carry_the_error_text():
    from woodcock_widgets import run_command

    script = "import sys; sys.stderr.write('boom: no such archive'); sys.exit(3)"
    with pytest.raises(WoodcockError, match="exit status 3: boom: no such archive"):
        run_command(f'{sys.executable} -c "{script}"')
    with pytest.raises(WoodcockError, match="cannot run 'no-such-program-xyz'"):
        run_command("no-such-program-xyz --help")
    with pytest.raises(WoodcockError, match="empty command"):
        run_command("   ")
