"""The decision threshold of binary classifiers: data.decision_threshold in the config, used by
eval and predict, overridden by their --threshold, and reported by eval."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from tools_helpers import (
    assert_clean_error,
    assert_ok,
    run,
    stdout_json,
    train_run,
)

POINTS = "a,b\n" + "\n".join(f"{a:.3f},{b:.3f}" for a, b in
                             np.random.default_rng(3).normal(size=(40, 2)).tolist()) + "\n"


def _predict(run_dir, source, *args) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(assert_ok(run("predict", run_dir, source, "--proba",
                                                         *args)))))


@pytest.mark.parametrize("threshold", [0.2, 0.5, 0.8])
def test_predict_threshold_picks_the_second_class_at_or_above_it(binary_run, tmp_path, threshold):
    source = tmp_path / "in.csv"
    source.write_text(POINTS)
    table = _predict(binary_run, source, "--threshold", str(threshold))
    expected = ["stay" if float(r["p_stay"]) >= threshold else "churn" for r in table]
    assert [r["prediction"] for r in table] == expected
    assert len(set(expected)) == 2  # the points fall on both sides: the threshold decides


def test_predict_threshold_moves_predictions_between_the_classes(binary_run, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text(POINTS)
    low = [r["prediction"] for r in _predict(binary_run, source, "--threshold", "0.2")]
    high = [r["prediction"] for r in _predict(binary_run, source, "--threshold", "0.8")]
    assert low.count("stay") > high.count("stay")


def test_the_configured_threshold_is_used_by_predict_and_eval(tmp_path):
    path = tmp_path / "points.csv"
    X = np.random.default_rng(0).normal(size=(200, 2))
    labels = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    path.write_text("a,b,label\n" + "".join(f"{a:.5f},{b:.5f},{c}\n" for (a, b), c in
                                            zip(X.tolist(), labels, strict=True)))
    run_dir = train_run(tmp_path, data={"source": "csv", "path": str(path),
                                        "decision_threshold": 0.9},
                        model={"hidden": []}, optimizer={"lr": 0.1}, train={"epochs": 3})
    source = tmp_path / "in.csv"
    source.write_text(POINTS)
    table = _predict(run_dir, source)
    assert [r["prediction"] for r in table] == [
        "yes" if float(r["p_yes"]) >= 0.9 else "no" for r in table]
    result = stdout_json(run("eval", run_dir, "--json"))
    assert result["threshold"] == 0.9 and result["metrics"]["threshold"] == 0.9
    matrix = np.array(result["confusion_matrix"])
    assert result["metrics"]["accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())
    other = stdout_json(run("eval", run_dir, "--json", "--threshold", "0.1"))
    assert other["metrics"]["threshold"] == 0.1
    assert other["confusion_matrix"] != result["confusion_matrix"]


def test_eval_table_shows_the_threshold(binary_run):
    output = assert_ok(run("eval", binary_run, "--threshold", "0.25"))
    assert "threshold" in output and "0.25" in output


@pytest.mark.parametrize("command", ["predict", "eval"])
def test_a_threshold_outside_0_1_is_refused(binary_run, tmp_path, command):
    source = tmp_path / "in.csv"
    source.write_text(POINTS)
    args = [source] if command == "predict" else []
    assert_clean_error(run(command, binary_run, *args, "--threshold", "1.5"),
                       "the decision threshold must be in [0, 1], got 1.5")


def test_the_config_refuses_a_threshold_outside_0_1(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("data: {source: xor, decision_threshold: -0.1}\n")
    assert_clean_error(run("train", config, "--out", tmp_path), "data.decision_threshold")


def test_metrics_csv_holds_the_binary_headline_metrics_every_epoch(binary_run):
    from tools_helpers import metrics_rows

    from mlptrain.evaluation import evaluate_checkpoint

    rows = metrics_rows(binary_run)
    for column in ("val_loss", "val_accuracy", "val_balanced_accuracy", "val_f1_macro",
                   "val_roc_auc", "val_average_precision"):
        assert all(row[column] != "" for row in rows), column
    last = evaluate_checkpoint(binary_run / "checkpoints" / "last.safetensors", split="val",
                               write=False)
    for name in ("loss", "balanced_accuracy", "roc_auc", "average_precision"):
        assert float(rows[-1][f"val_{name}"]) == pytest.approx(last["metrics"][name], rel=1e-6)
