"""Full disks, read-only run folders and interrupted label saves: clear errors, nothing lost.

Faults are injected by monkeypatching the file-system calls the atomic writers use, inside
the folder under test only. A real read-only folder (``chmod 0o555``) cannot be used: these
tests may run as root, for whom permission bits do not block writes; and mounting a tiny
tmpfs to fill up needs privileges a test should not assume.
"""

from __future__ import annotations

import errno
import io
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from woodcock_widgets.errors import TrainingError
from woodcock_widgets.tables.labels import apply_corrections, save_labels
from woodcock_widgets.workflow.pipeline import new_trainer, resume_trainer

from ._helpers import ROOT, check_run_folder, cli_env, micro_config, temp_files

pytestmark = pytest.mark.faults


def _no_space(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _inside(path, folder: Path) -> bool:
    return Path(os.path.abspath(path)).is_relative_to(folder.resolve())


def _full_disk_torch_save(monkeypatch, folder: Path) -> None:
    """torch.save into ``folder`` writes half the file, then the disk is full."""
    real = torch.save

    def save(obj, f, *args, **kwargs):
        if not isinstance(f, str | os.PathLike) or not _inside(f, folder):
            return real(obj, f, *args, **kwargs)
        buf = io.BytesIO()
        real(obj, buf, *args, **kwargs)
        with open(f, "wb") as out:
            out.write(buf.getvalue()[: len(buf.getvalue()) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(f))

    monkeypatch.setattr(torch, "save", save)


def _failing_replace(monkeypatch, folder: Path, name: str, err: int) -> None:
    """Renaming a finished temporary file onto ``folder/name`` fails with ``err``."""
    real = os.replace

    def replace(src, dst, *args, **kwargs):
        if Path(dst).name == name and _inside(dst, folder):
            raise OSError(err, os.strerror(err), str(dst))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)


def _read_only(monkeypatch, folder: Path, err: int = errno.EROFS) -> None:
    """No new file can be created in ``folder`` (or below it)."""
    real = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):  # noqa: A002 - tempfile's own name
        if dir is not None and _inside(dir, folder):
            raise OSError(err, os.strerror(err), str(dir))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def one_epoch(fault_table, micro_pre, tmp_path):
    """A run folder with one finished epoch (of 2); returns its path and its files."""
    run_dir = tmp_path / "run"
    trainer = new_trainer(
        fault_table, run_dir, micro_config(epochs=1), pretrained=False, preprocessing=micro_pre
    )
    trainer.fit()
    return run_dir, _files(run_dir)


@pytest.mark.slow
@pytest.mark.parametrize(
    "where",
    ["disk full while writing last.pt", "disk full renaming last.pt", "read-only run folder"],
)
def test_run_folder_fault_during_an_epoch(fault, one_epoch, monkeypatch, where):
    run_dir, before = one_epoch
    trainer = resume_trainer(run_dir, epochs=2)
    if where == "disk full while writing last.pt":
        _full_disk_torch_save(monkeypatch, run_dir)
        why = os.strerror(errno.ENOSPC)
    elif where == "disk full renaming last.pt":
        _failing_replace(monkeypatch, run_dir, "last.pt", errno.ENOSPC)
        why = os.strerror(errno.ENOSPC)
    else:
        _read_only(monkeypatch, run_dir)
        why = os.strerror(errno.EROFS)
    with fault.error(where, TrainingError, run_dir, why):
        trainer.fit()
    monkeypatch.undo()
    with fault.case(f"{where}: the previous epoch is intact, nothing half-written"):
        assert trainer.status == "failed"
        after = _files(run_dir)
        for name in ("last.pt", "best.pt", "history.csv", "train.csv", "valid.csv"):
            assert after[name] == before[name], name
        assert not temp_files(run_dir), temp_files(run_dir)
        assert check_run_folder(run_dir, exact=True) == 1
    with fault.case(f"{where}: once the disk is fixed, resume finishes the run"):
        again = resume_trainer(run_dir, epochs=2)
        again.fit()
        assert again.status == "finished" and check_run_folder(run_dir, exact=True) == 2


