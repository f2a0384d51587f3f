"""`mlptrain eval`: the numbers equal what training reported for the same checkpoint and split,
the tables and JSON, the result file, another dataset, and every bad input (exit 2, no
traceback)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tools_helpers import (
    BAD_CHECKPOINT_MESSAGES,
    assert_clean_error,
    assert_ok,
    bad_checkpoints,
    best_checkpoint,
    empty_run_dir,
    fixture_sine_run,  # noqa: F401 (the sine_run fixture)
    fixture_spiral_run,  # noqa: F401 (the spiral_run fixture)
    metrics_rows,
    run,
    stdout_json,
    summary,
)


def test_eval_test_split_equals_the_runs_summary(spiral_run):
    result = run("eval", spiral_run, "--json")
    assert_ok(result)
    assert stdout_json(result)["metrics"] == summary(spiral_run)["test"]


def test_eval_val_split_equals_the_metrics_row_of_the_best_epoch(spiral_run):
    best_epoch = summary(spiral_run)["best_epoch"]
    row = next(r for r in metrics_rows(spiral_run) if r["epoch"] == str(best_epoch))
    result = run("eval", spiral_run, "--split", "val", "--json")
    assert_ok(result)
    metrics = stdout_json(result)["metrics"]
    assert metrics["loss"] == float(row["val_loss"])
    assert metrics["accuracy"] == float(row["val_accuracy"])


def test_eval_prints_metrics_per_class_and_confusion_tables(spiral_run):
    out = assert_ok(run("eval", spiral_run))
    for fragment in ("loss", "accuracy", "precision", "recall", "F1", "confusion matrix",
                     "actual 2", "written:"):
        assert fragment in out


def test_eval_json_is_one_object_with_a_consistent_confusion_matrix(spiral_run):
    data = stdout_json(run("eval", spiral_run, "--json"))
    matrix = np.array(data["confusion_matrix"])
    assert matrix.shape == (3, 3)
    assert matrix.sum() == data["n_samples"]
    assert np.trace(matrix) / matrix.sum() == pytest.approx(data["metrics"]["accuracy"])
    assert [r["support"] for r in data["per_class"]] == matrix.sum(axis=1).tolist()


def test_eval_writes_its_result_next_to_the_checkpoint(spiral_run):
    result = run("eval", spiral_run, "--split", "train", "--json")
    written = spiral_run / "checkpoints" / "best.eval-train.json"
    assert written.exists()
    assert json.loads(written.read_text())["metrics"] == stdout_json(result)["metrics"]


def test_eval_of_the_last_checkpoint_file(spiral_run):
    last = spiral_run / "checkpoints" / "last.safetensors"
    data = stdout_json(run("eval", last, "--json"))
    assert data["checkpoint"] == str(last)
    assert (spiral_run / "checkpoints" / "last.eval-test.json").exists()


def test_eval_regression_reports_mse_mae_r2(sine_run):
    out = assert_ok(run("eval", sine_run))
    for name in ("mse", "mae", "r2"):
        assert name in out
    assert "confusion" not in out
    data = stdout_json(run("eval", sine_run, "--json"))
    assert data["metrics"] == summary(sine_run)["test"]


def test_eval_on_another_file_uses_the_saved_preprocessing(spiral_run, tmp_path):
    from mlptrain.data import make_synthetic
    from mlptrain.data.synthetic import SyntheticSpec

    X, y = make_synthetic("spiral", SyntheticSpec(n_samples=90), np.random.default_rng(5))
    path = tmp_path / "other.csv"
    rows = "\n".join(f"{a},{b},{c}" for (a, b), c in zip(X.tolist(), y.tolist(), strict=True))
    path.write_text("x0,x1,label\n" + rows + "\n")
    data = stdout_json(run("eval", spiral_run, "--data", path, "--json"))
    assert data["n_samples"] == 90
    assert data["split"] == "other"
    assert 0.0 <= data["metrics"]["accuracy"] <= 1.0


def test_eval_with_a_data_override_changes_the_dataset(spiral_run):
    base = stdout_json(run("eval", spiral_run, "--json"))
    noisy = stdout_json(run("eval", spiral_run, "data.noise=0.9", "--json"))
    assert noisy["metrics"] != base["metrics"]


def test_eval_refuses_a_model_override(spiral_run):
    assert_clean_error(run("eval", spiral_run, "model.hidden=[4]"),
                       "only data.* keys can be overridden")


def test_eval_unknown_split_is_a_clean_error(spiral_run):
    assert_clean_error(run("eval", spiral_run, "--split", "validation"),
                       "unknown split 'validation'", "test, val, train")


@pytest.mark.parametrize("kind", sorted(BAD_CHECKPOINT_MESSAGES))
def test_eval_bad_checkpoint_is_a_clean_error(spiral_run, tmp_path, kind):
    path = bad_checkpoints(tmp_path, best_checkpoint(spiral_run))[kind]
    assert_clean_error(run("eval", path), BAD_CHECKPOINT_MESSAGES[kind], str(path.name))


def test_eval_run_dir_without_checkpoint_is_a_clean_error(tmp_path):
    assert_clean_error(run("eval", empty_run_dir(tmp_path)), "holds no best checkpoint")


def test_eval_help_has_an_example():
    out = assert_ok(run("eval", "--help"))
    assert "Examples:" in out and "mlptrain eval runs/" in out
