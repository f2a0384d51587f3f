"""The classification report of `mlptrain eval` equals scikit-learn's (classification_report,
roc_auc_score, average_precision_score, log_loss, balanced_accuracy_score, confusion_matrix)
to 1e-9 on the same predictions, for a three-class softmax, a two-class softmax and a single
sigmoid unit; and regression reports every target in original units."""

from __future__ import annotations

import numpy as np
import pytest
from tools_helpers import assert_ok, run, stdout_json, train_run

sk_metrics = pytest.importorskip("sklearn.metrics")
pytestmark = pytest.mark.filterwarnings("ignore:The y_prob values do not sum to one")

TOL = 1e-9


def _probabilities(run_dir):
    """(class ids (n,), class probabilities (n, k)) of the run's test split, computed from the
    best checkpoint through the library, independently of `eval`."""
    from mlptrain.evaluation import load_model, load_split
    from mlptrain.metrics import class_ids, class_probabilities, predict_outputs

    model = load_model(run_dir)
    X, y, _ = load_split(model, model.cfg, "test")
    _, outputs = predict_outputs(model.net, model.preprocessor, X, model.net.dtype)
    return class_ids(y), class_probabilities(outputs).astype(np.float64)


def _assert_matches_sklearn(result, actual, probs, threshold=0.5):
    k = probs.shape[1]
    labels = list(range(k))
    if k == 2:
        predicted = (probs[:, 1] >= threshold).astype(np.int64)
    else:
        predicted = np.argmax(probs, axis=1)
    names = result["class_names"]
    expected = sk_metrics.classification_report(actual, predicted, labels=labels,
                                                target_names=names, output_dict=True,
                                                zero_division=0)
    for row in result["per_class"]:
        ref = expected[row["class"]]
        for key in ("precision", "recall"):
            assert row[key] == pytest.approx(ref[key], abs=TOL), (row["class"], key)
        assert row["f1"] == pytest.approx(ref["f1-score"], abs=TOL)
        assert row["support"] == ref["support"]
    for kind in ("macro", "weighted"):
        ref = expected[f"{kind} avg"]
        got = result["averages"][kind]
        assert got["precision"] == pytest.approx(ref["precision"], abs=TOL)
        assert got["recall"] == pytest.approx(ref["recall"], abs=TOL)
        assert got["f1"] == pytest.approx(ref["f1-score"], abs=TOL)
        assert got["support"] == ref["support"]
    assert result["accuracy"] == pytest.approx(sk_metrics.accuracy_score(actual, predicted),
                                               abs=TOL)
    assert result["balanced_accuracy"] == pytest.approx(
        sk_metrics.balanced_accuracy_score(actual, predicted), abs=TOL)
    assert result["log_loss"] == pytest.approx(
        sk_metrics.log_loss(actual, probs, labels=labels), abs=TOL)
    assert result["confusion_matrix"] == sk_metrics.confusion_matrix(
        actual, predicted, labels=labels).tolist()
    if k == 2:
        assert result["roc_auc"] == pytest.approx(
            sk_metrics.roc_auc_score(actual, probs[:, 1]), abs=TOL)
        assert result["average_precision"] == pytest.approx(
            sk_metrics.average_precision_score(actual, probs[:, 1]), abs=TOL)
        assert result["threshold"] == threshold
    else:
        assert "roc_auc" not in result


@pytest.fixture(scope="module")
def moons_sigmoid(tmp_path_factory):
    """A binary run with one sigmoid unit (binary cross-entropy), few epochs so that it errs."""
    return train_run(tmp_path_factory.mktemp("moons-sigmoid"),
                     data={"source": "moons", "n_samples": 400, "noise": 0.35},
                     loss={"kind": "binary_cross_entropy"}, train={"epochs": 3})


def test_three_class_report_matches_scikit_learn(tmp_path):
    run_dir = train_run(tmp_path, data={"source": "spiral", "n_samples": 300},
                        train={"epochs": 3})
    result = run("eval", run_dir, "--json")
    assert_ok(result)
    report = stdout_json(result)
    actual, probs = _probabilities(run_dir)
    assert probs.shape[1] == 3 and 0 < report["accuracy"] < 1  # some errors to compare
    _assert_matches_sklearn(report, actual, probs)


def test_two_class_softmax_report_matches_scikit_learn(tmp_path):
    run_dir = train_run(tmp_path, data={"source": "moons", "n_samples": 400, "noise": 0.35},
                        train={"epochs": 3})
    result = run("eval", run_dir, "--json")
    assert_ok(result)
    report = stdout_json(result)
    actual, probs = _probabilities(run_dir)
    assert probs.shape[1] == 2 and 0 < report["accuracy"] < 1
    _assert_matches_sklearn(report, actual, probs)


def test_single_sigmoid_report_matches_scikit_learn(moons_sigmoid):
    result = run("eval", moons_sigmoid, "--json")
    assert_ok(result)
    report = stdout_json(result)
    actual, probs = _probabilities(moons_sigmoid)
    assert 0 < report["accuracy"] < 1
    _assert_matches_sklearn(report, actual, probs)


def test_single_sigmoid_report_at_another_threshold_matches_scikit_learn(moons_sigmoid):
    from mlptrain.evaluation import evaluate_checkpoint

    report = evaluate_checkpoint(moons_sigmoid, threshold=0.3, write=False)
    actual, probs = _probabilities(moons_sigmoid)
    at_half = evaluate_checkpoint(moons_sigmoid, write=False)
    assert report["confusion_matrix"] != at_half["confusion_matrix"]  # the threshold matters
    assert report["roc_auc"] == at_half["roc_auc"]  # the ranking does not depend on it
    _assert_matches_sklearn(report, actual, probs, threshold=0.3)
