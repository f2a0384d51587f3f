"""Metrics edge cases worked out by hand (thresholds met exactly, ties, clipping, batching,
evaluation of a hand-set network): written to kill mutmut's mutants of mlptrain/metrics.py that
tests/test_metrics_report.py leaves alive (see the README's contributing section)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlptrain import metrics as m
from mlptrain.data import Preprocessor
from mlptrain.nn import MLP, get_loss


def test_batches_cover_the_range_in_order_with_a_short_last_slice():
    assert list(m.batches(5, 2)) == [slice(0, 2), slice(2, 4), slice(4, 5)]
    assert list(m.batches(4, 2)) == [slice(0, 2), slice(2, 4)]
    assert list(m.batches(0, 3)) == []
    assert list(m.batches(3)) == [slice(0, 3)]


def _hand_set_net() -> MLP:
    """logits = [x0 - x1, x1 - x0] (softmax): class 0 when x0 > x1."""
    net = MLP([2, 2], output="softmax", dtype="float64")
    net.parameters()["layers.0.weight"][:] = [[1.0, -1.0], [-1.0, 1.0]]
    net.parameters()["layers.0.bias"][:] = 0.0
    return net


def test_evaluate_walks_the_split_in_batches_and_reports_loss_and_quality():
    five = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0], [0.0, 0.5], [1.0, 1.5]])
    copies = m.EVAL_BATCH // 5 + 1  # more rows than one evaluation batch
    X = np.tile(five, (copies, 1))
    y = np.tile([0, 1, 1, 1, 0], copies)  # predictions 0 1 0 1 1: three of five right
    pre = Preprocessor.fit(X, "none", task="classification", n_outputs=2)
    net = _hand_set_net()
    logits, outputs = m.predict_outputs(net, pre, X, np.float64)
    d = X[:, 0] - X[:, 1]
    np.testing.assert_allclose(logits, np.stack([d, -d], axis=1))
    np.testing.assert_allclose(outputs[:, 0], 1 / (1 + np.exp(-2 * d)))
    result = m.evaluate(net, get_loss("cross_entropy"), pre, X, y, "classification")
    p_true = 1 / (1 + np.exp(-2 * np.where(y == 0, d, -d)))
    assert result["loss"] == pytest.approx(-np.mean(np.log(p_true)), rel=1e-12)
    assert result["accuracy"] == pytest.approx(3 / 5)
    # recall: class 0 1/2, class 1 2/3
    assert result["balanced_accuracy"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert set(result) == {"loss", "accuracy", "balanced_accuracy", "f1_macro", "roc_auc",
                           "average_precision"}


def test_quality_names_per_task():
    assert m.quality_names("regression") == ["mse", "mae", "r2"]
    assert m.quality_names("multilabel", binary=True) == ["accuracy"]
    assert m.quality_names("classification") == ["accuracy", "balanced_accuracy", "f1_macro"]
    assert m.metric_names("regression", True) == ["train_loss", "val_loss", "val_mse", "val_mae",
                                                  "val_r2"]
    assert m.metric_names("classification", False, binary=True) == ["train_loss", "train_accuracy"]


def test_multilabel_threshold_and_target_cut_are_inclusive_at_one_half():
    q = m.quality_metrics(np.array([[0.5, 0.49]]), np.array([[0.5, 0.0]]), "multilabel")
    assert q == {"accuracy": 1.0}


def test_two_softmax_outputs_give_the_binary_metrics_and_one_class_only_gives_nan():
    outputs = np.array([[0.2, 0.8], [0.7, 0.3], [0.4, 0.6]])
    q = m.quality_metrics(outputs, np.array([1, 0, 0]), "classification")
    assert q["roc_auc"] == 1.0 and q["average_precision"] == 1.0
    single = m.quality_metrics(outputs, np.array([1, 1, 1]), "classification")
    assert math.isnan(single["roc_auc"]) and single["average_precision"] == 1.0
    assert single["accuracy"] == pytest.approx(2 / 3)


def test_class_probabilities_and_positive_scores_by_hand():
    np.testing.assert_allclose(m.class_probabilities(np.array([[0.25]])), [[0.75, 0.25]])
    three = np.array([[0.2, 0.3, 0.5]])
    assert m.class_probabilities(three) is three
    np.testing.assert_array_equal(m.positive_scores(np.array([[0.1, 0.9]])), [0.9])
    with pytest.raises(ValueError) as info:
        m.positive_scores(three)
    assert str(info.value) == "a binary model has 1 or 2 outputs, got 3"


def test_decide_at_a_threshold_met_exactly_and_for_two_softmax_outputs():
    assert m.decide(np.array([[0.3], [0.29]]), threshold=0.3).tolist() == [1, 0]
    assert m.decide(np.array([[0.6, 0.4], [0.2, 0.8]]), threshold=0.5).tolist() == [0, 1]
    assert m.decide(np.array([[0.6, 0.4]]), threshold=0.4).tolist() == [1]
    assert m.decide(np.array([[0.5]])).tolist() == [1]  # default threshold 0.5, inclusive


def test_log_loss_clips_a_certain_right_answer_to_one_minus_eps():
    eps = np.finfo(np.float64).eps
    assert m.log_loss(np.array([[0.0, 1.0]]), np.array([1])) == pytest.approx(-math.log(1 - eps))
    assert m.log_loss(np.array([[0.5, 0.5], [0.2, 0.8]]), np.array([0, 1])) == pytest.approx(
        -(math.log(0.5) + math.log(0.8)) / 2)


def test_average_ranks_share_ties():
    np.testing.assert_array_equal(m._average_ranks(np.array([3.0, 1.0, 3.0, 2.0, 3.0])),
                                  [4.0, 1.0, 4.0, 2.0, 4.0])
    np.testing.assert_array_equal(m._average_ranks(np.array([0.5, 0.5])), [1.5, 1.5])
    np.testing.assert_array_equal(m._average_ranks(np.array([2.0, 1.0])), [2.0, 1.0])


def test_roc_auc_and_average_precision_with_all_tied_scores():
    positive = np.array([True, False, True, False])
    assert m.roc_auc(positive, np.full(4, 0.3)) == 0.5
    assert m.average_precision(positive, np.full(4, 0.3)) == 0.5  # one threshold: P = 2/4


def test_regression_report_names_fall_back_when_their_number_differs_and_y_may_be_flat():
    rows = m.regression_report(np.array([[1.0], [2.0]]), np.array([1.0, 4.0]), ["a", "b"])
    # error (0, -2): mse 2, mae 1; mean y 2.5, SS_tot 4.5: r2 1 - 4 / 4.5
    assert rows == [pytest.approx({"target": "y0", "mse": 2.0, "mae": 1.0, "r2": 1 - 4 / 4.5})]
    assert m.regression_report(np.array([[1.0], [2.0]]), np.array([1.0, 4.0]),
                               ["price"])[0]["target"] == "price"


def test_classification_summary_counts_every_class_and_records_the_threshold():
    outputs = np.array([[0.3], [0.6], [0.8]])  # threshold 0.7: predictions 0 0 1
    s = m.classification_summary(outputs, np.array([0, 1, 1]), 2, threshold=0.7)
    assert s["threshold"] == 0.7 and s["confusion_matrix"] == [[1, 0], [1, 1]]
    assert s["accuracy"] == pytest.approx(2 / 3)
    assert s["per_class"][1] == {"class": 1, "precision": 1.0, "recall": 0.5,
                                 "f1": pytest.approx(2 / 3), "support": 2}
    assert s["averages"]["weighted"]["support"] == 3
    assert s["log_loss"] == pytest.approx(-(math.log(0.7) + math.log(0.6) + math.log(0.8)) / 3)


def test_log_loss_of_certain_right_answers_is_minus_log_of_one_minus_eps_exactly():
    eps = np.finfo(np.float64).eps
    value = m.log_loss(np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([1, 0]))
    assert value > 0 and value == pytest.approx(-math.log(1 - eps), rel=1e-9, abs=0)


def test_quality_metrics_of_a_single_sample():
    q = m.quality_metrics(np.array([[0.8, 0.2]]), np.array([0]), "classification")
    assert q["accuracy"] == 1.0


def test_predict_outputs_keeps_the_networks_dtype_width_and_eval_mode():
    X = np.random.default_rng(3).normal(size=(7, 2))  # (7, 2)
    net = MLP([2, 3, 2], dropout=0.5, output="softmax", dtype="float32", seed=1)
    pre = Preprocessor.fit(X, "none", task="classification", n_outputs=2)
    logits, outputs = m.predict_outputs(net, pre, X, np.float32)
    assert logits.dtype == np.float32 and logits.shape == (7, 2)
    expected = net.forward(X.astype(np.float32))  # eval mode: no dropout, no rng needed
    np.testing.assert_array_equal(logits, expected)
    y = np.array([0, 1, 1, 0, 1, 0, 0])
    loss = get_loss("cross_entropy")
    result = m.evaluate(net, loss, pre, X, y, "classification")
    assert result["loss"] == loss.value(expected, y)  # computed on the float32 logits


def test_evaluate_regression_in_float64_by_hand():
    X = np.array([[0.1, 0.7], [0.3, -0.2], [1.1, 0.4]])
    y = np.array([[0.5], [0.0], [1.0]])
    net = MLP([2, 3, 1], activation="identity", output="identity", dtype="float64", seed=2)
    pre = Preprocessor.fit(X, "none", task="regression", n_outputs=1)
    p = net.parameters()
    prediction = (X @ p["layers.0.weight"] + p["layers.0.bias"]) @ p["layers.1.weight"] + p[
        "layers.1.bias"]  # (3, 1)
    logits, _ = m.predict_outputs(net, pre, X, np.float64)
    np.testing.assert_allclose(logits, prediction, rtol=1e-15)
    result = m.evaluate(net, get_loss("mse"), pre, X, y, "regression")
    error = prediction - y
    assert set(result) == {"loss", "mse", "mae", "r2"}
    assert result["mse"] == pytest.approx(np.mean(error**2), rel=1e-14)
    assert result["mae"] == pytest.approx(np.mean(np.abs(error)), rel=1e-14)


def test_metric_names_without_the_binary_flag_have_no_binary_metrics():
    assert m.metric_names("classification", True) == [
        "train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_balanced_accuracy",
        "val_f1_macro"]


def test_average_precision_groups_a_tie_below_the_top_score():
    # scores 0.9 (+), 0.5 (+), 0.5 (-), 0.1 (-): thresholds 0.9 -> P 1, R 1/2; 0.5 -> P 2/3, R 1
    positive = np.array([True, True, False, False])
    assert m.average_precision(positive, np.array([0.9, 0.5, 0.5, 0.1])) == pytest.approx(5 / 6)


def test_confusion_matrix_counts_are_integers():
    cm = m.classification_summary(np.array([[0.2], [0.9]]), np.array([0, 1]), 2)["confusion_matrix"]
    assert cm == [[1, 0], [0, 1]] and all(type(v) is int for row in cm for v in row)


def test_roc_auc_of_a_single_class_is_nan_without_computing_zero_over_zero():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 0/0 would warn "invalid value encountered"
        assert math.isnan(m.roc_auc(np.ones(4, bool), np.array([0.1, 0.4, 0.2, 0.9])))
        assert math.isnan(m.roc_auc(np.zeros(4, bool), np.array([0.1, 0.4, 0.2, 0.9])))
        assert math.isnan(m.average_precision(np.zeros(3, bool), np.array([0.3, 0.2, 0.1])))


def test_roc_auc_and_average_precision_read_0_1_integer_labels_as_booleans():
    """labels 0/1 as integers mean negative/positive (not indices into the samples)."""
    labels = np.array([1, 0, 0, 1, 0])
    scores = np.array([0.9, 0.8, 0.3, 0.35, 0.1])
    # by hand: (positive, negative) pairs ordered right: 0.9 above all 3 negatives, 0.35
    # above 0.3 and 0.1 -> 5 of 6
    assert m.roc_auc(labels, scores) == pytest.approx(5 / 6, abs=1e-15)
    # thresholds 0.9 (P 1, R 1/2), 0.8 (P 1/2, R 1/2), 0.35 (P 2/3, R 1): 1/2 * 1 + 1/2 * 2/3
    assert m.average_precision(labels, scores) == pytest.approx(5 / 6, abs=1e-15)
    assert m.roc_auc(labels.astype(bool), scores) == m.roc_auc(labels, scores)
