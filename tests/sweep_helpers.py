"""Shared pieces of the sweep tests: tiny sweep files, reading results independently of the
code under test (csv and safetensors directly), finding and killing worker processes."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

BASE = """name: tiny
seed: 3
data: {source: spiral, n_samples: 600}
model: {hidden: [16, 16]}
optimizer: {kind: adam, lr: 0.01}
train: {epochs: 8, batch_size: 8}
"""

SWEEP = """base: base.yaml
objective: {metric: val_loss, direction: minimize}
trials: 4
seed: 11
sampler: {tpe: {n_startup_trials: 2}}
pruner: {median: {n_startup_trials: 1, n_warmup_steps: 2}}
heartbeat: 1
space:
  optimizer.lr: {log_uniform: [1.0e-3, 3.0e-2]}
  model.dropout: {uniform: [0.0, 0.3]}
  train.batch_size: {choice: [8, 16]}
"""


def write_sweep(folder: Path, sweep: str = SWEEP, base: str = BASE) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "base.yaml").write_text(base)
    path = folder / "sweep.yaml"
    path.write_text(sweep)
    return path


def cli(*args: str, cwd: Path | None = None, **kwargs) -> subprocess.Popen:
    """`mlptrain ARGS` as a real process in its own process group."""
    return subprocess.Popen([sys.executable, "-m", "mlptrain", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, **kwargs)


def run_cli(*args: str, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlptrain", *args], capture_output=True,
                          text=True, timeout=timeout, **kwargs)


def only_sweep_dir(root: Path) -> Path:
    found = [p for p in root.iterdir() if p.is_dir()]
    assert len(found) == 1, found
    return found[0]


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def best_epoch_value(run_dir: Path, metric: str = "val_loss") -> float:
    """min over the epoch-end rows of metrics.csv, read with the csv module only."""
    rows = read_csv(run_dir / "metrics.csv")
    return min(float(r[metric]) for r in rows if float(r["epoch"]).is_integer())


def tensors(path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(path))


def assert_same_checkpoints(a: Path, b: Path) -> None:
    """Every checkpoint file of run a equals run b's, tensor by tensor, bit for bit."""
    names = sorted(p.name for p in (a / "checkpoints").glob("*.safetensors"))
    assert names == sorted(p.name for p in (b / "checkpoints").glob("*.safetensors"))
    assert names, f"{a} has no checkpoint"
    for name in names:
        ta, tb = tensors(a / "checkpoints" / name), tensors(b / "checkpoints" / name)
        assert sorted(ta) == sorted(tb)
        for key in ta:
            assert ta[key].dtype == tb[key].dtype and ta[key].shape == tb[key].shape
            assert ta[key].tobytes() == tb[key].tobytes(), (a.name, name, key)


def worker_pids(sweep_dir: Path) -> list[int]:
    """Processes running `mlptrain sweep worker ... --dir SWEEP_DIR`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"worker" in argv and str(sweep_dir).encode() in argv:
            pids.append(int(entry.name))
    return pids


def wait_for(predicate, timeout: float = 120, step: float = 0.005):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("timed out waiting")


def trial_in_progress(sweep_dir: Path, min_slot: int = 1) -> Path | None:
    """A trial of slot >= min_slot that has written a checkpoint and has not finished."""
    trials = sweep_dir / "trials"
    if not trials.is_dir():
        return None
    for run in sorted(trials.iterdir()):
        if int(run.name.split("-")[1]) < min_slot or (run / "summary.json").exists():
            continue
        if (run / "checkpoints" / "last.safetensors").exists():
            return run
    return None


def kill(pid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
