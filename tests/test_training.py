"""The training loop and run directory: reproducibility, exact resume after SIGKILL (Ctrl-C,
SIGTERM and stops at every step boundary: test_signals.py, test_stop_every_boundary.py),
early stopping, divergence, the files of a run, and what a hidden layer buys on the spiral."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from mlptrain.checkpoint import load_checkpoint
from mlptrain.config import validate_config
from mlptrain.experiment import resume_run, start_run
from mlptrain.rundir import create_run_dir

REPO = Path(__file__).resolve().parents[1]
TIMING_COLUMNS = {"epoch_time", "samples_per_sec", "wall_time"}


def small_config(tmp_path: Path, **sections) -> dict:
    """A fast spiral config (dropout and batch norm on, so RNG and buffers matter)."""
    raw = {
        "name": "t",
        "data": {"source": "spiral", "n_samples": 300},
        "model": {"hidden": [16, 16], "dropout": 0.1, "batchnorm": True},
        "optimizer": {"kind": "adam", "lr": 0.01},
        "train": {"epochs": 4, "batch_size": 16},
        "run": {"root": str(tmp_path / "runs")},
    }
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    return raw


def metrics_rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="") as handle:
        return [{k: v for k, v in row.items() if k not in TIMING_COLUMNS} for row in csv.DictReader(handle)]


def tensors(path: Path) -> dict[str, np.ndarray]:
    return load_checkpoint(path).tensors


def assert_same_tensors(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        assert a[key].dtype == b[key].dtype, key
        assert np.array_equal(a[key], b[key]), f"{key} differs"


# ---- reproducibility and run directory ---------------------------------------------------


def test_two_runs_with_the_same_seed_are_identical(tmp_path):
    first = start_run(validate_config(small_config(tmp_path, name="a")))
    second = start_run(validate_config(small_config(tmp_path, name="b")))
    assert_same_tensors(tensors(first.run_dir / "checkpoints/last.safetensors"),
                        tensors(second.run_dir / "checkpoints/last.safetensors"))
    assert metrics_rows(first.run_dir) == metrics_rows(second.run_dir)
    assert first.summary["test"] == second.summary["test"]


def test_a_different_seed_gives_different_weights(tmp_path):
    first = start_run(validate_config(small_config(tmp_path, name="a")))
    second = start_run(validate_config(small_config(tmp_path, name="b", seed=1)))
    a = tensors(first.run_dir / "checkpoints/last.safetensors")["model.layers.0.weight"]
    b = tensors(second.run_dir / "checkpoints/last.safetensors")["model.layers.0.weight"]
    assert not np.array_equal(a, b)


def test_run_directory_holds_every_file_and_metrics_parse(tmp_path):
    result = start_run(validate_config(small_config(tmp_path)))
    run = result.run_dir
    for name in ("config.yaml", "metrics.csv", "layers.jsonl", "summary.json", "train.log",
                 "checkpoints/last.safetensors", "checkpoints/best.safetensors"):
        assert (run / name).is_file(), name
    with open(run / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    for row in rows:
        for key in ("train_loss", "val_loss", "val_accuracy", "lr", "grad_norm", "samples_per_sec"):
            assert np.isfinite(float(row[key])), key
    layers = [json.loads(line) for line in (run / "layers.jsonl").read_text().splitlines()]
    assert len(layers) == 4
    first = layers[0]["layers"][0]
    for key in ("mean", "std", "dead_fraction", "weight_norm", "grad_norm", "update_ratio"):
        assert key in first and first[key] is not None, key
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["seed"] == 0 and summary["epochs_completed"] == 4
    assert summary["versions"]["numpy"] == np.__version__
    assert set(summary["test"]) == {"loss", "accuracy", "balanced_accuracy", "f1_macro"}
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["model"]["hidden"] == [16, 16] and resolved["loss"]["kind"] == "cross_entropy"
    assert "epoch=4" in (run / "train.log").read_text()


def test_best_checkpoint_holds_the_best_epoch_and_test_uses_it(tmp_path):
    result = start_run(validate_config(small_config(tmp_path, train={"epochs": 6})))
    rows = metrics_rows(result.run_dir)
    losses = [float(r["val_loss"]) for r in rows]
    best_epoch = int(np.argmin(losses)) + 1
    assert result.summary["best_epoch"] == best_epoch
    best = load_checkpoint(result.run_dir / "checkpoints/best.safetensors")
    assert best.meta["trainer"]["loop"]["epoch"] == best_epoch


def test_existing_run_directory_is_never_reused(tmp_path):
    first = create_run_dir(tmp_path, "fixed", "x", 0)
    (first / "marker").write_text("keep")
    second = create_run_dir(tmp_path, "fixed", "x", 0)
    assert second != first and second.name == "fixed-1"
    assert (first / "marker").read_text() == "keep"


def test_periodic_checkpoints_keep_only_the_last_k(tmp_path):
    cfg = small_config(tmp_path, train={"epochs": 5, "checkpoint": {"every": 1, "keep_last": 2}})
    result = start_run(validate_config(cfg))
    kept = sorted(p.name for p in (result.run_dir / "checkpoints").glob("epoch-*"))
    assert kept == ["epoch-0004.safetensors", "epoch-0005.safetensors"]


def test_eval_every_n_steps_adds_fractional_epoch_rows(tmp_path):
    cfg = small_config(tmp_path, train={"epochs": 2, "eval_every": 5})
    result = start_run(validate_config(cfg))
    epochs = [float(r["epoch"]) for r in metrics_rows(result.run_dir)]
    assert 1.0 in epochs and 2.0 in epochs
    assert any(0 < e < 1 for e in epochs)
    # epoch_time counts every training step of its epoch, across mid-epoch evaluations
    with open(result.run_dir / "metrics.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["epoch_time"]]
    assert sum(float(r["epoch_time"]) for r in rows) == pytest.approx(float(rows[-1]["wall_time"]))


# ---- early stopping and divergence -------------------------------------------------------


def test_early_stopping_stops_after_patience_evaluations_without_improvement(tmp_path):
    # An improvement must beat the best by 10 (impossible for accuracy): after the first
    # evaluation sets the best, every evaluation is "bad", so the run stops at 1 + patience.
    cfg = small_config(tmp_path, train={"epochs": 20, "early_stopping": {
        "monitor": "val_accuracy", "patience": 3, "min_delta": 10.0}})
    result = start_run(validate_config(cfg))
    assert result.status == "early_stopped"
    assert result.summary["epochs_completed"] == 4
    assert len(metrics_rows(result.run_dir)) == 4


def test_early_stopping_does_not_fire_while_improving(tmp_path):
    cfg = small_config(tmp_path, train={"epochs": 5, "early_stopping": {"patience": 5}})
    result = start_run(validate_config(cfg))
    assert result.status == "completed" and result.summary["epochs_completed"] == 5


def test_divergence_stops_with_exit_code_1_and_a_hint(tmp_path):
    cfg_path = tmp_path / "diverge.yaml"
    cfg = small_config(tmp_path, optimizer={"kind": "sgd", "lr": 50.0, "momentum": 0.9},
                       model={"hidden": [32], "dropout": 0.0, "batchnorm": False},
                       train={"epochs": 20, "batch_size": 16})
    cfg_path.write_text(yaml.safe_dump(cfg))
    proc = subprocess.run([sys.executable, "-m", "mlptrain", "train", str(cfg_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "training diverged at epoch" in proc.stderr
    assert "learning rate 50" in proc.stderr and "optimizer.lr=" in proc.stderr
    assert "Traceback" not in proc.stderr
    run_dir = next((tmp_path / "runs").iterdir())
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "diverged"


def test_loss_explosion_counts_as_divergence(tmp_path):
    from mlptrain.errors import DivergenceError

    cfg = small_config(tmp_path, optimizer={"kind": "sgd", "lr": 5.0, "momentum": 0.9},
                       model={"dropout": 0.0, "batchnorm": False},
                       train={"epochs": 30, "divergence_factor": 1.5})
    with pytest.raises(DivergenceError, match="exploded above 1.5x its first value"):
        start_run(validate_config(cfg))


# ---- resume ------------------------------------------------------------------------------


def test_resume_after_the_last_epoch_continues_with_more_epochs_exactly(tmp_path):
    full = start_run(validate_config(small_config(tmp_path, name="full", train={"epochs": 6})))
    part = start_run(validate_config(small_config(tmp_path, name="part", train={"epochs": 3})))
    resumed = resume_run(part.run_dir, overrides=["train.epochs=6"])
    assert resumed.status == "completed"
    assert_same_tensors(tensors(full.run_dir / "checkpoints/last.safetensors"),
                        tensors(part.run_dir / "checkpoints/last.safetensors"))
    assert metrics_rows(full.run_dir) == metrics_rows(part.run_dir)


def test_resume_refuses_overrides_other_than_epochs(tmp_path):
    from mlptrain.errors import ConfigError

    part = start_run(validate_config(small_config(tmp_path, train={"epochs": 1})))
    with pytest.raises(ConfigError, match="only train.epochs"):
        resume_run(part.run_dir, overrides=["optimizer.lr=0.5"])


def _spawn_train(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "mlptrain", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.01)
    raise AssertionError(f"{path} did not appear")


def _run_to_completion(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "mlptrain", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def _wait_for_checkpoint_write(run_dir: Path, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """Spin until a checkpoint temp file exists (a write is under way) or the process ends."""
    deadline = time.monotonic() + timeout
    folder = run_dir / "checkpoints"
    while time.monotonic() < deadline and proc.poll() is None:
        if any(folder.glob(".*.tmp-*")):
            return
    return


def kill_and_resume(tmp_path: Path, raw: dict, kills: int, seed: int,
                    in_writes: bool = False) -> tuple[Path, Path, int]:
    """Train `raw` uninterrupted, and again with `kills` SIGKILLs, each followed by --resume.
    Kills come at random moments, or (`in_writes`) while a checkpoint is being written.
    Returns both run dirs and how many kills left a half-written checkpoint behind."""
    rng = np.random.default_rng(seed)
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(yaml.safe_dump(raw))
    reference = _run_to_completion(["train", str(cfg_path), "name=reference"], tmp_path)
    assert reference.returncode == 0, reference.stderr
    started = time.monotonic()
    proc = _spawn_train(["train", str(cfg_path), "name=killed"], tmp_path)
    run_dir = None
    hits_in_write = 0
    for _ in range(kills):
        if run_dir is None:
            while not list((tmp_path / "runs").glob("killed-*")):
                assert proc.poll() is None, proc.communicate()
                time.sleep(0.01)
            run_dir = next((tmp_path / "runs").glob("killed-*"))
        if not _wait_for(run_dir / "checkpoints" / "last.safetensors", proc):
            break
        if in_writes:
            _wait_for_checkpoint_write(run_dir, proc)
        else:
            time.sleep(rng.uniform(0.0, 0.6))
        if proc.poll() is not None:
            break  # finished before the kill
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if list((run_dir / "checkpoints").glob(".*.tmp-*")):
            hits_in_write += 1
        load_checkpoint(run_dir / "checkpoints" / "last.safetensors")  # still loadable
        proc = _spawn_train(["train", "--resume", str(run_dir)], tmp_path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert time.monotonic() - started < 600
    reference_dir = next((tmp_path / "runs").glob("reference-*"))
    return reference_dir, run_dir, hits_in_write


def assert_identical_runs(reference_dir: Path, run_dir: Path) -> None:
    assert_same_tensors(tensors(reference_dir / "checkpoints/last.safetensors"),
                        tensors(run_dir / "checkpoints/last.safetensors"))
    assert_same_tensors(tensors(reference_dir / "checkpoints/best.safetensors"),
                        tensors(run_dir / "checkpoints/best.safetensors"))
    assert metrics_rows(reference_dir) == metrics_rows(run_dir)
    ref_summary = json.loads((reference_dir / "summary.json").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["test"] == ref_summary["test"]
    assert summary["best_epoch"] == ref_summary["best_epoch"]


def test_sigkill_at_random_steps_then_resume_is_bit_identical(tmp_path):
    raw = small_config(tmp_path, data={"n_samples": 1500},
                       train={"epochs": 12, "batch_size": 4,
                              "early_stopping": {"patience": 50}},
                       schedule={"kind": "cosine", "warmup_epochs": 1})
    reference_dir, run_dir, _ = kill_and_resume(tmp_path, raw, kills=3, seed=1)
    assert_identical_runs(reference_dir, run_dir)


def test_sigkill_inside_checkpoint_writes_keeps_the_previous_checkpoint(tmp_path):
    # A wide model (multi-megabyte checkpoints) on a tiny dataset; each kill is sent the
    # moment a checkpoint temp file appears, so it lands inside a write.
    # threads pinned: auto's count for a step this large follows the machine's load as each
    # run starts, and the reference and the killed run must train with the same count
    raw = small_config(tmp_path, data={"n_samples": 200}, model={"hidden": [1024, 1024]},
                       train={"epochs": 12, "batch_size": 100, "threads": 1})
    reference_dir, run_dir, hits = kill_and_resume(tmp_path, raw, kills=4, seed=2, in_writes=True)
    assert hits >= 1, "no kill landed inside a checkpoint write"
    assert_identical_runs(reference_dir, run_dir)
    assert not list((run_dir / "checkpoints").glob(".*.tmp-*"))


@pytest.mark.slow
def test_many_random_sigkills_then_resume_is_bit_identical(tmp_path):
    raw = small_config(tmp_path, data={"n_samples": 1500},
                       train={"epochs": 30, "batch_size": 4},
                       schedule={"kind": "plateau", "patience": 1})
    reference_dir, run_dir, _ = kill_and_resume(tmp_path, raw, kills=20, seed=3)
    assert_identical_runs(reference_dir, run_dir)


def test_resume_of_a_directory_without_checkpoint_is_a_clean_error(tmp_path):
    from typer.testing import CliRunner

    from mlptrain.cli import app

    empty = tmp_path / "run"
    (empty / "checkpoints").mkdir(parents=True)
    result = CliRunner().invoke(app, ["train", "--resume", str(empty)])
    assert result.exit_code == 2
    assert "holds no last checkpoint" in result.output and "Traceback" not in result.output


# ---- the seeds' point: a hidden layer buys a non-linear boundary ---------------------------


def test_spiral_default_reaches_97_percent_and_a_linear_model_does_not(tmp_path):
    from mlptrain.config import load_config

    root = str(tmp_path / "runs")
    mlp = start_run(load_config(REPO / "configs/spiral.yaml", [f"run.root={root}"]))
    linear = start_run(load_config(REPO / "configs/spiral.yaml",
                                   [f"run.root={root}", "model.hidden=[]", "name=linear"]))
    best_mlp = max(float(r["val_accuracy"]) for r in metrics_rows(mlp.run_dir))
    best_linear = max(float(r["val_accuracy"]) for r in metrics_rows(linear.run_dir))
    assert best_mlp >= 0.97
    assert mlp.summary["test"]["accuracy"] >= 0.95
    assert best_linear < 0.70


def test_without_a_validation_split_monitors_fall_back_to_training_metrics(tmp_path):
    cfg = small_config(tmp_path, data={"val_fraction": 0.0},
                       train={"early_stopping": {"monitor": "val_loss", "patience": 3}})
    result = start_run(validate_config(cfg))
    assert result.summary["monitor"] == "train_loss"
    assert "val_loss" not in metrics_rows(result.run_dir)[0]
    assert result.summary["test"] is not None


def test_a_monitor_that_is_not_a_metric_is_a_config_error(tmp_path):
    from mlptrain.errors import ConfigError

    cfg = small_config(tmp_path, train={"checkpoint": {"monitor": "val_r2"}})
    with pytest.raises(ConfigError, match="'val_r2' is not a metric of a 3-class classification run"):
        validate_config(cfg)  # known from the config alone: config show says it too
    cfg = small_config(tmp_path, train={"checkpoint": {"monitor": "val_roc_auc"}})
    with pytest.raises(ConfigError, match="'val_roc_auc' is not a metric of a 3-class"):
        validate_config(cfg)  # spiral's classes are known from the config (n_classes: 3)
    cfg["data"] = {"source": "csv", "path": str(REPO / "data" / "flowers.csv")}
    with pytest.raises(ConfigError, match="'val_roc_auc' is not a metric of this run"):
        start_run(validate_config(cfg))  # known once the file says there are 3 classes


def test_resume_takes_blas_threads_from_the_run_config(tmp_path):
    from mlptrain.cli.train import _run_threads

    result = start_run(validate_config(small_config(tmp_path, train={"epochs": 1, "threads": 1})))
    assert _run_threads(result.run_dir) == 1
    assert _run_threads(tmp_path / "no-such-run") is None


SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="the shared MNIST copy is not present")
def test_mnist_config_trains_on_60000_images_and_reaches_98_percent_on_the_test_set(tmp_path):
    from mlptrain.config import load_config

    cfg = load_config(REPO / "configs/mnist.yaml",
                      [f"data.path={SHARED_MNIST}", f"run.root={tmp_path}"])
    result = start_run(cfg)
    sizes = result.summary["data"]["sizes"]
    assert sizes["train"] + sizes["val"] == 60_000 and sizes["test"] == 10_000
    assert result.summary["test"]["accuracy"] >= 0.98


def test_clip_norm_bounds_every_step_and_metrics_report_the_norm_before_clipping(tmp_path):
    cfg = small_config(tmp_path, model={"dropout": 0.0, "batchnorm": False},
                       optimizer={"kind": "sgd", "lr": 1.0, "momentum": 0.0, "clip_norm": 1e-3},
                       train={"epochs": 1, "batch_size": 16})
    from mlptrain.experiment import prepare
    from mlptrain.training import SilentObserver

    _, trainer = prepare(validate_config(cfg), SilentObserver())
    result = start_run(validate_config(cfg))
    after = tensors(result.run_dir / "checkpoints/last.safetensors")
    moved = np.sqrt(sum(np.sum((after[f"model.{k}"].astype(np.float64) - v) ** 2)
                        for k, v in trainer.net.parameters().items()))
    steps = result.summary["steps"]
    assert 0 < moved <= steps * 1e-3 * (1 + 1e-4)  # each sgd step moves at most lr * clip_norm
    assert float(metrics_rows(result.run_dir)[0]["grad_norm"]) > 1e-3


def test_without_a_val_split_activation_statistics_are_those_of_the_first_1024_training_rows(
        tmp_path):
    # every epoch: the eval-mode forward of the same 1024 scaled training rows (1,200 rows in
    # all), with that epoch's final weights; checked by hand against epochs 1 and 2
    from mlptrain.data import load_data
    from mlptrain.training import PROBE_ROWS

    raw = small_config(tmp_path, data={"n_samples": 1500, "val_fraction": 0.0},
                       model={"hidden": [16, 8], "dropout": 0.0, "batchnorm": False,
                              "dtype": "float64"},
                       train={"epochs": 2, "checkpoint": {"every": 1}})
    cfg = validate_config(raw)
    result = start_run(cfg)
    bundle = load_data(cfg.data, seed=cfg.seed, loss_kind="cross_entropy")
    assert bundle.val is None and bundle.train.X.shape[0] > PROBE_ROWS == 1024
    X = bundle.preprocessor.transform(bundle.train.X[:PROBE_ROWS], dtype=np.float64)
    layers = [json.loads(line) for line in (result.run_dir / "layers.jsonl").read_text().splitlines()]
    for epoch in (1, 2):
        weights = load_checkpoint(result.run_dir / f"checkpoints/epoch-{epoch:04d}.safetensors")
        h = X
        for i, entry in enumerate(layers[epoch - 1]["layers"][:2]):
            w, b = weights.tensors[f"model.layers.{i}.weight"], weights.tensors[f"model.layers.{i}.bias"]
            h = np.maximum(h @ w + b, 0.0)  # (1024, fan_out)
            assert entry["mean"] == pytest.approx(h.mean(), rel=1e-12)
            assert entry["std"] == pytest.approx(h.std(), rel=1e-12)
            assert entry["dead_fraction"] == pytest.approx(np.mean(~(h > 0).any(axis=0)), abs=0)
