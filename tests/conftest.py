"""Fixtures shared by several test files (pytest finds them here; no imports needed).

Trained runs, each made once and only for the tests that ask for it:

- spiral_run, sine_run, binary_run (session scope): small runs of the tool tests (eval,
  gradcheck, predict, inspect, plot, export), trained by `tools_helpers.train_run`;
- finished_run (module scope): the good run the hostile-input corpora copy and break.

Hypothesis: with MLPTRAIN_HYPOTHESIS_PROFILE=ci (set by .ci/run) every property test draws
the same examples on every run (derandomize), so CI cannot turn red on an example nobody
has seen; a plain `pytest` keeps exploring new examples on each run.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings
from tools_helpers import train_run

from mlptrain.config import validate_config
from mlptrain.experiment import start_run

settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("MLPTRAIN_HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["MLPTRAIN_HYPOTHESIS_PROFILE"])


@pytest.fixture(scope="session", name="spiral_run")
def fixture_spiral_run(tmp_path_factory) -> Path:
    """A classification run (spiral, 3 classes, float32)."""
    return train_run(tmp_path_factory.mktemp("spiral"), train={"epochs": 6})


@pytest.fixture(scope="session", name="sine_run")
def fixture_sine_run(tmp_path_factory) -> Path:
    """A regression run (sine, mse)."""
    return train_run(tmp_path_factory.mktemp("sine"), data={"source": "sine", "n_samples": 300},
                     model={"hidden": [16], "activation": "tanh"})


@pytest.fixture(scope="session", name="binary_run")
def fixture_binary_run(tmp_path_factory) -> Path:
    """A binary classification run: one sigmoid unit, binary cross-entropy, string labels
    churn / stay (sorted: churn is class 0, stay class 1)."""
    root = tmp_path_factory.mktemp("binary")
    X = np.random.default_rng(0).normal(size=(200, 2))  # (200, 2)
    labels = np.where(X[:, 0] + X[:, 1] > 0, "stay", "churn")
    path = root / "churn.csv"
    lines = [f"{a:.6f},{b:.6f},{c}" for (a, b), c in zip(X.tolist(), labels, strict=True)]
    path.write_text("a,b,label\n" + "\n".join(lines) + "\n")
    return train_run(root, data={"source": "csv", "path": str(path)}, model={"hidden": []},
                     loss={"kind": "binary_cross_entropy"}, optimizer={"lr": 0.1},
                     train={"epochs": 5})


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A completed two-epoch spiral run (checkpoints, metrics, summary)."""
    root = tmp_path_factory.mktemp("good")
    raw = {"name": "good", "data": {"source": "spiral", "n_samples": 200},
           "model": {"hidden": [8]}, "train": {"epochs": 2, "batch_size": 32},
           "run": {"root": str(root / "runs")}}
    return start_run(validate_config(raw)).run_dir
