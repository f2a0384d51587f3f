"""Signals and pipes (issue 13, item 8), with real processes and real signals: Ctrl-C and
SIGTERM stop a run at the next step with a checkpoint, print the resume command and exit
130 / 143; a closed standard output (`train | head -2`) stops it the same way with exit 141,
and `eval` into a closed pipe exits 141 silently after writing its result file. Every
stopped run resumes to the uninterrupted run's result, bit for bit."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from process_helpers import (
    assert_same_run,
    run,
    spawn,
    spiral_raw,
    wait_until,
    write_config,
)

from mlptrain.checkpoint import load_checkpoint
from mlptrain.config import load_config
from mlptrain.experiment import start_run


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("signals")
    # 1200 training rows in 75 steps of 16: 30 epochs are far longer than a signal takes
    return write_config(folder / "cfg.yaml", spiral_raw(folder / "runs", epochs=30,
                                                        n_samples=1500))


@pytest.fixture(scope="module")
def reference(config) -> Path:
    return start_run(load_config(config, ["name=reference"])).run_dir


def started_run(root: Path, name: str, proc) -> Path:
    wait_until(lambda: list(root.glob(f"{name}-*")), proc, what="the run directory")
    run_dir = next(root.glob(f"{name}-*"))
    wait_until(lambda: (run_dir / "checkpoints/last.safetensors").exists(), proc,
               what="the first checkpoint")
    return run_dir


def assert_stopped_and_resumable(run_dir: Path, err: str, why: str, reference: Path,
                                 cwd: Path) -> None:
    assert f"{why}: checkpoint saved at epoch " in err
    assert f"Resume with:\n  mlptrain train --resume {run_dir}" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 4, err
    loop = load_checkpoint(run_dir / "checkpoints/last.safetensors").meta["trainer"]["loop"]
    assert loop["status"] == "interrupted" and 0 < loop["epoch"] < 30
    resumed = run(["train", "--resume", str(run_dir), "-q"], cwd)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_run(reference, run_dir)


@pytest.mark.parametrize(("sig", "code", "why"), [(signal.SIGINT, 130, "interrupted"),
                                                  (signal.SIGTERM, 143, "terminated (SIGTERM)")])
def test_a_signal_saves_a_checkpoint_prints_the_resume_command_and_resumes_exactly(
        config, reference, sig, code, why):
    root = config.parent / "runs"
    name = f"sig{int(sig)}"
    proc = spawn(["train", str(config), f"name={name}"], config.parent)
    run_dir = started_run(root, name, proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert f"interrupted ({signal.Signals(sig).name}) at epoch" in (run_dir / "train.log").read_text()
    assert_stopped_and_resumable(run_dir, err, why, reference, config.parent)


def test_train_into_a_pipe_closed_after_two_lines_stops_with_a_checkpoint_and_exit_141(
        config, reference):
    proc = spawn(["train", str(config), "name=piped"], config.parent)
    first, second = proc.stdout.readline(), proc.stdout.readline()  # `| head -2`
    assert first.startswith("run directory: ") and second.startswith("epoch 1/30")
    proc.stdout.close()
    err = proc.stderr.read()
    proc.wait(timeout=120)
    assert proc.returncode == 141, err
    run_dir = Path(first.removeprefix("run directory: ").strip())
    assert_stopped_and_resumable(run_dir, err, "standard output was closed", reference,
                                 config.parent)


def closed_pipe() -> int:
    """The write end of a pipe whose reader is already gone (every write: EPIPE)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    return write_end


def test_eval_into_a_closed_pipe_writes_its_result_and_exits_141_silently(reference, tmp_path):
    write_end = closed_pipe()
    try:
        proc = spawn(["eval", str(reference)], tmp_path, stdout=write_end)
    finally:
        os.close(write_end)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141, err
    assert err == ""
    assert (reference / "checkpoints/best.eval-test.json").is_file()


def test_train_whose_stdout_is_closed_from_the_start_stops_at_step_0_and_resumes(
        config, reference):
    write_end = closed_pipe()
    try:
        proc = spawn(["train", str(config), "name=nopipe"], config.parent, stdout=write_end)
    finally:
        os.close(write_end)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141, err
    run_dir = next((config.parent / "runs").glob("nopipe-*"))
    assert "checkpoint saved at epoch 0, step 0" in err
    resumed = run(["train", "--resume", str(run_dir), "-q"], config.parent)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_run(reference, run_dir)
