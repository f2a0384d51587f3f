"""Regression target scaling (data.target_scale): statistics by hand, the loss on scaled
targets, every metric and prediction in the targets' own units, saved in the checkpoint,
old checkpoints read as unscaled, exact resume, and the sigmoid-output guard."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from tools_helpers import assert_clean_error, assert_ok, run, stdout_json

from mlptrain.config import validate_config
from mlptrain.data.preprocessing import Preprocessor
from mlptrain.data.target_scaling import ScaledTargetLoss, TargetScaling
from mlptrain.experiment import resume_run, start_run
from mlptrain.nn.losses import get_loss

Y = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 40.0]])


def test_standard_statistics_by_hand():
    # column 0: mean 3, deviations (-2, 0, 2), variance 8/3 -> std sqrt(8/3)
    # column 1: mean 20, deviations (-10, -10, 20), variance 600/3 = 200 -> std sqrt(200)
    s = TargetScaling.fit(Y, "standard")
    assert s.offset.tolist() == [3.0, 20.0]
    assert s.divisor == pytest.approx([math.sqrt(8 / 3), math.sqrt(200)], rel=1e-15)
    # scaled row 0: (1 - 3) / sqrt(8/3), (10 - 20) / sqrt(200)
    assert s.transform(Y)[0] == pytest.approx([-2 / math.sqrt(8 / 3), -10 / math.sqrt(200)],
                                              rel=1e-15)


def test_minmax_statistics_by_hand_and_a_constant_target_is_only_shifted():
    # column 0: min 1, range 5 - 1 = 4; column 1: min 10, range 30 -> row 1 = (0.5, 0)
    s = TargetScaling.fit(Y, "minmax")
    assert s.offset.tolist() == [1.0, 10.0] and s.divisor.tolist() == [4.0, 30.0]
    assert s.transform(Y)[1].tolist() == [0.5, 0.0]
    constant = TargetScaling.fit(np.array([[7.0], [7.0]]), "standard")
    assert constant.offset.tolist() == [7.0] and constant.divisor.tolist() == [1.0]


def test_inverse_undoes_transform_and_none_is_the_identity():
    s = TargetScaling.fit(Y, "standard")
    np.testing.assert_allclose(s.inverse(s.transform(Y)), Y, rtol=1e-14)
    none = TargetScaling.fit(Y, "none")
    assert none.identity and none.inverse(Y) is Y
    assert none.transform(Y).tolist() == Y.tolist()


def test_bad_statistics_are_refused():
    with pytest.raises(ValueError, match="one of standard, minmax, none"):
        TargetScaling("log", [0.0], [1.0])
    with pytest.raises(ValueError, match="> 0"):
        TargetScaling("standard", [0.0], [0.0])
    with pytest.raises(ValueError, match="differ"):
        TargetScaling("standard", [0.0, 1.0], [1.0])


def test_scaled_loss_is_the_loss_of_the_scaled_targets_by_hand():
    # targets (1, 3, 5): mean 3, std sqrt(8/3); scaled (-sqrt(3/2), 0, sqrt(3/2)).
    # MSE of zero logits = mean of the squared scaled targets = (3/2 + 0 + 3/2) / 3 = 1
    y = np.array([[1.0], [3.0], [5.0]])
    loss = ScaledTargetLoss(get_loss("mse", output="identity"), TargetScaling.fit(y, "standard"))
    value, grad = loss.value_and_grad(np.zeros((3, 1)), y)
    assert value == pytest.approx(1.0, rel=1e-15)
    assert loss.value(np.zeros((3, 1)), y) == value
    # dL/dz = 2 (z - t') / 3 = (2 sqrt(3/2) / 3, 0, -2 sqrt(3/2) / 3)
    s = math.sqrt(1.5)
    assert grad[:, 0] == pytest.approx([2 * s / 3, 0.0, -2 * s / 3], rel=1e-15)
    assert loss.name == "mse"  # everything else is the wrapped loss's


def test_preprocessor_state_round_trips_the_target_scaling():
    scaling = TargetScaling.fit(Y, "minmax")
    pre = Preprocessor.fit(np.ones((3, 2)), "standard", task="regression", n_outputs=2,
                           target_scaling=scaling)
    state = pre.state_dict()
    assert state["version"] == 3 and state["target_scale"] == "minmax"
    back = Preprocessor.from_state_dict(state)
    assert back.target_scale == "minmax"
    assert back.target_scaling.offset.tolist() == [1.0, 10.0]
    assert back.inverse_targets(np.array([[0.5, 1.0]])).tolist() == [[3.0, 40.0]]


def test_a_version_1_preprocessor_state_reads_as_unscaled_targets():
    state = Preprocessor.fit(np.ones((3, 2)), "standard", task="regression").state_dict()
    del state["target_scale"], state["categorical"]
    state["version"] = 1
    old = Preprocessor.from_state_dict(state)
    assert old.target_scaling is None and old.target_scale == "none"
    outputs = np.array([[1.5]])
    assert old.inverse_targets(outputs) is outputs
    state["target_scale"] = "standard"  # a key version 1 never had
    with pytest.raises(Exception, match="unknown \\['target_scale'\\]"):
        Preprocessor.from_state_dict(state)


# ---- through training, eval and predict ---------------------------------------------------


def _write_csv(path: Path, n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """y = 3000 + 800 x0 - 500 x1 + noise: targets far from unit scale."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    y = 3000 + 800 * X[:, 0] - 500 * X[:, 1] + rng.normal(0, 20, n)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["a", "b", "price"])
        writer.writerows(np.column_stack([X, y]).round(4).tolist())
    return X, y


