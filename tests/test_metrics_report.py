"""Every metric against values worked out by hand on tiny inputs (the arithmetic is in the
comments), so that a wrong formula fails: an F1 without its factor 2, a flipped R², a
weighted average that is not weighted, ties in ROC-AUC or average precision not grouped."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlptrain import metrics as m

# Six samples of three classes:
#   actual    0 0 0 1 1 2
#   predicted 0 0 1 1 2 2
# confusion matrix (rows actual, columns predicted):
#   [[2, 1, 0],
#    [0, 1, 1],
#    [0, 0, 1]]
ACTUAL = np.array([0, 0, 0, 1, 1, 2])
PREDICTED = np.array([0, 0, 1, 1, 2, 2])
MATRIX = [[2, 1, 0], [0, 1, 1], [0, 0, 1]]


def test_confusion_matrix_counts_actual_rows_and_predicted_columns():
    assert m.confusion_matrix(PREDICTED, ACTUAL, 3).tolist() == MATRIX


def test_confusion_matrix_keeps_classes_that_never_occur():
    # one sample, actual 0 predicted 1; class 2 is all zeros
    assert m.confusion_matrix(np.array([1]), np.array([0]), 3).tolist() == [
        [0, 1, 0], [0, 0, 0], [0, 0, 0]]


def test_per_class_precision_recall_f1_support_by_hand():
    # TP = diag = (2, 1, 1); predicted (column sums) = (2, 2, 2); support (row sums) = (3, 2, 1)
    # precision = (2/2, 1/2, 1/2) = (1, 0.5, 0.5)
    # recall    = (2/3, 1/2, 1/1)
    # F1_0 = 2 * 1 * 2/3 / (1 + 2/3) = (4/3) / (5/3) = 0.8
    # F1_1 = 2 * 0.5 * 0.5 / (0.5 + 0.5) = 0.5
    # F1_2 = 2 * 0.5 * 1 / (0.5 + 1) = 1 / 1.5 = 2/3
    rows = m.classification_report(np.array(MATRIX))
    assert [r["class"] for r in rows] == [0, 1, 2]
    assert [r["precision"] for r in rows] == pytest.approx([1.0, 0.5, 0.5], abs=1e-15)
    assert [r["recall"] for r in rows] == pytest.approx([2 / 3, 0.5, 1.0], abs=1e-15)
    assert [r["f1"] for r in rows] == pytest.approx([0.8, 0.5, 2 / 3], abs=1e-15)
    assert [r["support"] for r in rows] == [3, 2, 1]
    assert all(isinstance(r["support"], int) for r in rows)


def test_macro_and_weighted_averages_by_hand():
    # macro:    precision (1 + 0.5 + 0.5) / 3 = 2/3
    #           recall    (2/3 + 1/2 + 1) / 3 = (13/6) / 3 = 13/18
    #           F1        (0.8 + 0.5 + 2/3) / 3 = (59/30) / 3 = 59/90
    # weighted (supports 3, 2, 1 of 6):
    #           precision (3*1 + 2*0.5 + 1*0.5) / 6 = 4.5 / 6 = 0.75
    #           recall    (3*2/3 + 2*1/2 + 1*1) / 6 = 4 / 6 = 2/3
    #           F1        (3*0.8 + 2*0.5 + 1*2/3) / 6 = (61/15) / 6 = 61/90
    avg = m.averaged_scores(np.array(MATRIX))
    assert avg["macro"] == pytest.approx(
        {"precision": 2 / 3, "recall": 13 / 18, "f1": 59 / 90, "support": 6}, abs=1e-15)
    assert avg["weighted"] == pytest.approx(
        {"precision": 0.75, "recall": 2 / 3, "f1": 61 / 90, "support": 6}, abs=1e-15)


def test_zero_division_gives_zero_and_an_absent_class_counts_in_the_macro_mean():
    # actual (0, 0, 1), predicted (0, 0, 0), classes 0..2
    # class 0: TP 2, predicted 3, support 2 -> precision 2/3, recall 1, F1 2*(2/3)/(5/3) = 0.8
    # class 1: never predicted -> precision 0 (not NaN), recall 0, F1 0
    # class 2: no samples, never predicted -> 0, 0, 0, support 0
    matrix = m.confusion_matrix(np.array([0, 0, 0]), np.array([0, 0, 1]), 3)
    rows = m.classification_report(matrix)
    assert [r["precision"] for r in rows] == pytest.approx([2 / 3, 0.0, 0.0], abs=1e-15)
    assert [r["recall"] for r in rows] == pytest.approx([1.0, 0.0, 0.0], abs=1e-15)
    assert [r["f1"] for r in rows] == pytest.approx([0.8, 0.0, 0.0], abs=1e-15)
    # macro F1 = (0.8 + 0 + 0) / 3 over all three classes; weighted = (2*0.8 + 1*0 + 0) / 3
    avg = m.averaged_scores(matrix)
    assert avg["macro"]["f1"] == pytest.approx(0.8 / 3, abs=1e-15)
    assert avg["weighted"]["f1"] == pytest.approx(1.6 / 3, abs=1e-15)


def test_balanced_accuracy_is_the_mean_recall_of_the_classes_that_occur():
    # recalls (2/3, 1/2, 1): (2/3 + 1/2 + 1) / 3 = 13/18, while accuracy is 4/6
    assert m.balanced_accuracy(np.array(MATRIX)) == pytest.approx(13 / 18, abs=1e-15)
    # class 2 has no samples and is left out: recalls (1, 0) -> 0.5, not (1 + 0 + 0) / 3
    matrix = m.confusion_matrix(np.array([0, 0, 0]), np.array([0, 0, 1]), 3)
    assert m.balanced_accuracy(matrix) == pytest.approx(0.5, abs=1e-15)


def test_log_loss_is_the_mean_negative_log_probability_of_the_actual_class():
    # -(ln 0.8 + ln 0.4 + ln 0.5) / 3, the probabilities of classes 0, 0 and 2
    probs = np.array([[0.8, 0.1, 0.1], [0.4, 0.6, 0.0], [0.25, 0.25, 0.5]])
    expected = -(math.log(0.8) + math.log(0.4) + math.log(0.5)) / 3
    assert m.log_loss(probs, np.array([0, 0, 2])) == pytest.approx(expected, rel=1e-15)


def test_log_loss_clips_a_zero_probability_to_machine_epsilon():
    # p = 0 -> -ln(2.220446049250313e-16) = 36.04365338911715, not infinity
    assert m.log_loss(np.array([[0.0, 1.0]]), np.array([0])) == pytest.approx(
        -math.log(2.220446049250313e-16), rel=1e-15)
    # p = 1 is clipped to 1 - eps: -ln(1 - eps) ~ 2.2e-16, tiny but not negative
    assert 0.0 <= m.log_loss(np.array([[0.0, 1.0]]), np.array([1])) < 1e-15


def test_roc_auc_counts_ordered_pairs_by_hand():
    # positives score 0.35 and 0.8, negatives 0.1 and 0.4. Of the 2 * 2 pairs, the positive
    # ranks above the negative in (0.35 > 0.1), (0.8 > 0.1), (0.8 > 0.4): 3 / 4 = 0.75.
    # By ranks: scores ranked (1, 3, 2, 4); positives 2 + 4 = 6; (6 - 2*3/2) / 4 = 0.75.
    positive = np.array([False, False, True, True])
    assert m.roc_auc(positive, np.array([0.1, 0.4, 0.35, 0.8])) == 0.75


def test_roc_auc_counts_a_tie_as_one_half_and_reverses_with_the_scores():
    # pairs (pos 0.5, neg 0.5): a tie -> 1/2; (pos 0.5, neg 0.2) -> 1. Mean (0.5 + 1) / 2.
    positive = np.array([True, False, False])
    assert m.roc_auc(positive, np.array([0.5, 0.5, 0.2])) == 0.75
    # scores reversed: every pair is now wrong -> 0
    assert m.roc_auc(np.array([True, False]), np.array([0.1, 0.9])) == 0.0
    assert m.roc_auc(np.array([True, False]), np.array([0.9, 0.1])) == 1.0


def test_roc_auc_and_average_precision_are_nan_without_both_classes():
    assert math.isnan(m.roc_auc(np.array([True, True]), np.array([0.1, 0.2])))
    assert math.isnan(m.roc_auc(np.array([False, False]), np.array([0.1, 0.2])))
    assert math.isnan(m.average_precision(np.array([False, False]), np.array([0.1, 0.2])))


def test_average_precision_is_the_step_sum_over_thresholds_by_hand():
    # scores high to low: 0.8 (pos), 0.4 (neg), 0.35 (pos), 0.1 (neg); 2 positives
    #   t = 0.8:  TP 1 of 1 predicted -> P = 1,   R = 1/2
    #   t = 0.4:  TP 1 of 2           -> P = 1/2, R = 1/2   (recall unchanged: adds 0)
    #   t = 0.35: TP 2 of 3           -> P = 2/3, R = 1
    #   t = 0.1:  TP 2 of 4           -> P = 1/2, R = 1     (adds 0)
    # AP = (1/2 - 0) * 1 + (1 - 1/2) * 2/3 = 1/2 + 1/3 = 5/6
    positive = np.array([False, False, True, True])
    assert m.average_precision(positive, np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(
        5 / 6, abs=1e-15)


def test_average_precision_takes_tied_scores_as_one_threshold():
    # scores 0.5 (pos), 0.5 (neg), 0.2 (pos): the two 0.5s enter together
    #   t = 0.5: TP 1 of 2 -> P = 1/2, R = 1/2;   t = 0.2: TP 2 of 3 -> P = 2/3, R = 1
    # AP = 1/2 * 1/2 + 1/2 * 2/3 = 1/4 + 1/3 = 7/12 (one at a time, positive first: 5/6)
    positive = np.array([True, False, True])
    assert m.average_precision(positive, np.array([0.5, 0.5, 0.2])) == pytest.approx(
        7 / 12, abs=1e-15)


def test_decide_applies_the_threshold_to_the_positive_class_only_for_binary_models():
    sigmoid = np.array([[0.2], [0.5], [0.7]])
    assert m.decide(sigmoid).tolist() == [0, 1, 1]  # >= 0.5
    assert m.decide(sigmoid, threshold=0.6).tolist() == [0, 0, 1]
    assert m.decide(sigmoid, threshold=0.1).tolist() == [1, 1, 1]
    softmax2 = np.array([[0.7, 0.3], [0.4, 0.6]])  # the positive class is column 1
    assert m.decide(softmax2, threshold=0.5).tolist() == [0, 1]
    assert m.decide(softmax2, threshold=0.25).tolist() == [1, 1]
    softmax3 = np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]])
    assert m.decide(softmax3, threshold=0.9).tolist() == [1, 0]  # argmax; no threshold


def test_class_probabilities_expand_one_sigmoid_into_two_columns():
    assert m.class_probabilities(np.array([[0.25]])).tolist() == [[0.75, 0.25]]
    assert m.positive_scores(np.array([[0.3, 0.7]])).tolist() == [0.7]
    with pytest.raises(ValueError, match="1 or 2 outputs, got 3"):
        m.positive_scores(np.zeros((1, 3)))


def test_classification_summary_of_a_binary_model_by_hand():
    # p(positive) = 0.9, 0.6, 0.4, 0.2 for actual 1, 0, 1, 0; threshold 0.5
    # predicted 1, 1, 0, 0 -> matrix [[1, 1], [1, 1]]: accuracy 2/4, balanced (1/2 + 1/2) / 2
    # ROC-AUC: pairs (0.9 > 0.6), (0.9 > 0.2), (0.4 < 0.6), (0.4 > 0.2) -> 3/4
    # AP: 0.9 pos P=1 R=1/2; 0.6 neg; 0.4 pos P=2/3 R=1; -> 1/2 + 1/2 * 2/3 = 5/6
    # log-loss: -(ln 0.9 + ln 0.4 + ln 0.4 + ln 0.8) / 4
    outputs = np.array([[0.9], [0.6], [0.4], [0.2]])
    actual = np.array([1, 0, 1, 0])
    s = m.classification_summary(outputs, actual, 2)
    assert s["confusion_matrix"] == [[1, 1], [1, 1]]
    assert s["accuracy"] == 0.5 and s["balanced_accuracy"] == 0.5
    assert s["roc_auc"] == 0.75
    assert s["average_precision"] == pytest.approx(5 / 6, abs=1e-15)
    assert s["log_loss"] == pytest.approx(
        -(math.log(0.9) + math.log(0.4) + math.log(0.4) + math.log(0.8)) / 4, rel=1e-14)
    assert s["threshold"] == 0.5
    # threshold 0.3: predicted 1, 1, 1, 0 -> [[1, 1], [0, 2]]: accuracy 3/4; AUC unchanged
    s = m.classification_summary(outputs, actual, 2, threshold=0.3)
    assert s["confusion_matrix"] == [[1, 1], [0, 2]]
    assert s["accuracy"] == 0.75 and s["roc_auc"] == 0.75 and s["threshold"] == 0.3


def test_classification_summary_of_three_classes_has_no_binary_metrics():
    outputs = np.eye(3)[PREDICTED] * 0.7 + 0.1  # rows (0.8, 0.1, 0.1) etc., argmax = PREDICTED
    s = m.classification_summary(outputs, ACTUAL, 3)
    assert s["confusion_matrix"] == MATRIX
    assert s["accuracy"] == pytest.approx(4 / 6, abs=1e-15)
    assert s["balanced_accuracy"] == pytest.approx(13 / 18, abs=1e-15)
    # actual classes get 0.8 when predicted right (4 samples) and 0.1 otherwise (2 samples)
    assert s["log_loss"] == pytest.approx(-(4 * math.log(0.8) + 2 * math.log(0.1)) / 6,
                                          rel=1e-14)
    assert not {"roc_auc", "average_precision", "threshold"} & set(s)


def test_quality_metrics_per_epoch_for_classification_by_hand():
    outputs = np.eye(3)[PREDICTED] * 0.7 + 0.1
    q = m.quality_metrics(outputs, ACTUAL, "classification")
    assert q == pytest.approx({"accuracy": 4 / 6, "balanced_accuracy": 13 / 18,
                               "f1_macro": 59 / 90}, abs=1e-15)
    # a single sigmoid output with a 0/1 target column: the binary metrics join
    q = m.quality_metrics(np.array([[0.9], [0.6], [0.4], [0.2]]),
                          np.array([[1.0], [0.0], [1.0], [0.0]]), "classification")
    assert q["accuracy"] == 0.5 and q["roc_auc"] == 0.75
    assert q["average_precision"] == pytest.approx(5 / 6, abs=1e-15)
    assert set(q) == set(m.quality_names("classification", binary=True))
    # several 0/1 labels: exact-match accuracy; row 0 right, row 1 has one label wrong
    q = m.quality_metrics(np.array([[0.9, 0.2], [0.7, 0.6]]), np.array([[1.0, 0.0], [1.0, 0.0]]),
                          "multilabel")
    assert q == {"accuracy": 0.5}


def test_metric_names_and_monitor_modes():
    assert m.metric_names("classification", True, binary=True) == [
        "train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_balanced_accuracy",
        "val_f1_macro", "val_roc_auc", "val_average_precision"]
    assert m.metric_names("regression", False) == ["train_loss"]
    assert m.metric_names("multilabel", True) == [
        "train_loss", "train_accuracy", "val_loss", "val_accuracy"]
    for name in ("val_accuracy", "val_balanced_accuracy", "val_f1_macro", "val_roc_auc",
                 "val_average_precision", "val_r2"):
        assert m.monitor_mode(name, "auto") == "max", name
    for name in ("val_loss", "val_mse", "val_mae", "train_loss"):
        assert m.monitor_mode(name, "auto") == "min", name
    assert m.monitor_mode("val_accuracy", "min") == "min"
    assert m.is_binary("classification", 2)
    assert not m.is_binary("classification", 3) and not m.is_binary("multilabel", 2)
    assert not m.is_binary("regression", 1)


def test_regression_metrics_per_target_and_overall_by_hand():
    # target 0: y (1, 2, 3, 4), prediction (2, 2, 3, 3): errors (1, 0, 0, -1)
    #   mse = 2/4 = 0.5, mae = 2/4 = 0.5; mean y 2.5, SS_tot = 2.25+0.25+0.25+2.25 = 5
    #   r2 = 1 - 2/5 = 0.6 (a flipped sign would be -0.6 or 0.4)
    # target 1: y (0, 0, 2, 2), prediction (0, 0, 2, 4): errors (0, 0, 0, 2)
    #   mse = 4/4 = 1, mae = 2/4 = 0.5; mean y 1, SS_tot = 4; r2 = 1 - 4/4 = 0
    # overall: mse (0.5 + 1) / 2 = 0.75, mae 0.5, r2 (0.6 + 0) / 2 = 0.3
    y = np.array([[1, 0], [2, 0], [3, 2], [4, 2]], dtype=np.float32)
    outputs = np.array([[2, 0], [2, 0], [3, 2], [3, 4]], dtype=np.float32)
    rows = m.regression_report(outputs, y, ["price", "rent"])
    assert rows == [
        pytest.approx({"target": "price", "mse": 0.5, "mae": 0.5, "r2": 0.6}, abs=1e-15),
        pytest.approx({"target": "rent", "mse": 1.0, "mae": 0.5, "r2": 0.0}, abs=1e-15),
    ]
    assert m.regression_metrics(outputs, y) == pytest.approx(
        {"mse": 0.75, "mae": 0.5, "r2": 0.3}, abs=1e-15)
    assert m.quality_metrics(outputs, y, "regression") == m.regression_metrics(outputs, y)


def test_r2_of_a_worse_than_mean_prediction_is_negative_and_a_constant_target_gives_zero():
    # y (0, 2), prediction (2, 0): SS_res = 4 + 4 = 8, SS_tot = 1 + 1 = 2 -> 1 - 8/2 = -3
    assert m.regression_metrics(np.array([[2.0], [0.0]]), np.array([0.0, 2.0]))["r2"] == -3.0
    # a constant target has no variance: r2 is reported as 0, not NaN or -inf
    rows = m.regression_report(np.array([[1.0], [3.0]]), np.array([[2.0], [2.0]]))
    assert rows == [{"target": "y0", "mse": 1.0, "mae": 1.0, "r2": 0.0}]


def test_accuracy_and_class_ids_from_every_target_layout():
    outputs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert m.accuracy(outputs, np.array([0, 1, 1])) == pytest.approx(2 / 3, abs=1e-15)
    assert m.class_ids(np.array([[0.0, 1.0], [1.0, 0.0]])).tolist() == [1, 0]
    assert m.class_ids(np.array([[0.2], [0.5]])).tolist() == [0, 1]
    assert m.predicted_classes(np.array([[0.49], [0.5]])).tolist() == [0, 1]
