"""Evaluation metrics: loss, accuracy, MSE/MAE/R², and the classification report.

All functions take model outputs already computed in batches; `evaluate` walks a split in
large eval-mode batches so that a whole dataset never needs a float copy at once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

EVAL_BATCH = 4096
MULTILABEL_THRESHOLD = 0.5


def metric_names(task: str, has_val: bool, binary: bool = False) -> list[str]:
    """Names of the per-epoch metrics a run of this task reports (for checking monitors).

    binary: a two-class classifier (one sigmoid output or two softmax outputs), which also
    reports ROC-AUC and average precision.
    """
    names = ["train_loss"] + (["train_accuracy"] if task != "regression" else [])
    if has_val:
        names += ["val_loss"] + [f"val_{q}" for q in quality_names(task, binary)]
    return names


def quality_names(task: str, binary: bool = False) -> list[str]:
    """The keys `quality_metrics` returns for this task."""
    if task == "regression":
        return ["mse", "mae", "r2"]
    if task == "multilabel":
        return ["accuracy"]
    return ["accuracy", "balanced_accuracy", "f1_macro"] + (
        ["roc_auc", "average_precision"] if binary else [])


_HIGHER_IS_BETTER = ("accuracy", "r2", "f1_macro", "roc_auc", "average_precision")


def monitor_mode(metric: str, mode: str) -> str:
    """`auto` -> max for accuracies, r2, F1, ROC-AUC and average precision; min for losses
    and errors."""
    if mode != "auto":
        return mode
    return "max" if metric.endswith(_HIGHER_IS_BETTER) else "min"


def batches(n: int, size: int = EVAL_BATCH):
    """Slices covering range(n) in order, `size` at a time."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def predict_outputs(net, preprocessor, X: np.ndarray, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Eval-mode logits and outputs for every row of raw X: two (n, n_out) arrays. Outputs of
    regression with scaled targets are mapped back to the targets' units."""
    logits = np.empty((X.shape[0], net.layer_sizes[-1]), dtype=dtype)
    for part in batches(X.shape[0]):
        logits[part] = net.forward(preprocessor.transform(X[part], dtype=dtype), training=False)
    return logits, preprocessor.inverse_targets(net.output(logits))


def evaluate(net, loss_fn, preprocessor, X: np.ndarray, y: np.ndarray, task: str) -> dict[str, float]:
    """Mean loss and the task's quality metrics over a whole split (eval mode)."""
    dtype = net.dtype
    logits, outputs = predict_outputs(net, preprocessor, X, dtype)
    result = {"loss": float(loss_fn.value(logits, y))}
    result.update(quality_metrics(outputs, y, task))
    return result


def quality_metrics(outputs: np.ndarray, y: np.ndarray, task: str) -> dict[str, float]:
    """The per-epoch quality metrics (see `quality_names`): for classification accuracy,
    balanced accuracy and macro F1 (binary: also ROC-AUC and average precision at the 0.5
    threshold); exact-match accuracy for multilabel; mse/mae/r2 for regression."""
    if task == "regression":
        return regression_metrics(outputs, y)
    if task == "multilabel":
        predicted = outputs >= MULTILABEL_THRESHOLD  # (n, k)
        return {"accuracy": float(np.mean(np.all(predicted == (y >= 0.5), axis=1)))}
    actual = class_ids(y)  # (n,)
    n_classes = max(outputs.shape[1], 2)
    matrix = confusion_matrix(predicted_classes(outputs), actual, n_classes)
    result = {"accuracy": float(np.trace(matrix) / max(matrix.sum(), 1)),
              "balanced_accuracy": balanced_accuracy(matrix),
              "f1_macro": averaged_scores(matrix)["macro"]["f1"]}
    if n_classes == 2:
        scores = positive_scores(outputs)
        result["roc_auc"] = roc_auc(actual == 1, scores)
        result["average_precision"] = average_precision(actual == 1, scores)
    return result


def is_binary(task: str, n_outputs: int) -> bool:
    """Whether a task with `n_outputs` (the bundle's: classes for classification) is a
    two-class classifier, whose network has one sigmoid unit or two softmax units."""
    return task == "classification" and n_outputs == 2