@pytest.mark.slow
def test_disk_full_on_history_after_last_pt(fault, one_epoch, monkeypatch):
    run_dir, before = one_epoch
    trainer = resume_trainer(run_dir, epochs=2)
    _failing_replace(monkeypatch, run_dir, "history.csv", errno.ENOSPC)
    with fault.error("disk full renaming history.csv", TrainingError, run_dir, "No space"):
        trainer.fit()
    monkeypatch.undo()
    with fault.case("history.csv lags last.pt by one whole epoch, and resume repairs it"):
        assert (run_dir / "history.csv").read_bytes() == before["history.csv"]
        assert not temp_files(run_dir)
        assert check_run_folder(run_dir) == 2  # last.pt has epoch 2, history.csv epoch 1
        resume_trainer(run_dir, epochs=2)
        assert check_run_folder(run_dir, exact=True) == 2


@pytest.mark.slow
def test_read_only_run_folder_at_start_and_resume(
    fault, fault_table, one_epoch, monkeypatch, tmp_path
):
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    _read_only(monkeypatch, fresh, errno.EACCES)
    with fault.error("new run in a read-only folder", TrainingError, fresh, "Permission denied"):
        new_trainer(fault_table, fresh, micro_config(), pretrained=False)
    assert list(fresh.iterdir()) == []

    run_dir, before = one_epoch
    _read_only(monkeypatch, run_dir)
    # resuming rewrites history.csv; this used to escape as a bare OSError
    with fault.error("resume in a read-only run folder", TrainingError, run_dir, "Read-only"):
        resume_trainer(run_dir, epochs=2)
    monkeypatch.undo()
    with fault.case("the read-only run folder is untouched"):
        assert _files(run_dir) == before


# --------------------------------------------------------------------------- label saves
@pytest.fixture
def saved_labels(tmp_path):
    table = pd.DataFrame(
        {
            "filename": [f"clip_{i}.wav" for i in range(50)],
            "sound_type": ["song", "call", "na", "song", "na"] * 10,
        }
    )
    path = tmp_path / "labels_remapped.csv"
    save_labels(table, path)
    return table, path


@pytest.mark.parametrize("how", ["disk full at fsync", "rename fails (I/O error)"])
def test_interrupted_label_save_keeps_the_previous_file(fault, saved_labels, monkeypatch, how):
    table, path = saved_labels
    before = path.read_bytes()
    edited = table.assign(
        woodcock_song=table["sound_type"].eq("song").map({True: "present", False: "absent"})
    )
    corrections = pd.DataFrame({"filename": ["clip_1.wav"], "sound_type": ["song"]})
    corrected = apply_corrections(table, corrections, "sound_type")
    for name, new in (("label edit", edited), ("correction", corrected)):
        if how == "disk full at fsync":
            monkeypatch.setattr(os, "fsync", _no_space)
        else:
            _failing_replace(monkeypatch, path.parent, path.name, errno.EIO)
        with fault.case(f"{name} save interrupted ({how}): previous file intact"):
            with pytest.raises(OSError):
                save_labels(new, path)
            monkeypatch.undo()
            assert path.read_bytes() == before
            assert not temp_files(path.parent)
            pd.testing.assert_frame_equal(pd.read_csv(path), table)


def _temps(target: Path) -> set[str]:
    return {n for n in os.listdir(target.parent) if n.startswith(f".{target.name}.")}


@pytest.mark.slow
def test_label_save_killed_mid_write(fault, tmp_path):
    """A process saving a large table over and over, killed at random moments."""
    rng = random.Random(int(os.environ.get("WOODCOCK_FAULT_SEED", "7")))
    target = tmp_path / "big_labels.csv"
    rows = 150_000
    script = Path(__file__).with_name("_label_writer.py")
    triggers = ["while the temporary file is written", "random", "random"]
    for k, trigger in enumerate(triggers, start=1):
        stale = _temps(target)  # left by the previous kill
        log = open(tmp_path / "writer.log", "ab")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(
            [sys.executable, str(script), str(target), str(rows), str(k)],
            cwd=ROOT,
            env=cli_env(),
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + 120
        at = None
        while proc.poll() is None and time.monotonic() < deadline:
            writing = bool(_temps(target) - stale)
            if trigger != "random" and writing and target.exists():
                break
            if trigger == "random" and target.exists():
                at = at or time.monotonic() + rng.uniform(0.0, 1.5)
                if time.monotonic() >= at:
                    break
            time.sleep(0.002)
        assert proc.poll() is None, (tmp_path / "writer.log").read_text()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        log.close()
        with fault.case(f"label save killed #{k} ({trigger}): the file is one whole version"):
            df = pd.read_csv(target)
            assert len(df) == rows
            assert df["version"].nunique() == 1 and df["writer"].nunique() == 1
            assert df["filename"].iloc[-1] == f"clip_{rows - 1:06d}.wav"
