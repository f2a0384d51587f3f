"""Evaluation metrics: loss, accuracy, MSE/MAE/R², and the classification report.

All functions take model outputs already computed in batches; `evaluate` walks a split in
large eval-mode batches so that a whole dataset never needs a float copy at once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

EVAL_BATCH = 4096
MULTILABEL_THRESHOLD = 0.5


def metric_names(task: str, has_val: bool) -> list[str]:
    """Names of the per-epoch metrics a run of this task reports (for checking monitors)."""
    quality = ["accuracy"] if task in ("classification", "multilabel") else ["mse", "mae", "r2"]
    names = ["train_loss"] + [f"train_{q}" for q in quality if q == "accuracy"]
    if has_val:
        names += ["val_loss"] + [f"val_{q}" for q in quality]
    return names


def monitor_mode(metric: str, mode: str) -> str:
    """`auto` -> max for accuracy and r2, min for losses and errors."""
    if mode != "auto":
        return mode
    return "max" if metric.endswith(("accuracy", "r2")) else "min"


def batches(n: int, size: int = EVAL_BATCH):
    """Slices covering range(n) in order, `size` at a time."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def predict_outputs(net, preprocessor, X: np.ndarray, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Eval-mode logits and outputs for every row of raw X: two (n, n_out) arrays."""
    logits = np.empty((X.shape[0], net.layer_sizes[-1]), dtype=dtype)
    for part in batches(X.shape[0]):
        logits[part] = net.forward(preprocessor.transform(X[part], dtype=dtype), training=False)
    return logits, net.output(logits)


def evaluate(net, loss_fn, preprocessor, X: np.ndarray, y: np.ndarray, task: str) -> dict[str, float]:
    """Mean loss and the task's quality metrics over a whole split (eval mode)."""
    dtype = net.dtype
    logits, outputs = predict_outputs(net, preprocessor, X, dtype)
    result = {"loss": float(loss_fn.value(logits, y))}
    result.update(quality_metrics(outputs, y, task))
    return result


def quality_metrics(outputs: np.ndarray, y: np.ndarray, task: str) -> dict[str, float]:
    """accuracy (classification, multilabel: exact-match) or mse/mae/r2 (regression)."""
    if task == "classification":
        return {"accuracy": accuracy(outputs, y)}
    if task == "multilabel":
        predicted = outputs >= MULTILABEL_THRESHOLD  # (n, k)
        return {"accuracy": float(np.mean(np.all(predicted == (y >= 0.5), axis=1)))}
    return regression_metrics(outputs, y)


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
    """mse and mae over samples and outputs; r2 = 1 - SS_res / SS_tot, averaged over outputs."""
    target = y.reshape(outputs.shape).astype(np.float64)
    error = outputs.astype(np.float64) - target
    ss_res = np.sum(error**2, axis=0)  # (k,)
    ss_tot = np.sum((target - target.mean(axis=0)) ** 2, axis=0)  # (k,)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(ss_tot > 0, 1.0 - ss_res / ss_tot, 0.0)
    return {
        "mse": float(np.mean(error**2)),
        "mae": float(np.mean(np.abs(error))),
        "r2": float(np.mean(r2)),
    }


def confusion_matrix(predicted: np.ndarray, actual: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) counts; row = actual class, column = predicted class."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (actual, predicted), 1)
    return matrix


def classification_report(matrix: np.ndarray) -> list[dict[str, Any]]:
    """Per-class precision, recall, F1 and support from a confusion matrix."""
    rows = []
    for c in range(matrix.shape[0]):
        tp = matrix[c, c]
        predicted, support = matrix[:, c].sum(), matrix[c, :].sum()
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append(
            {"class": c, "precision": float(precision), "recall": float(recall),
             "f1": float(f1), "support": int(support)}
        )
    return rows