def _config(tmp_path: Path, target_scale: str, **train) -> dict:
    train_csv, test_csv = tmp_path / "train.csv", tmp_path / "test.csv"
    if not train_csv.exists():
        _write_csv(train_csv, 400, seed=0)
        _write_csv(test_csv, 100, seed=1)
    return {"name": f"ts-{target_scale}", "seed": 0,
            "data": {"source": "csv", "path": str(train_csv), "test_path": str(test_csv),
                     "target": "price", "target_scale": target_scale},
            "model": {"hidden": [16]}, "optimizer": {"kind": "adam", "lr": 0.01},
            "train": {"epochs": 8, "batch_size": 32, **train},
            "run": {"root": str(tmp_path / "runs")}}


@pytest.fixture(scope="module")
def scaled_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("target-scale")
    return start_run(validate_config(_config(tmp, "standard"))).run_dir, tmp


def test_val_loss_is_in_scaled_units_and_val_mse_in_the_targets_units(scaled_run):
    run_dir, _ = scaled_run
    from mlptrain.evaluation import load_model

    std = load_model(run_dir).preprocessor.target_scaling.divisor[0]
    assert std > 500  # the targets' own scale
    with open(run_dir / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:  # MSE loss on t' = (t - mean) / std: val_loss = val_mse / std^2
        assert float(row["val_loss"]) == pytest.approx(float(row["val_mse"]) / std**2, rel=1e-4)


def test_eval_and_predict_are_in_the_targets_units(scaled_run):
    run_dir, tmp = scaled_run
    result = run("eval", run_dir, "--json")
    assert_ok(result)
    report = stdout_json(result)
    out = tmp / "pred.csv"
    assert_ok(run("predict", run_dir, tmp / "test.csv", "--out", out))
    with out.open(newline="") as handle:
        predicted = np.array([float(r["price"]) for r in csv.DictReader(handle)])
    with (tmp / "test.csv").open(newline="") as handle:
        actual = np.array([float(r["price"]) for r in csv.DictReader(handle)])
    error = predicted - actual
    mse = float(np.mean(error**2))
    r2 = 1 - np.sum(error**2) / np.sum((actual - actual.mean()) ** 2)
    assert report["metrics"]["mse"] == pytest.approx(mse, rel=1e-5)
    assert report["metrics"]["mae"] == pytest.approx(float(np.mean(np.abs(error))), rel=1e-5)
    assert report["metrics"]["r2"] == pytest.approx(r2, abs=1e-6)
    assert report["per_target"] == [pytest.approx(
        {"target": "price", "mse": report["metrics"]["mse"], "mae": report["metrics"]["mae"],
         "r2": report["metrics"]["r2"]})]
    assert r2 > 0.9 and abs(predicted.mean() - 3000) < 300  # learnt, in dollars


def test_summary_test_metrics_equal_eval(scaled_run):
    import json

    run_dir, _ = scaled_run
    summary = json.loads((run_dir / "summary.json").read_text())
    report = stdout_json(run("eval", run_dir, "--json"))
    assert summary["test"] == report["metrics"]


def test_target_scaling_trains_far_better_than_raw_targets_in_the_same_budget(tmp_path,
                                                                              scaled_run):
    import json

    raw = start_run(validate_config(_config(tmp_path, "none"))).run_dir
    scaled = json.loads((scaled_run[0] / "summary.json").read_text())["test"]
    unscaled = json.loads((raw / "summary.json").read_text())["test"]
    assert scaled["r2"] > 0.9 > unscaled["r2"]
    # without scaling the loss is the MSE in the targets' units
    assert unscaled["loss"] == pytest.approx(unscaled["mse"], rel=1e-5)


def test_resume_with_target_scaling_is_exact(tmp_path):
    from test_training import assert_same_tensors, metrics_rows, tensors

    full = start_run(validate_config({**_config(tmp_path, "standard"), "name": "full"}))
    part = start_run(validate_config({**_config(tmp_path, "standard", epochs=3), "name": "part"}))
    resume_run(part.run_dir, overrides=["train.epochs=8"])
    assert_same_tensors(tensors(full.run_dir / "checkpoints/last.safetensors"),
                        tensors(part.run_dir / "checkpoints/last.safetensors"))
    assert metrics_rows(full.run_dir) == metrics_rows(part.run_dir)


def test_standard_target_scaling_with_a_sigmoid_output_is_a_clean_error(tmp_path):
    import yaml

    cfg = _config(tmp_path, "standard")
    cfg["model"]["output"] = "sigmoid"
    cfg["loss"] = "mse"
    path = tmp_path / "sigmoid.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = run("train", path)
    assert_clean_error(result, "data.target_scale: standard", "sigmoid", "minmax")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
