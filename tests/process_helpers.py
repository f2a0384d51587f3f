"""Real `mlptrain` processes for the signal, lock and crash tests: spawn, wait for a file,
read the run directory's lock holder."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

from mlptrain.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[1]
TIMING_COLUMNS = {"epoch_time", "samples_per_sec", "wall_time"}


def spiral_raw(root: Path, epochs: int, n_samples: int = 300, **train) -> dict:
    """A small spiral config (dropout and batch norm on, so RNG streams and buffers matter)."""
    return {"name": "p", "data": {"source": "spiral", "n_samples": n_samples},
            "model": {"hidden": [16], "dropout": 0.1, "batchnorm": True},
            "optimizer": {"kind": "adam", "lr": 0.01},
            "train": {"epochs": epochs, "batch_size": 16, **train},
            "run": {"root": str(root)}}


def write_config(path: Path, raw: dict) -> Path:
    path.write_text(yaml.safe_dump(raw))
    return path


def spawn(args: list[str], cwd: Path, **popen) -> subprocess.Popen:
    """`python -m mlptrain ARGS` with one BLAS thread, output captured as text."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen([sys.executable, "-m", "mlptrain", *args], cwd=cwd, env=env,
                            text=True, **popen)


def run(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "mlptrain", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def wait_until(condition, proc: subprocess.Popen | None = None, timeout: float = 120.0,
               what: str = "the condition") -> None:
    """Poll `condition()` every 5 ms; fail if `proc` ends first or after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"the process ended (exit {proc.returncode}) before {what}:\n"
                                 f"{out}\n{err}")
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


def lock_holder(run_dir: Path) -> dict | None:
    """The holder recorded in RUN/.lock, or None when there is none (yet)."""
    try:
        return json.loads((run_dir / ".lock").read_text())
    except (OSError, ValueError):
        return None


def metrics_epochs(run_dir: Path) -> list[str]:
    lines = (run_dir / "metrics.csv").read_text().splitlines()
    return [line.split(",")[0] for line in lines[1:]]


def metrics_rows(run_dir: Path) -> list[dict[str, str]]:
    """metrics.csv without its timing columns."""
    with open(run_dir / "metrics.csv", newline="") as handle:
        return [{k: v for k, v in r.items() if k not in TIMING_COLUMNS}
                for r in csv.DictReader(handle)]


def loop_meta(path: Path) -> dict:
    """A checkpoint's trainer state (loop counters, RNG, schedule, monitors) without the
    wall time and the status."""
    meta = load_checkpoint(path).meta["trainer"]
    loop = {k: v for k, v in meta["loop"].items() if k not in ("train_seconds", "status")}
    return {**meta, "loop": loop}


def assert_same_run(reference: Path, run: Path, extra_tags: tuple[str, ...] = ()) -> None:
    """Bit-identical checkpoints (weights, batch-norm buffers, optimizer state), the same
    trainer state and the same metrics rows (timing columns aside), and the same summary."""
    for tag in ("last", "best", *extra_tags):
        a = load_checkpoint(reference / f"checkpoints/{tag}.safetensors").tensors
        b = load_checkpoint(run / f"checkpoints/{tag}.safetensors").tensors
        assert sorted(a) == sorted(b), tag
        for key in a:
            assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key]), (tag, key)
        assert loop_meta(reference / f"checkpoints/{tag}.safetensors") == \
            loop_meta(run / f"checkpoints/{tag}.safetensors"), tag
    assert metrics_rows(reference) == metrics_rows(run)
    ref_summary = json.loads((reference / "summary.json").read_text())
    summary = json.loads((run / "summary.json").read_text())
    for key in ("status", "epochs_completed", "steps", "best_epoch", "best_value", "test"):
        assert summary[key] == ref_summary[key], key
