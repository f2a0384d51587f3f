"""Predictions of a saved model on a features file, as CSV text.

The input (CSV, NPZ or IDX; see `data.load_features`) goes through the checkpoint's own
preprocessing, never refitted, and must have the model's number of feature columns. Output
columns, one row per input row:

- classification, binary included: ``prediction`` (the class name, or its id with
  ``ids=True``), and with ``proba=True`` one ``p_<class>`` column per class (a binary model's
  single sigmoid output p gives ``p_<class 0> = 1 - p`` and ``p_<class 1> = p``); a binary
  model predicts its second class when ``p_<class 1> >= threshold`` (default: the config's
  ``data.decision_threshold``), several classes the most probable one;
- multilabel (several 0/1 targets): one 0/1 column per label (``p >= 0.5``), and
  ``p_<label>`` with ``proba``;
- regression: one column per target.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from mlptrain.checkpoint import write_atomic
from mlptrain.errors import DataError


def predict_file(target: str | Path, input_path: str | Path, *, proba: bool = False,
                 ids: bool = False, threshold: float | None = None) -> str:
    """Predict every row of `input_path` with the checkpoint (or run directory's best).
    threshold: a binary classifier's decision threshold; None: data.decision_threshold."""
    from mlptrain.data import load_features
    from mlptrain.errors import ConfigError
    from mlptrain.evaluation import load_model
    from mlptrain.metrics import predict_outputs

    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"the decision threshold must be in [0, 1], got {threshold!r}")
    model = load_model(target)
    if threshold is None:
        threshold = model.cfg.data.decision_threshold
    try:
        X = load_features(input_path, model.cfg.data, model.preprocessor)  # (n, n_features)
    except DataError as err:
        if err.hint and "nan_policy" in err.hint:  # a setting of training, not of predict
            err.hint = "every row needs a finite value in every feature: fill or remove those rows"
        raise
    _, outputs = predict_outputs(model.net, model.preprocessor, X, model.net.dtype)
    header, columns = prediction_columns(outputs, model.task, model.preprocessor, proba, ids,
                                         threshold)
    return to_csv(header, columns)


def prediction_columns(outputs: np.ndarray, task: str, preprocessor, proba: bool, ids: bool,
                       threshold: float = 0.5):
    """(header, list of (n,) columns) for model outputs (n, n_out)."""
    from mlptrain.metrics import MULTILABEL_THRESHOLD, class_probabilities, decide

    if task == "regression":
        names = preprocessor.target_names or _numbered("y", outputs.shape[1])
        return list(names), [outputs[:, j] for j in range(outputs.shape[1])]
    if task == "multilabel":
        names = preprocessor.class_names or _numbered("label", outputs.shape[1])
        header = list(names)
        columns = [(outputs[:, j] >= MULTILABEL_THRESHOLD).astype(np.int64)
                   for j in range(outputs.shape[1])]
        if proba:
            header += [f"p_{n}" for n in names]
            columns += [outputs[:, j] for j in range(outputs.shape[1])]
        return header, columns
    probs = class_probabilities(outputs)  # (n, k)
    names = preprocessor.class_names or _numbered("", probs.shape[1])
    predicted = decide(outputs, threshold)  # (n,) argmax; binary: p_1 >= threshold
    first = predicted if ids else np.asarray(names, dtype=object)[predicted]
    header, columns = ["prediction"], [first]
    if proba:
        header += [f"p_{n}" for n in names]
        columns += [probs[:, j] for j in range(probs.shape[1])]
    return header, columns


def _numbered(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{j}" for j in range(n)]


def to_csv(header: list[str], columns: list[np.ndarray]) -> str:
    """CSV text; floats as their shortest round-tripping digits in their own dtype."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in zip(*columns, strict=True):
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


def _cell(value) -> str:
    if isinstance(value, np.floating):
        return str(value)  # numpy: the shortest digits that round-trip in its dtype
    return repr(value) if isinstance(value, float) else str(value)


def write_predictions(path: str | Path, text: str) -> None:
    """Write the CSV atomically (the old file or the new one, never half of it)."""
    write_atomic(Path(path), text.encode("utf-8"))
