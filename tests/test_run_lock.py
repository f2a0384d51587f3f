"""One writer per run directory (issue 15): a process that trains in a run directory holds an
exclusive lock on it for its whole life; a second one exits 2 naming the holder; a killed
holder's lock is free again; only the temp files of dead writers are cleaned up.
Real processes and real signals throughout."""

from __future__ import annotations

import signal
import socket
import subprocess

import pytest
from process_helpers import lock_holder, metrics_epochs, spawn, spiral_raw, wait_until

from mlptrain.checkpoint import load_checkpoint
from mlptrain.config import validate_config
from mlptrain.errors import RunDirError
from mlptrain.experiment import resume_run, start_run
from mlptrain.rundir import RunLock

LONG = "train.epochs=100000"  # far more than a test waits for: the holder is stopped by a signal


@pytest.fixture
def one_epoch_run(tmp_path):
    return start_run(validate_config(spiral_raw(tmp_path / "runs", epochs=1, n_samples=1500))).run_dir


def test_two_resumes_at_once_one_trains_and_the_other_exits_2_naming_it(tmp_path, one_epoch_run):
    run_dir = one_epoch_run
    first = spawn(["train", "--resume", str(run_dir), LONG, "-q"], tmp_path)
    second = spawn(["train", "--resume", str(run_dir), LONG, "-q"], tmp_path)
    wait_until(lambda: first.poll() is not None or second.poll() is not None,
               what="one of the two resumes to be refused")
    loser, winner = (first, second) if first.poll() is not None else (second, first)
    out, err = loser.communicate()
    assert loser.returncode == 2, err
    assert "is in use by another mlptrain process" in err
    assert f"pid {winner.pid} on host {socket.gethostname()}" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 4, err
    # the winner trains on alone: its rows are never interleaved with another writer's
    wait_until(lambda: len(metrics_epochs(run_dir)) >= 4, winner, what="three more epochs")
    winner.send_signal(signal.SIGINT)
    winner.communicate(timeout=120)
    assert winner.returncode == 130
    epochs = [int(e) for e in metrics_epochs(run_dir)]
    assert epochs == list(range(1, len(epochs) + 1))
    assert not (run_dir / ".lock").exists(), "a clean exit removes its lock file"


def test_a_killed_holder_leaves_a_free_lock_and_only_dead_writers_temp_files_are_removed(
        tmp_path, one_epoch_run):
    run_dir = one_epoch_run
    holder = spawn(["train", "--resume", str(run_dir), LONG, "-q"], tmp_path)
    wait_until(lambda: (lock_holder(run_dir) or {}).get("pid") == holder.pid, holder,
               what="the resume to record itself in RUN/.lock")
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert lock_holder(run_dir)["pid"] == holder.pid  # the stale file stays, unlocked
    alive = subprocess.Popen(["sleep", "60"])  # a live writer, e.g. an `eval` next to `best`
    try:
        dead_tmp = run_dir / "checkpoints" / f".last.safetensors.tmp-{holder.pid}"
        live_tmp = run_dir / "checkpoints" / f".best.eval-test.json.tmp-{alive.pid}"
        dead_tmp.write_bytes(b"half a checkpoint")
        live_tmp.write_bytes(b"half a result")
        done = load_checkpoint(run_dir / "checkpoints/last.safetensors").meta["trainer"]["loop"]
        resume_run(run_dir, overrides=[f"train.epochs={done['epoch'] + 1}"])
        assert not dead_tmp.exists(), "the killed writer's temp file was not cleaned up"
        assert live_tmp.exists(), "a live process's temp file was deleted"
    finally:
        alive.kill()
        alive.wait()
    assert not (run_dir / ".lock").exists()


def test_the_lock_is_exclusive_within_one_process_too_and_free_after_release(tmp_path):
    first = RunLock(tmp_path).acquire("mlptrain train x.yaml")
    with pytest.raises(RunDirError) as refused:
        RunLock(tmp_path).acquire()
    message = str(refused.value)
    assert str(tmp_path) in message and "is in use by another mlptrain process" in message
    assert "pid " in message and f"on host {socket.gethostname()}" in message
    assert lock_holder(tmp_path)["command"] == "mlptrain train x.yaml"
    first.release()
    assert not (tmp_path / ".lock").exists()
    with RunLock(tmp_path).acquire():
        assert (tmp_path / ".lock").exists()
    assert not (tmp_path / ".lock").exists()


def test_a_run_directory_where_no_lock_file_can_be_made_is_a_clean_error(tmp_path):
    (tmp_path / ".lock").mkdir()  # a folder where the lock file should be
    with pytest.raises(RunDirError, match="cannot create the lock file"):
        RunLock(tmp_path).acquire()
