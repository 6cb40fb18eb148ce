"""Training killed with SIGKILL or stopped at random moments: nothing lost, resume is exact.

After every interruption the run folder must load (``last.pt``, ``best.pt``, checkpoints),
``history.csv`` must have whole rows for epochs 1..E (E = last.pt's epoch; after a kill it may
lag by one, which resuming repairs), and resuming must finish the run with final weights
bit-identical to an uninterrupted run (fixed seed, fp32, one CPU thread).

Set ``WOODCOCK_FAULT_SEED`` to replay other random moments.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from woodcock_widgets.__main__ import main
from woodcock_widgets.errors import TrainingError
from woodcock_widgets.workflow.pipeline import new_trainer, resume_trainer

from ._helpers import (
    ROOT,
    assert_same_history,
    assert_same_weights,
    check_run_folder,
    cli_env,
    cli_train_args,
    micro_config,
    temp_files,
)

pytestmark = [pytest.mark.faults, pytest.mark.slow]

SEED = int(os.environ.get("WOODCOCK_FAULT_SEED", "7"))
PROCESS_TIMEOUT = 300.0


def _checkpoint_temps(run_dir: Path) -> set[str]:
    """Temporary files of last.pt being written (or left behind by an earlier kill)."""
    try:
        return {n for n in os.listdir(run_dir) if n.startswith(".last.pt.") and n.endswith(".tmp")}
    except FileNotFoundError:
        return set()


def _last_pt(run_dir: Path) -> tuple[int, int] | None:
    """Identity of the current last.pt (each atomic replace gives a new inode)."""
    try:
        st = (run_dir / "last.pt").stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns


def _run_until(proc: subprocess.Popen, ready, deadline: float) -> bool:
    """Poll every 2 ms until ``ready()``; False when the process ended first."""
    while proc.poll() is None:
        if ready():
            return True
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise AssertionError(f"no kill moment within {PROCESS_TIMEOUT} s")
        time.sleep(0.002)
    return False


#: When to kill: inside a last.pt write; at once when an epoch's last.pt is in place (before
#: history.csv follows); or at a random moment up to 0.8 s after an epoch ended.
TRIGGERS = ["checkpoint write", "random after an epoch", "checkpoint write", "epoch end"]


def _kill_at(proc, run_dir: Path, trigger: str, rng: random.Random) -> str:
    """SIGKILL ``proc`` at the trigger; return what happened."""
    deadline = time.monotonic() + PROCESS_TIMEOUT
    stale = _checkpoint_temps(run_dir)  # left by the previous kill; resuming removes them
    before = _last_pt(run_dir)
    if trigger == "checkpoint write":
        hit = _run_until(proc, lambda: bool(_checkpoint_temps(run_dir) - stale), deadline)
    else:
        hit = _run_until(proc, lambda: _last_pt(run_dir) not in (None, before), deadline)
        if hit and trigger == "random after an epoch":
            at = time.monotonic() + rng.uniform(0.0, 0.8)
            hit = _run_until(proc, lambda: time.monotonic() >= at, deadline)
    if not hit:
        return f"finished first (exit {proc.returncode})"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    inside = bool(_checkpoint_temps(run_dir) - stale)
    return "killed inside a checkpoint write" if inside else "killed"


def test_kill_9_at_random_moments_then_resume(fault, fault_csv, reference_run, tmp_path, capsys):
    rng = random.Random(SEED)
    run_dir = tmp_path / "run"
    log_path = tmp_path / "train.log"
    outcomes = []
    for k, trigger in enumerate(TRIGGERS, start=1):
        resume = (run_dir / "last.pt").exists()
        if not resume and (run_dir / "config.json").exists():
            with fault.case(f"--resume before any epoch finished (round {k})"):
                assert main(["train", "--resume", "--run-dir", str(run_dir)]) == 2
                err = capsys.readouterr().err
                assert "last.pt" in err and "no epoch finished" in err, err
        if resume:
            args = [sys.executable, "-m", "woodcock_widgets", "train", "--resume"]
            args += ["--run-dir", str(run_dir)]
        else:
            args = cli_train_args(fault_csv, run_dir)
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(args, cwd=ROOT, env=cli_env(), stdout=log, stderr=log)
        outcome = _kill_at(proc, run_dir, trigger, rng)
        outcomes.append(outcome)
        with fault.case(
            f"kill -9 #{k} at {trigger} ({'resumed' if resume else 'new'} run, "
            f"seed {SEED}): {outcome}"
        ):
            if outcome.startswith("finished"):
                assert proc.returncode == 0, log_path.read_text()[-3000:]
            epoch = check_run_folder(run_dir)
        outcomes[-1] += f" at epoch {epoch}"
        if outcome.startswith("finished"):
            break
    else:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "woodcock_widgets",
                "train",
                "--resume",
                "--run-dir",
                str(run_dir),
            ],
            cwd=ROOT,
            env=cli_env(),
            capture_output=True,
            text=True,
            timeout=PROCESS_TIMEOUT,
        )
        assert done.returncode == 0, done.stderr[-3000:]
    killed = [o for o in outcomes if o.startswith("killed")]
    with fault.case(f"killed {len(killed)} times, then --resume: equal to an uninterrupted run"):
        assert check_run_folder(run_dir, exact=True) == 3
        assert not temp_files(run_dir), temp_files(run_dir)  # resume cleans up
        assert_same_weights(run_dir, reference_run)
        assert_same_history(run_dir, reference_run)
    with fault.case("kills landed inside a checkpoint write and after a finished epoch"):
        assert any(o.startswith("killed inside a checkpoint write") for o in outcomes), outcomes
        assert any(o.startswith("killed") and not o.endswith("epoch 0") for o in outcomes)


class _EpochEnds:
    """A callback that tells when an epoch has ended."""

    def __init__(self) -> None:
        self.ended = threading.Event()

    def on_fit_start(self, trainer) -> None:
        pass

    def on_batch_end(self, trainer, epoch, batch, n_batches, loss) -> None:
        pass

    def on_epoch_end(self, trainer, record) -> None:
        self.ended.set()

    def on_fit_end(self, trainer, status) -> None:
        self.ended.set()


def test_stop_at_random_moments_then_resume(fault, fault_table, micro_pre, reference_run, tmp_path):
    rng = random.Random(SEED + 1)
    run_dir = tmp_path / "run"
    # Stop at once; early in the first epoch (data loading); then random moments within the
    # epoch after the next one ends, so every later round makes progress.
    moments = [("start", 0.0), ("start", rng.uniform(0.0, 0.3))]
    moments += [("epoch end", rng.uniform(0.0, 0.6)) for _ in range(3)]
    statuses = []
    for k, (after, delay) in enumerate(moments, start=1):
        ends = _EpochEnds()
        if (run_dir / "last.pt").exists():
            trainer = resume_trainer(run_dir, callbacks=[ends])
        else:
            if (run_dir / "config.json").exists():
                with fault.error(
                    f"resume before any epoch finished (round {k})",
                    TrainingError,
                    "last.pt",
                    "no epoch finished",
                ):
                    resume_trainer(run_dir)
            trainer = new_trainer(
                fault_table,
                run_dir,
                micro_config(),
                pretrained=False,
                preprocessing=micro_pre,
                callbacks=[ends],
            )
        job = trainer.fit_in_background()
        if after == "epoch end":
            assert ends.ended.wait(PROCESS_TIMEOUT)
        time.sleep(delay)
        job.stop()
        history = job.wait(timeout=PROCESS_TIMEOUT)
        statuses.append(trainer.status)
        name = f"Stop {delay:.2f} s after {after} (round {k}, seed {SEED}): {trainer.status}"
        with fault.case(f"{name} at epoch {len(history)}"):
            assert trainer.status in ("stopped", "finished")
            # a stop is orderly: history.csv never lags behind last.pt
            assert check_run_folder(run_dir, exact=True) == len(history)
            assert not temp_files(run_dir)
        if trainer.status == "finished":
            break
    else:
        resume_trainer(run_dir).fit()
    with fault.case(
        f"stopped {statuses.count('stopped')} times, then resumed: equal to an uninterrupted run"
    ):
        assert check_run_folder(run_dir, exact=True) == 3
        assert_same_weights(run_dir, reference_run)
        assert_same_history(run_dir, reference_run)