def accuracy(outputs: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy. outputs (n, k) probabilities (k == 1: sigmoid of the positive class)."""
    return float(np.mean(predicted_classes(outputs) == class_ids(y)))


def predicted_classes(outputs: np.ndarray) -> np.ndarray:
    """(n,) class ids: argmax of k >= 2 outputs, a 0.5 threshold for a single sigmoid."""
    if outputs.shape[1] == 1:
        return (outputs[:, 0] >= 0.5).astype(np.int64)
    return np.argmax(outputs, axis=1)


def class_probabilities(outputs: np.ndarray) -> np.ndarray:
    """(n, k) probability of each class: the outputs, or [1 - p, p] for one sigmoid unit p."""
    if outputs.shape[1] == 1:
        return np.hstack([1.0 - outputs, outputs])  # (n, 2)
    return outputs


def class_ids(y: np.ndarray) -> np.ndarray:
    """Class ids from ids (n,), one-hot/probability rows (n, k) or a 0/1 column (n, 1)."""
    if y.ndim == 1:
        return y.astype(np.int64, copy=False)
    if y.shape[1] == 1:
        return (y[:, 0] >= 0.5).astype(np.int64)
    return np.argmax(y, axis=1)


def regression_metrics(outputs: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Overall mse and mae (means over samples and targets) and r2 (the mean over targets of
    each target's R², scikit-learn's uniform average); see `per_target_metrics`."""
    per_target = per_target_metrics(outputs, y)
    return {name: float(np.mean(per_target[name])) for name in ("mse", "mae", "r2")}


def per_target_metrics(outputs: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """mse, mae and r2 of each target column, each (k,), from outputs and targets (n, k)::

        mse_j = mean_i (o_ij - y_ij)²        mae_j = mean_i |o_ij - y_ij|
        r2_j  = 1 - sum_i (o_ij - y_ij)² / sum_i (y_ij - mean_i y_ij)²   (0 for a constant target)
    """
    target = y.reshape(outputs.shape).astype(np.float64)
    error = outputs.astype(np.float64) - target  # (n, k)
    ss_res = np.sum(error**2, axis=0)  # (k,)
    ss_tot = np.sum((target - target.mean(axis=0)) ** 2, axis=0)  # (k,)
    r2 = 1.0 - _ratio(ss_res, ss_tot)
    r2[ss_tot == 0] = 0.0
    return {"mse": np.mean(error**2, axis=0), "mae": np.mean(np.abs(error), axis=0), "r2": r2}


def regression_report(outputs: np.ndarray, y: np.ndarray,
                      names: list[str] | None = None) -> list[dict[str, Any]]:
    """One row per target column: its name, mse, mae and r2 (see `per_target_metrics`)."""
    per_target = per_target_metrics(outputs, y)
    k = outputs.shape[1]
    names = list(names) if names is not None and len(names) == k else [f"y{j}" for j in range(k)]
    return [{"target": names[j], **{m: float(per_target[m][j]) for m in ("mse", "mae", "r2")}}
            for j in range(k)]


def confusion_matrix(predicted: np.ndarray, actual: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) counts; row = actual class, column = predicted class."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (actual, predicted), 1)
    return matrix


def per_class_scores(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class precision, recall, F1 and support (each (k,)) from a confusion matrix::

        precision_c = TP_c / (TP_c + FP_c)     (column sum; 0 when nothing was predicted c)
        recall_c    = TP_c / (TP_c + FN_c)     (row sum = support; 0 when c never occurs)
        F1_c        = 2 precision_c recall_c / (precision_c + recall_c)   (0 when both are 0)
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    tp = np.diag(matrix)  # (k,)
    predicted = matrix.sum(axis=0)  # (k,) TP + FP
    support = matrix.sum(axis=1)  # (k,) TP + FN
    precision = _ratio(tp, predicted)
    recall = _ratio(tp, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den elementwise, 0 where den is 0 (scikit-learn's zero_division=0)."""
    out = np.zeros_like(num, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def classification_report(matrix: np.ndarray) -> list[dict[str, Any]]:
    """Per-class precision, recall, F1 and support from a confusion matrix (one dict per class)."""
    scores = per_class_scores(matrix)
    return [
        {"class": c, "precision": float(scores["precision"][c]),
         "recall": float(scores["recall"][c]), "f1": float(scores["f1"][c]),
         "support": int(scores["support"][c])}
        for c in range(len(scores["support"]))
    ]


def averaged_scores(matrix: np.ndarray) -> dict[str, dict[str, float]]:
    """Macro (plain mean over classes) and weighted (mean weighted by support) precision,
    recall and F1, as in scikit-learn's classification_report (every class counts in the
    macro mean, also one with no samples)::

        macro_m    = (1 / k) sum_c m_c          weighted_m = sum_c support_c m_c / sum_c support_c
    """
    scores = per_class_scores(matrix)
    support = scores["support"]
    total = support.sum()
    result = {}
    for kind in ("macro", "weighted"):
        weights = np.ones_like(support) / len(support) if kind == "macro" else support / total
        row = {m: float(np.dot(weights, scores[m])) for m in ("precision", "recall", "f1")}
        row["support"] = int(total)
        result[kind] = row
    return result


def balanced_accuracy(matrix: np.ndarray) -> float:
    """Mean recall over the classes that occur (support > 0)::

        balanced_accuracy = (1 / |C|) sum_{c in C} TP_c / support_c,  C = {c : support_c > 0}
    """
    scores = per_class_scores(matrix)
    present = scores["support"] > 0
    return float(np.mean(scores["recall"][present]))


def log_loss(probs: np.ndarray, actual: np.ndarray) -> float:
    """Mean negative log-likelihood of the actual classes::

        log_loss = -(1 / n) sum_i log p_i[y_i]

    probs: (n, k) class probabilities; actual: (n,) class ids. Probabilities are clipped to
    [eps, 1 - eps] with eps the float64 machine epsilon (as scikit-learn), so a confident
    wrong answer costs about 36 instead of infinity.
    """
    eps = np.finfo(np.float64).eps
    p = np.asarray(probs, dtype=np.float64)[np.arange(len(actual)), actual]  # (n,)
    return float(-np.mean(np.log(np.clip(p, eps, 1 - eps))))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of values (n,), ties sharing the mean of their ranks."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])  # (groups,)
    ends = np.r_[starts[1:], len(values)]  # one past each group
    mean_rank = (starts + 1 + ends) / 2.0  # ranks starts+1 .. ends, averaged
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def roc_auc(positive: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve: the probability that a random positive scores above a random
    negative (ties count one half), by the Mann-Whitney rank statistic::

        AUC = (sum of the ranks of the positives - n_pos (n_pos + 1) / 2) / (n_pos n_neg)

    positive: (n,) bool; scores: (n,). NaN when only one class occurs (the area is undefined).
    """
    positive = np.asarray(positive, dtype=bool)
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _average_ranks(np.asarray(scores, dtype=np.float64))
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def average_precision(positive: np.ndarray, scores: np.ndarray) -> float:
    """Area under the precision-recall curve as a step sum (scikit-learn's definition)::

        AP = sum_t (R_t - R_{t-1}) P_t

    over the distinct scores t taken as thresholds from high to low (tied scores enter
    together), with P_t, R_t the precision and recall of predicting positive when score >= t.
    NaN when no sample is positive.
    """
    positive = np.asarray(positive, dtype=bool)
    n_pos = int(positive.sum())
    if n_pos == 0:
        return float("nan")
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="mergesort")  # (n,) high to low
    hits = positive[order]
    sorted_scores = scores[order]
    last_of_tie = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]  # (n,)
    tp = np.cumsum(hits)[last_of_tie]  # (t,) true positives at each threshold
    predicted = (np.flatnonzero(last_of_tie) + 1).astype(np.float64)  # (t,) TP + FP
    precision = tp / predicted
    recall = tp / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def positive_scores(outputs: np.ndarray) -> np.ndarray:
    """(n,) probability of the positive class (id 1) of a binary model: its single sigmoid
    output (n, 1), or the second column of a two-class softmax (n, 2)."""
    if outputs.shape[1] not in (1, 2):
        raise ValueError(f"a binary model has 1 or 2 outputs, got {outputs.shape[1]}")
    return outputs[:, -1]


def decide(outputs: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """(n,) class ids: argmax for several classes; for a binary model (one sigmoid output,
    or two softmax outputs) class 1 when its probability is >= threshold."""
    if outputs.shape[1] <= 2:
        return (positive_scores(outputs) >= threshold).astype(np.int64)
    return np.argmax(outputs, axis=1)


def classification_summary(outputs: np.ndarray, actual: np.ndarray, n_classes: int,
                           threshold: float = 0.5) -> dict[str, Any]:
    """Everything eval reports for a classifier, from outputs (n, n_out) and class ids (n,).

    accuracy, balanced accuracy, log-loss, the confusion matrix, per-class and macro /
    weighted precision, recall, F1; for two classes also ROC-AUC and average precision of
    the positive class (id 1), which do not depend on the threshold, and the threshold.
    """
    predicted = decide(outputs, threshold)
    matrix = confusion_matrix(predicted, actual, n_classes)
    result: dict[str, Any] = {
        "accuracy": float(np.mean(predicted == actual)),
        "balanced_accuracy": balanced_accuracy(matrix),
        "log_loss": log_loss(class_probabilities(outputs), actual),
    }
    if n_classes == 2:
        scores = positive_scores(outputs)
        result["roc_auc"] = roc_auc(actual == 1, scores)
        result["average_precision"] = average_precision(actual == 1, scores)
        result["threshold"] = float(threshold)
    result["averages"] = averaged_scores(matrix)
    result["per_class"] = classification_report(matrix)
    result["confusion_matrix"] = matrix.tolist()
    return result
