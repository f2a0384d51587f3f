"""What `--resume` does with a run's epoch budget and end (issue 13 item 7, issue 15):
a run that has ended (completed, early-stopped) is left untouched and the command says so
(exit 0) unless train.epochs is raised past a completed run's epochs; a budget below the
epochs done is refused (exit 2). A SIGKILL at the edges, between an early-stopped run's last
checkpoint and its summary.json, or while `--resume RUN train.epochs=5` commits its new
budget, never changes where the run ends: real processes, real SIGKILL at those instants."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import yaml
from process_helpers import assert_same_run, run, spawn, spiral_raw, wait_until
from typer.testing import CliRunner

from mlptrain.checkpoint import load_checkpoint
from mlptrain.cli import app
from mlptrain.config import validate_config
from mlptrain.experiment import start_run
from mlptrain.training import SilentObserver, StopSignal

runner = CliRunner()


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def resume(run_dir: Path, *overrides: str):
    return runner.invoke(app, ["train", "--resume", str(run_dir), *overrides])


@pytest.fixture(scope="module")
def completed(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("completed")
    return start_run(validate_config(spiral_raw(root, epochs=3))).run_dir


@pytest.fixture(scope="module")
def early_stopped(tmp_path_factory) -> Path:
    # min_delta 100: no evaluation after the first counts as an improvement -> stops after 2
    raw = spiral_raw(tmp_path_factory.mktemp("early"), epochs=10,
                     early_stopping={"patience": 1, "min_delta": 100.0})
    result = start_run(validate_config(raw))
    assert result.status == "early_stopped" and result.summary["epochs_completed"] == 2
    return result.run_dir


@pytest.mark.parametrize("overrides", [[], ["train.epochs=3"]])
def test_resuming_a_completed_run_changes_nothing_and_says_so(completed, overrides):
    before = snapshot(completed)
    result = resume(completed, *overrides)
    assert result.exit_code == 0, result.output
    assert "the run has already ended (completed after 3 epochs); nothing was trained" in result.output
    assert f"mlptrain train --resume {completed} train.epochs=N (N > 3)" in result.output
    assert snapshot(completed) == before


@pytest.mark.parametrize("overrides", [[], ["train.epochs=50"]])
def test_resuming_an_early_stopped_run_changes_nothing_even_with_more_epochs(early_stopped,
                                                                          overrides):
    before = snapshot(early_stopped)
    result = resume(early_stopped, *overrides)
    assert result.exit_code == 0, result.output
    assert "already ended (early stopped after 2 epochs); nothing was trained" in result.output
    assert "uninterrupted run would have stopped here too" in result.output
    assert snapshot(early_stopped) == before


def test_a_budget_below_the_completed_epochs_is_refused(completed):
    before = snapshot(completed)
    result = resume(completed, "train.epochs=2")
    assert result.exit_code == 2
    assert "train.epochs=2 is below the 3 epochs this run has completed; give " \
           "train.epochs=3 or more" in result.output
    assert str(completed) in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 4
    assert snapshot(completed) == before


class StopAfter(SilentObserver):
    def __init__(self, stop: StopSignal, steps: int):
        self.stop, self.steps, self.done = stop, steps, 0

    def batches_done(self, count: int, running_loss: float) -> None:
        self.done += 1
        if self.done == self.steps:
            self.stop.request("test")


def test_a_budget_that_ends_inside_the_current_epoch_is_refused(tmp_path):
    stop = StopSignal()  # 240 training rows in 15 steps of 16: stop 3 steps into epoch 2
    result = start_run(validate_config(spiral_raw(tmp_path, epochs=4)), stop=stop,
                       observer_factory=lambda _: StopAfter(stop, 18))
    assert result.status == "interrupted" and result.summary["steps"] == 18
    before = snapshot(result.run_dir)
    refused = resume(result.run_dir, "train.epochs=1")
    assert refused.exit_code == 2
    assert "below the 1 epochs this run has completed and is inside epoch 2; give " \
           "train.epochs=2 or more" in refused.output
    assert snapshot(result.run_dir) == before
    assert resume(result.run_dir, "train.epochs=2", "-q").exit_code == 0
    assert json.loads((result.run_dir / "summary.json").read_text())["epochs_completed"] == 2


# ---- SIGKILL at the edges ------------------------------------------------------------------


def slow_raw(root: Path, epochs: int, **train) -> dict:
    """About a second per epoch and per test-set evaluation on one thread: wide windows
    between the writes a test kills in between."""
    raw = spiral_raw(root, epochs=epochs, n_samples=40_000, **train)
    raw["data"].update(val_fraction=0.05, test_fraction=0.8)
    raw["model"] = {"hidden": [384, 384]}
    raw["train"]["batch_size"] = 256
    return raw


def train_process(raw: dict, cwd: Path, *args: str) -> Path:
    """Train `raw` in a process of its own (one BLAS thread, like the killed ones: the
    results are compared bit for bit) and return its run directory."""
    config = cwd / f"{raw['name']}.yaml"
    config.write_text(yaml.safe_dump(raw))
    done = run(["train", str(config), "-q", *args], cwd)
    assert done.returncode == 0, done.stderr
    return next((Path(raw["run"]["root"])).glob(f"{raw['name']}-*"))


def resume_process(run_dir: Path, cwd: Path, *args: str) -> dict:
    done = run(["train", "--resume", str(run_dir), "-q", *args], cwd)
    assert done.returncode == 0, done.stderr
    return json.loads((run_dir / "summary.json").read_text())


def loop_epoch(path: Path) -> int | None:
    try:
        return load_checkpoint(path).meta["trainer"]["loop"]["epoch"]
    except Exception:  # noqa: BLE001 (a checkpoint being replaced: look again)
        return None


def test_sigkill_between_the_early_stop_checkpoint_and_summary_then_resume_trains_nothing(
        tmp_path):
    raw = slow_raw(tmp_path / "runs", 10, early_stopping={"patience": 1, "min_delta": 100.0})
    reference = train_process({**raw, "name": "reference"}, tmp_path)
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump({**raw, "name": "killed"}))
    proc = spawn(["train", str(config), "-q"], tmp_path)
    wait_until(lambda: list((tmp_path / "runs").glob("killed-*")), proc, what="the run")
    run_dir = next((tmp_path / "runs").glob("killed-*"))
    last = run_dir / "checkpoints/last.safetensors"
    # the final checkpoint (epoch 2) is written; then comes the test evaluation (~1 s), then
    # summary.json: kill in between
    wait_until(lambda: last.exists() and loop_epoch(last) == 2, proc, what="the final checkpoint")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run_dir / "summary.json").exists(), "the kill came after summary.json"
    assert load_checkpoint(last).meta["trainer"]["loop"]["status"] == "running"
    summary = resume_process(run_dir, tmp_path)
    assert summary["status"] == "early_stopped" and summary["epochs_completed"] == 2
    assert_same_run(reference, run_dir)
    again = resume(run_dir)  # now recorded: a further resume changes nothing
    assert again.exit_code == 0 and "already ended" in again.output


def test_sigkill_while_a_resume_raises_the_budget_then_a_plain_resume_ends_at_the_new_budget(
        tmp_path):
    raw = slow_raw(tmp_path / "runs", 2)
    reference = train_process({**raw, "name": "reference"}, tmp_path, "train.epochs=4")
    run_dir = train_process({**raw, "name": "raised"}, tmp_path)
    last, config = run_dir / "checkpoints/last.safetensors", run_dir / "config.yaml"

    def budget_changed() -> bool:  # the first of the two writes that commit train.epochs=4
        on_file = yaml.safe_load(config.read_text())["train"]["epochs"]
        return on_file == 4 or load_checkpoint(last).meta["config"]["train"]["epochs"] == 4

    proc = spawn(["train", "--resume", str(run_dir), "train.epochs=4", "-q"], tmp_path)
    wait_until(budget_changed, proc, what="the new budget to be written")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert loop_epoch(last) == 2, "the kill came after the first resumed epoch"
    assert load_checkpoint(last).meta["config"]["train"]["epochs"] == 4, \
        "config.yaml was changed before the checkpoint"
    summary = resume_process(run_dir, tmp_path)  # the plain resume the tool prints
    assert summary["status"] == "completed" and summary["epochs_completed"] == 4
    assert yaml.safe_load(config.read_text())["train"]["epochs"] == 4
    assert_same_run(reference, run_dir)
