"""The fault suite's tally and shared fixtures.

Every fault a test tries goes through :meth:`FaultRecorder.case` (or its shortcut
:meth:`FaultRecorder.error`). A case is *handled* when its block ends normally: the kit
raised the right exception with a message naming the file, row or column, skipped and
reported as its policy says, or gave the right result. Anything else escaping the block (a
failed check on the data, a wrong exception class, a stack trace) counts as *lost* and fails
the test. The session ends with one line::

    faults: N tried, N handled, 0 lost
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ._helpers import LABEL_MAP, TALLY, FaultRecorder, micro_config


@pytest.fixture
def fault(request) -> FaultRecorder:
    """Record this test's fault cases."""
    return FaultRecorder(request.node.nodeid)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not TALLY.tried:
        return
    if config.getoption("verbose") > 0:
        for outcome, name in TALLY.cases:
            terminalreporter.write_line(f"{outcome:>8}  {name}")
    for line in TALLY.lost:
        terminalreporter.write_line(f"LOST {line}")
    terminalreporter.write_line(
        f"faults: {TALLY.tried} tried, {TALLY.handled} handled, {len(TALLY.lost)} lost"
    )


# ------------------------------------------------------------------------------ shared data
@pytest.fixture(scope="session")
def fault_csv(tmp_path_factory) -> Path:
    """20 built-in clips (8 song, 4 call, 8 absent); returns the label CSV."""
    from woodcock_widgets.data.synthetic import make_woodcock_dataset

    return make_woodcock_dataset(
        tmp_path_factory.mktemp("fault_data"), n_song=8, n_call=4, n_absent=8, seed=3
    )


@pytest.fixture(scope="session")
def fault_table(fault_csv):
    """The 20 clips with the tutorial's remap and numeric codes."""
    from woodcock_widgets.workflow.pipeline import prepare_labels

    return prepare_labels(fault_csv, "sound_type", LABEL_MAP, new_column="woodcock_song")


@pytest.fixture(scope="session")
def micro_pre():
    """Tutorial preprocessing with a 32x32 image."""
    from woodcock_widgets.audio.preprocessing import Preprocessing

    return Preprocessing(image_shape=(32, 32))


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    """Trainers with ``num_threads=1`` change torch's global setting; put it back."""
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory, fault_table, micro_pre) -> Path:
    """An uninterrupted run of :func:`micro_config` (the result resumed runs must equal)."""
    import torch

    from woodcock_widgets.workflow.pipeline import new_trainer

    threads = torch.get_num_threads()
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    trainer = new_trainer(
        fault_table, run_dir, micro_config(), pretrained=False, preprocessing=micro_pre
    )
    try:
        trainer.fit()
    finally:
        torch.set_num_threads(threads)
    assert trainer.status == "finished" and len(trainer.history) == 3
    return run_dir
