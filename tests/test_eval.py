"""`mlptrain eval`: the numbers equal what training reported for the same checkpoint and split,
the tables and JSON, the result file, another dataset, and every bad input (exit 2, no
traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tools_helpers import (
    BAD_CHECKPOINT_MESSAGES,
    assert_clean_error,
    assert_ok,
    bad_checkpoints,
    best_checkpoint,
    empty_run_dir,
    metrics_rows,
    run,
    stdout_json,
    summary,
)


def _independent_outputs(run_dir: Path, split: str):
    """The best checkpoint's outputs on a split, by a forward pass written here in NumPy from
    its parameter arrays (one hidden layer), and the split's targets in their own units."""
    from mlptrain.evaluation import load_model, load_split

    model = load_model(run_dir, dtype="float64")
    X, y, _ = load_split(model, model.cfg, split)
    assert model.net.layer_sizes[1:-1] == [16] and not model.cfg.model.batchnorm
    act = {"relu": lambda z: np.maximum(z, 0.0), "tanh": np.tanh}[model.cfg.model.activation]
    p = model.net.parameters()
    h = act(model.preprocessor.transform(X, dtype=np.float64) @ p["layers.0.weight"]
            + p["layers.0.bias"])  # (n, 16)
    logits = h @ p["layers.1.weight"] + p["layers.1.bias"]  # (n, n_out)
    return logits, y


def test_eval_test_split_equals_an_independent_computation_and_the_runs_summary(spiral_run):
    result = run("eval", spiral_run, "--json")
    assert_ok(result)
    metrics = stdout_json(result)["metrics"]
    logits, y = _independent_outputs(spiral_run, "test")
    actual = y if y.ndim == 1 else np.argmax(y, axis=1)  # (n,)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # log softmax
    predicted = np.argmax(logits, axis=1)
    recalls, f1s = [], []
    for c in range(3):
        tp = np.sum((predicted == c) & (actual == c))
        precision = tp / max(np.sum(predicted == c), 1)
        recall = tp / max(np.sum(actual == c), 1)
        recalls.append(recall)
        f1s.append(2 * precision * recall / (precision + recall) if tp else 0.0)
    assert metrics["loss"] == pytest.approx(-np.mean(log_p[np.arange(len(actual)), actual]),
                                            rel=1e-5)
    assert metrics["accuracy"] == pytest.approx(np.mean(predicted == actual))
    assert metrics["balanced_accuracy"] == pytest.approx(np.mean(recalls))
    assert metrics["f1_macro"] == pytest.approx(np.mean(f1s))
    assert metrics == summary(spiral_run)["test"]  # what training reported for that checkpoint


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


def test_eval_of_a_binary_sigmoid_model_is_a_two_class_classification(binary_run):
    from mlptrain.evaluation import load_model, load_split

    data = stdout_json(run("eval", binary_run, "--json"))
    assert data["task"] == "classification" and data["class_names"] == ["churn", "stay"]
    model = load_model(binary_run)
    X, y, _ = load_split(model, model.cfg, "test")
    p = model.net.output(model.net.forward(model.preprocessor.transform(X)))[:, 0]  # P(stay)
    actual, predicted = y[:, 0].astype(int), (p >= 0.5).astype(int)
    expected = [[int(np.sum((actual == a) & (predicted == b))) for b in (0, 1)] for a in (0, 1)]
    assert data["confusion_matrix"] == expected
    assert data["metrics"]["accuracy"] == pytest.approx(np.mean(actual == predicted))
    tp, fp, fn = expected[1][1], expected[0][1], expected[1][0]
    stay = data["per_class"][1]
    assert stay["class"] == "stay" and stay["precision"] == pytest.approx(tp / (tp + fp))
    assert stay["recall"] == pytest.approx(tp / (tp + fn))
    out = assert_ok(run("eval", binary_run))
    assert "actual churn" in out and "actual stay" in out and "precision" in out


def test_a_binary_checkpoint_saved_as_one_unit_multilabel_reads_as_classification():
    from mlptrain.data import Preprocessor

    old = Preprocessor.fit(np.zeros((3, 2)), "none", task="multilabel", n_outputs=1,
                           class_names=["churn", "stay"]).state_dict()
    restored = Preprocessor.from_state_dict(old)
    assert (restored.task, restored.n_outputs) == ("classification", 2)
    several = Preprocessor.fit(np.zeros((3, 2)), "none", task="multilabel", n_outputs=3)
    assert Preprocessor.from_state_dict(several.state_dict()).task == "multilabel"


def test_a_two_class_sigmoid_mse_run_trains_and_evaluates(tmp_path):
    from tools_helpers import train_run

    run_dir = train_run(tmp_path, data={"source": "xor"}, model={"output": "sigmoid"},
                        loss={"kind": "mse"})
    data = stdout_json(run("eval", run_dir, "--json"))
    assert data["task"] == "classification" and np.array(data["confusion_matrix"]).shape == (2, 2)
    data_info = summary(run_dir)["data"]
    counts = data_info["class_counts"]["train"]  # counted from the (n, 1) 0/1 targets
    assert set(counts) == {"0", "1"} and sum(counts.values()) == data_info["sizes"]["train"]


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
    metrics = stdout_json(run("eval", sine_run, "--json"))["metrics"]
    outputs, y = _independent_outputs(sine_run, "test")  # identity output
    from mlptrain.evaluation import load_model

    outputs = load_model(sine_run, dtype="float64").preprocessor.inverse_targets(outputs)
    error = outputs[:, 0] - y.reshape(-1)  # (n,) in the targets' units
    target = y.reshape(-1)
    assert metrics["mse"] == pytest.approx(np.mean(error**2), rel=1e-5)
    assert metrics["mae"] == pytest.approx(np.mean(np.abs(error)), rel=1e-5)
    r2 = 1 - np.sum(error**2) / np.sum((target - target.mean()) ** 2)
    assert metrics["r2"] == pytest.approx(r2, rel=1e-5, abs=1e-6)
    assert metrics == summary(sine_run)["test"]  # what training reported for that checkpoint


