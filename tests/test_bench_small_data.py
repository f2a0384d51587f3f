"""bench/small_data.py: its pure helpers by hand, and one quick end-to-end run (no timing is
asserted)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture(scope="module")
def small_data():
    sys.path.insert(0, str(BENCH))
    try:
        import small_data
    finally:
        sys.path.remove(str(BENCH))
    return small_data


def test_epoch_overhead_is_the_loop_time_beyond_the_steps_per_epoch(small_data):
    # 4 epochs: 2.0 s of steps in 3.0 s of loop -> 0.5 s of steps and 0.25 s more per epoch
    got = small_data.epoch_overhead({"epochs_completed": 4, "train_seconds": 2.0,
                                     "wall_seconds": 3.0})
    assert got == {"step": 0.5, "overhead": 0.25, "fraction": 0.5}


def test_cells_are_median_min_max_and_ratios_of_medians(small_data):
    assert small_data.cell([3.0, 1.0, 2.0]) == "2.00 (1.00–3.00)"
    assert small_data.cell([0.1234], digits=3) == "0.123"
    assert small_data.cell([]) == "—"
    assert small_data.ratio([2.0, 9.0, 1.0], [4.0]) == "0.50×"
    assert small_data.ratio([], [1.0]) == "—"


def test_scikit_learn_runs_every_epoch_with_mlptrains_network_and_batch(small_data):
    from mlptrain.config import validate_config

    params = small_data.sklearn_params(37)
    assert params["max_iter"] == 37 and params["tol"] == 0.0 and params["n_iter_no_change"] > 37
    assert params["solver"] == "adam" and params["alpha"] == 0.0
    assert "early_stopping" not in params
    assert small_data.sklearn_params(37, 0.1)["validation_fraction"] == 0.1
    for name in small_data.DATASETS:
        cfg = validate_config(small_data.mlptrain_config(name, Path("t.csv"), 37, Path("runs"),
                                                         None))
        assert cfg.model.hidden == list(params["hidden_layer_sizes"])
        assert cfg.train.batch_size == params["batch_size"]
        assert cfg.train.epochs == 37 and cfg.optimizer.kind == "adam"
        assert cfg.optimizer.lr == params["learning_rate_init"]
        assert cfg.data.val_fraction == 0.0 and cfg.data.test_fraction == 0.0
        assert cfg.train.checkpoint.min_interval_s == small_data.default_min_interval()
    every = small_data.mlptrain_config("digits", Path("t.csv"), 5, Path("runs"), 0.0)
    assert validate_config(every).train.checkpoint.min_interval_s == 0.0


def test_small_data_quick_run_prints_both_tables(tmp_path):
    if importlib.util.find_spec("sklearn") is None:
        pytest.skip("scikit-learn is not installed (the bench extra)")
    cmd = [sys.executable, str(BENCH / "small_data.py"), "--quick", "--epochs", "2",
           "--datasets", "diabetes", "--threads", "1", "--out", str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    [row] = [line for line in done.stdout.splitlines() if line.startswith("| diabetes | 442 × 10 |")]
    assert row.count("×") == 3  # the size and two ratios
    assert "| diabetes |" in (tmp_path / "small-latest.md").read_text()
    assert list(tmp_path.glob("small-*.json"))
    assert "BLAS" in done.stdout
    assert 'Floor: a fresh `python -c "import numpy"`' in done.stdout
    [startup] = [line for line in done.stdout.splitlines()
                 if line.startswith("| diabetes |") and line.count("|") == 7]  # 6 columns
    assert "round 1/1  diabetes       floor" in done.stderr


def test_jobs_keep_bytecode_unless_asked_not_to(small_data, monkeypatch, tmp_path):
    import argparse

    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    args = argparse.Namespace(threads=1, keep_coretype=False, pycache=tmp_path / "pyc")
    env = small_data.child_env(args)
    assert "PYTHONDONTWRITEBYTECODE" not in env
    assert env["PYTHONPYCACHEPREFIX"] == str(tmp_path / "pyc")
    assert env["OPENBLAS_NUM_THREADS"] == "1"
    assert "PYTHONDONTWRITEBYTECODE, set in this environment, unset" in small_data.bytecode_note(args)
    args.pycache = None  # --no-bytecode-cache: the environment as it is
    env = small_data.child_env(args)
    assert env["PYTHONDONTWRITEBYTECODE"] == "1" and "PYTHONPYCACHEPREFIX" not in env
    assert small_data.bytecode_note(args).startswith("no bytecode cache")


def test_small_data_refuses_an_unknown_dataset():
    done = subprocess.run([sys.executable, str(BENCH / "small_data.py"), "--datasets", "iris"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "unknown dataset 'iris'" in done.stderr
