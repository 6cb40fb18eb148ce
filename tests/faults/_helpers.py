"""Helpers shared by the fault tests: the tally, tiny settings, run-folder checks."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
LABEL_MAP = {"song": "present", "call": "absent", "na": "absent"}


@dataclass
class Tally:
    """Counts over the whole session."""

    tried: int = 0
    handled: int = 0
    lost: list[str] = field(default_factory=list)
    cases: list[tuple[str, str]] = field(default_factory=list)  # (outcome, name)


TALLY = Tally()


class FaultRecorder:
    """Records the fault cases of one test into the session tally."""

    def __init__(self, nodeid: str) -> None:
        self.nodeid = nodeid

    @contextlib.contextmanager
    def case(self, name: str):
        """Count the block as one fault case: handled if it ends normally, lost otherwise."""
        TALLY.tried += 1
        try:
            yield
        except pytest.skip.Exception:
            TALLY.tried -= 1  # not tried after all (e.g. the real recordings are absent)
            raise
        except BaseException as exc:
            TALLY.lost.append(f"{self.nodeid} [{name}]: {type(exc).__name__}: {exc}")
            TALLY.cases.append(("lost", name))
            raise
        TALLY.handled += 1
        TALLY.cases.append(("handled", name))

    @contextlib.contextmanager
    def error(self, name: str, exc_type: type[BaseException], *fragments: object):
        """A case that must raise ``exc_type`` whose message contains every fragment.

        The fragments are what makes the error clear: the file, row or column it names.
        Yields the ``pytest.raises`` info object.
        """
        with self.case(name):
            with pytest.raises(exc_type) as info:
                yield info
            message = str(info.value)
            for frag in fragments:
                assert str(frag) in message, f"{name}: {frag!r} not named in: {message}"


def micro_config(**overrides):
    """A tiny, bit-reproducible CPU configuration: fp32, one thread, 3 epochs of 2 batches."""
    from woodcock_widgets.ml.training import TrainingConfig

    settings = dict(
        epochs=3, batch_size=8, log_every=1, seed=0, precision="fp32", num_threads=1, device="cpu"
    )
    settings.update(overrides)
    return TrainingConfig(**settings)


def cli_env() -> dict[str, str]:
    """Environment for ``python -m woodcock_widgets`` subprocesses (one thread, offline)."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return dict(os.environ, PYTHONPATH=path, OMP_NUM_THREADS="1", WOODCOCK_OFFLINE="1")


def cli_train_args(labels: Path, run_dir: Path) -> list[str]:
    """The command that trains :func:`micro_config` from the command line."""
    args = ["--labels", str(labels), "--run-dir", str(run_dir), "--label-column", "sound_type"]
    for value, cls in LABEL_MAP.items():
        args += ["--map", f"{value}={cls}"]
    args += ["--epochs", "3", "--batch-size", "8", "--log-every", "1", "--seed", "0"]
    args += ["--image-size", "32", "--no-pretrained", "--precision", "fp32", "--device", "cpu"]
    return [sys.executable, "-m", "woodcock_widgets", "train", *args]


# ------------------------------------------------------------------------- run-folder checks
def temp_files(folder: Path) -> list[Path]:
    """Temporary files of atomic writes (``.NAME.xxxxxxxx.tmp``) anywhere under ``folder``."""
    return sorted(p for p in Path(folder).rglob(".*.tmp"))


def history_epochs(path: Path) -> list[int]:
    """The epochs in ``history.csv``, after checking it has no partial or duplicated rows."""
    if not path.exists():
        return []
    text = path.read_text()
    assert text.endswith("\n"), f"{path} ends in a partial line"
    lines = text.splitlines()
    commas = lines[0].count(",")
    assert all(line.count(",") == commas for line in lines), f"{path} has a partial row"
    df = pd.read_csv(path)
    assert df["train_loss"].notna().all(), f"{path} has an empty train_loss"
    epochs = [int(e) for e in df["epoch"]]
    assert epochs == list(range(1, len(epochs) + 1)), f"{path} epochs {epochs}"
    return epochs


def check_run_folder(run_dir: Path, exact: bool = False) -> int:
    """Assert that a run folder is loadable and consistent; return last.pt's epoch (0: none).

    ``history.csv`` must hold epochs 1..E where E is last.pt's epoch; after a kill it may lag
    by one epoch (``exact=False``), which resuming repairs.
    """
    import torch

    from woodcock_widgets.ml.bundle import ModelBundle, read_bundle_payload

    run_dir = Path(run_dir)
    if (run_dir / "config.json").exists():
        json.loads((run_dir / "config.json").read_text())
    epoch = 0
    last = run_dir / "last.pt"
    if last.exists():
        ModelBundle.load(last)
        payload = read_bundle_payload(last)
        state = payload["training_state"]
        epoch = int(state["epoch"])
        assert len(json.loads(state["history_json"])) == epoch
        for name, t in payload["state_dict"].items():
            assert not t.is_floating_point() or bool(torch.isfinite(t).all()), name
    rows = history_epochs(run_dir / "history.csv")
    allowed = [list(range(1, epoch + 1))]
    if not exact and epoch:
        allowed.append(list(range(1, epoch)))
    assert rows in allowed, f"history.csv has epochs {rows}, last.pt has epoch {epoch}"
    for extra in [run_dir / "best.pt", *sorted((run_dir / "checkpoints").glob("*.pt"))]:
        if extra.exists():
            got = read_bundle_payload(extra)["training_state"]["epoch"]
            assert 1 <= got <= epoch, f"{extra} is epoch {got}, last.pt epoch {epoch}"
    return epoch


def assert_same_weights(run_a: Path, run_b: Path) -> None:
    """Every tensor of the two runs' ``last.pt`` is bit-identical."""
    import torch

    from woodcock_widgets.ml.bundle import read_bundle_payload

    a = read_bundle_payload(Path(run_a) / "last.pt")["state_dict"]
    b = read_bundle_payload(Path(run_b) / "last.pt")["state_dict"]
    assert sorted(a) == sorted(b)
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f"{len(differ)} tensors differ from the uninterrupted run, e.g. {differ[0]}"


def assert_same_history(run_a: Path, run_b: Path) -> None:
    """The two runs' histories agree on every metric (timings aside)."""
    a = pd.read_csv(Path(run_a) / "history.csv").drop(columns="seconds")
    b = pd.read_csv(Path(run_b) / "history.csv").drop(columns="seconds")
    pd.testing.assert_frame_equal(a, b)