def test_eval_on_another_file_uses_the_saved_preprocessing(spiral_run, tmp_path):
    from mlptrain.data import make_synthetic
    from mlptrain.data.synthetic import SyntheticSpec

    X, y = make_synthetic("spiral", SyntheticSpec(n_samples=90), np.random.default_rng(5))
    path = tmp_path / "other.csv"
    rows = "\n".join(f"{a},{b},{c}" for (a, b), c in zip(X.tolist(), y.tolist(), strict=True))
    path.write_text("x0,x1,label\n" + rows + "\n")
    data = stdout_json(run("eval", spiral_run, "--data", path, "--json"))
    assert data["n_samples"] == 90
    assert data["split"] == "all" and data["data"]["file"] == str(path)
    assert 0.0 <= data["metrics"]["accuracy"] <= 1.0
    assert_clean_error(run("eval", spiral_run, "--data", path, "--split", "val"),
                       "a --data file is evaluated whole")


@pytest.fixture(scope="module", name="idx_run")
def fixture_idx_run(tmp_path_factory):
    """A run trained on a folder of tiny IDX files (30 train, 12 t10k images of 4x4)."""
    from data_helpers import write_tiny_set
    from tools_helpers import train_run

    root = tmp_path_factory.mktemp("idx")
    folder = write_tiny_set(root / "tiny", gz=False)
    run_dir = train_run(root / "runs", data={"source": "idx", "path": str(folder),
                                             "val_fraction": 0.0})
    return run_dir, folder


def test_eval_data_takes_an_idx_images_file_with_its_labels(idx_run):
    run_dir, folder = idx_run
    own = stdout_json(run("eval", run_dir, "--json"))  # the test split: the t10k files
    images = folder / "t10k-images-idx3-ubyte"
    other = stdout_json(run("eval", run_dir, "--data", images, "--json"))
    assert other["n_samples"] == own["n_samples"] == 12
    assert other["metrics"] == own["metrics"]
    assert other["confusion_matrix"] == own["confusion_matrix"]


def test_eval_data_takes_a_folder_of_idx_files_and_split_picks_its_part(idx_run):
    run_dir, folder = idx_run
    test = stdout_json(run("eval", run_dir, "--data", folder, "--json"))
    assert test["n_samples"] == 12 and test["split"] == "test"
    assert test["metrics"] == stdout_json(run("eval", run_dir, "--json"))["metrics"]
    train = stdout_json(run("eval", run_dir, "--data", folder, "--split", "train", "--json"))
    assert train["n_samples"] == 30


def test_eval_with_a_data_override_changes_the_dataset(spiral_run):
    base = stdout_json(run("eval", spiral_run, "--json"))
    noisy = stdout_json(run("eval", spiral_run, "data.noise=0.9", "--json"))
    assert noisy["metrics"] != base["metrics"]


def test_eval_on_other_data_writes_its_own_file_that_records_the_data(spiral_run, tmp_path):
    checkpoints = spiral_run / "checkpoints"
    canonical = checkpoints / "best.eval-test.json"
    base = stdout_json(run("eval", spiral_run, "--json"))
    before = canonical.read_bytes()
    noisy = run("eval", spiral_run, "data.noise=0.6", "--json")
    written = Path(stdout_json(noisy)["written"])
    assert canonical.read_bytes() == before  # the run's own result is untouched
    assert written.parent == checkpoints and written != canonical
    assert written.name.startswith("best.eval-test-")
    saved = json.loads(written.read_text())
    assert saved["data"] == {"own": False, "file": None, "overrides": ["data.noise=0.6"],
                             "changes": {"data.noise": 0.6}}
    assert saved["metrics"] != base["metrics"]
    assert "on other data: data.noise=0.6" in assert_ok(run("eval", spiral_run, "data.noise=0.6"))
    # a file named test.csv is other data too, never best.eval-test.json
    path = tmp_path / "test.csv"
    path.write_text("x0,x1,label\n0.1,0.2,0\n0.3,-0.4,1\n")
    other = stdout_json(run("eval", spiral_run, "--data", path, "--json"))
    assert Path(other["written"]).name.startswith("best.eval-test.csv-")
    assert canonical.read_bytes() == before
    assert json.loads(canonical.read_text())["data"]["own"] is True


def test_eval_with_an_override_equal_to_the_saved_value_is_the_runs_own_data(spiral_run):
    own = stdout_json(run("eval", spiral_run, "data.noise=0.2", "--json"))  # spiral default
    assert own["data"]["own"] and own["written"].endswith("best.eval-test.json")


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
