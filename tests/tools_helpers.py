"""Shared helpers of the tool tests (eval, gradcheck, predict, inspect, plot): training a small
run, bad checkpoint files, and the CliRunner assertions. The trained-run fixtures built with
`train_run` live in conftest.py."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from mlptrain.cli import app

runner = CliRunner()


def run(*args) -> object:
    return runner.invoke(app, [str(a) for a in args])


def assert_ok(result) -> str:
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.output


def assert_clean_error(result, *fragments: str, code: int = 2) -> None:
    output = result.output  # stdout and stderr
    assert result.exit_code == code, output
    assert "Traceback" not in output
    assert "internal error" not in output, output
    for fragment in fragments:
        assert fragment in output, f"{fragment!r} not in {output!r}"


def stdout_json(result) -> dict:
    return json.loads(result.stdout)


def train_run(root: Path, **sections) -> Path:
    """Train a small run under `root` (well under a second) and return its directory."""
    from mlptrain.config import validate_config
    from mlptrain.experiment import start_run

    raw = {"data": {"source": "spiral", "n_samples": 300}, "model": {"hidden": [16]},
           "optimizer": {"lr": 0.01}, "train": {"epochs": 4}, "run": {"root": str(root)}}
    for key, value in sections.items():
        raw.setdefault(key, {}).update(value)
    return start_run(validate_config(raw)).run_dir


def metrics_rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def write_config(folder: Path, text: str, name: str = "cfg.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def bad_checkpoints(folder: Path, good: Path) -> dict[str, Path]:
    """Files that are not readable mlptrain checkpoints, by kind."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    files["missing"] = folder / "nothing-here.safetensors"
    files["empty"] = folder / "empty.safetensors"
    files["empty"].write_bytes(b"")
    data = good.read_bytes()
    files["truncated"] = folder / "truncated.safetensors"
    files["truncated"].write_bytes(data[: len(data) // 2])
    files["random"] = folder / "random.safetensors"
    files["random"].write_bytes(np.random.default_rng(0).bytes(4096))
    files["foreign"] = folder / "foreign.safetensors"
    save_file({"weight": np.zeros((2, 2), np.float32)}, str(files["foreign"]),
              metadata={"framework": "pt"})
    return files


BAD_CHECKPOINT_MESSAGES = {
    "missing": "no such checkpoint file",
    "empty": "is empty (0 bytes)",
    "truncated": "not a readable safetensors checkpoint",
    "random": "not a readable safetensors checkpoint",
    "foreign": "not an mlptrain checkpoint",
}


def best_checkpoint(run_dir: Path) -> Path:
    return run_dir / "checkpoints" / "best.safetensors"


def empty_run_dir(folder: Path) -> Path:
    """A run directory whose training stopped before any checkpoint was written."""
    run = folder / "stopped-run"
    (run / "checkpoints").mkdir(parents=True, exist_ok=True)
    return run

