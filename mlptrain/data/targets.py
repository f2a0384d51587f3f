"""Targets: which task they are (when `data.task` is auto) and their encoding per task.

Resolution of `task: auto` for files (synthetic and image sets know their task):

1. the loss decides when it is set: mse / mae / huber -> regression, cross_entropy ->
   classification, binary_cross_entropy -> classification for one target column (binary),
   multilabel for several (one sigmoid unit per column);
2. with `loss: auto`, the targets decide: one column of strings, or of integers with at most
   100 distinct values -> classification; several columns all 0/1 -> multilabel; else regression.

Encodings (what `Split.y` holds):

- classification: int64 class ids (n,). String labels map to ids in sorted order and keep
  their names; integer labels are the ids themselves (>= 0; the number of classes is the
  largest label + 1).
- multilabel: float32 0/1 (n, k), k >= 2 columns.
- regression: float32 (n, k).

Binary classification is classification: one target column of two classes (a multilabel task
with one column, or `loss: binary_cross_entropy`) gives class ids 0/1 (n,), two class names
(the two values in sorted order; 0/1 stay 0/1) and n_outputs 2, like any classifier. Only the
network differs: `builders.output_width` gives it one sigmoid unit and `adapt_targets` turns
the ids into a 0/1 column (n, 1) for the loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlptrain.data.dataset import RawData
from mlptrain.errors import DataError

MAX_AUTO_CLASSES = 100
MAX_CLASS_ID = 10_000
BINARY_LOSS = "binary_cross_entropy"


@dataclass
class Encoded:
    """Encoded targets of every split, with the task and output layout they imply."""

    task: str
    n_outputs: int
    class_names: list[str] | None
    y: dict[str, np.ndarray]


def _columns(y: np.ndarray) -> np.ndarray:
    return y[:, None] if y.ndim == 1 else y  # (n, k)


def _target_columns(raw: RawData) -> np.ndarray:
    """The targets of `raw` as columns (n, k). Every reader that feeds `encode_targets` sets
    them (only the feature-only reads for prediction leave `y` None)."""
    assert raw.y is not None, f"{raw.path}: no targets to encode"
    return _columns(raw.y)


def _column_name(raw: RawData, j: int) -> str:
    return repr(raw.target_names[j]) if raw.target_names else f"target {j}"


def resolve_task(task: str, loss_kind: str, train: RawData) -> str:
    """The task of the targets of `train` (see the module docstring)."""
    from mlptrain.nn.losses import LOSSES

    if task != "auto":
        return task
    if loss_kind in LOSSES and LOSSES[loss_kind].task != "auto":
        return LOSSES[loss_kind].task  # regression or classification, as the loss declares
    y = _target_columns(train)
    if loss_kind == BINARY_LOSS:
        return "classification" if y.shape[1] == 1 else "multilabel"
    if y.dtype.kind == "U":
        return "classification" if y.shape[1] == 1 else "regression"
    if y.shape[1] > 1:
        return "multilabel" if np.isin(y, (0, 1)).all() else "regression"
    finite = y[np.isfinite(y)]
    integral = np.array_equal(finite, np.round(finite))
    if integral and len(np.unique(finite)) <= MAX_AUTO_CLASSES:
        return "classification"
    return "regression"


def _first_bad(raw: RawData, bad: np.ndarray) -> tuple[int, int]:
    i, j = np.argwhere(_columns(bad))[0]
    return int(i), int(j)


def _regression(raw: RawData) -> np.ndarray:
    y = _target_columns(raw)
    if y.dtype.kind == "U":
        bad = np.vectorize(_not_a_number, otypes=[bool])(y)
        i, j = _first_bad(raw, bad)
        raise DataError(
            f"{raw.where(i)}, column {_column_name(raw, j)}: {str(y[i, j])!r} is not a number; "
            "regression targets must be numeric",
            path=raw.path,
        )
    return y.astype(np.float32)


def _not_a_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return True
    return False


def _class_ids(raw: RawData, names: list[str] | None) -> np.ndarray:
    """Class ids (n,) int64 of one split; `names` maps string labels."""
    y = _target_columns(raw)
    if y.shape[1] != 1:
        raise DataError(
            f"classification needs one target column, got {y.shape[1]}; several 0/1 "
            "columns are a multilabel task (data.task: multilabel)",
            path=raw.path,
        )
    y = y[:, 0]
    if y.dtype.kind == "U":
        if names is None:
            raise DataError("holds string labels, but the model's classes are numbered", path=raw.path)
        order = np.argsort(names)
        sorted_names = np.asarray(names)[order]
        pos = np.clip(np.searchsorted(sorted_names, y), 0, len(names) - 1)
        unknown = sorted_names[pos] != y
        if unknown.any():
            i = int(np.argmax(unknown))
            raise DataError(
                f"{raw.where(i)}: label {str(y[i])!r} is not one of the training classes "
                f"({', '.join(names[:10])}{', ...' if len(names) > 10 else ''})",
                path=raw.path,
            )
        return order[pos].astype(np.int64)
    bad = (y != np.round(y)) | (y < 0) | (y >= MAX_CLASS_ID)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(
            f"{raw.where(i)}: label {y[i]:g} is out of range; class labels must be integers "
            f"0..{MAX_CLASS_ID - 1} or strings",
            path=raw.path,
        )
    return y.astype(np.int64)


def _classification(
    raws: dict[str, RawData], class_names: list[str] | None
) -> tuple[list[str], dict[str, np.ndarray]]:
    train = raws["train"]
    strings = _target_columns(train).dtype.kind == "U"
    if class_names is None and strings:
        class_names = sorted(set(_target_columns(train)[:, 0].tolist()))
    ids = {name: _class_ids(raw, class_names if strings else None) for name, raw in raws.items()}
    if class_names is None:
        n_classes = max(int(y.max()) + 1 for y in ids.values() if len(y))
        class_names = [str(i) for i in range(n_classes)]
    for name, y in ids.items():
        if len(y) and y.max() >= len(class_names):
            i = int(np.argmax(y >= len(class_names)))
            raise DataError(
                f"{raws[name].where(i)}: label {y[i]} is out of range; the model knows "
                f"{len(class_names)} classes (0..{len(class_names) - 1})",
                path=raws[name].path,
            )
    y = ids["train"]  # fewer than 2 distinct ids (np.unique here would import numpy.ma, ~8 ms)
    if (not len(y) or y.min() == y.max()) and len(class_names) < 2:
        raise DataError(
            f"the training targets hold a single class ({class_names[0]!r}); classification "
            "needs at least 2",
            path=train.path,
        )
    return class_names, ids


def _binary(
    raws: dict[str, RawData], class_names: list[str] | None
) -> tuple[list[str], dict[str, np.ndarray]]:
    """A single column of two distinct values as class ids 0/1 (n,) int64, with their names."""
    train_y = _target_columns(raws["train"])[:, 0]
    if class_names is not None and len(class_names) != 2:
        raise DataError(
            f"binary_cross_entropy needs two classes, the targets hold {len(class_names)}; use "
            "cross_entropy (softmax) for more",
            path=raws["train"].path,
        )
    if class_names is None:
        values = np.unique(train_y)
        if train_y.dtype.kind != "U" and np.isin(values, (0, 1)).all():
            class_names = ["0", "1"]
        elif len(values) == 2:
            class_names = [str(v) if train_y.dtype.kind == "U" else f"{v:g}" for v in values]
        else:
            raise DataError(
                f"binary targets need two distinct values, the training targets hold "
                f"{len(values)}; use cross_entropy (softmax) for more classes",
                path=raws["train"].path,
            )
    encoded = {}
    for name, raw in raws.items():
        y = _target_columns(raw)[:, 0]
        text = y if y.dtype.kind == "U" else np.array([f"{v:g}" for v in y], dtype=str)
        hit = text[:, None] == np.asarray(class_names)[None, :]  # (n, 2)
        if not hit.any(axis=1).all():
            i = int(np.argmin(hit.any(axis=1)))
            raise DataError(
                f"{raw.where(i)}: label {str(text[i])!r} is neither of the two classes "
                f"{class_names[0]!r}, {class_names[1]!r}",
                path=raw.path,
            )
        encoded[name] = hit[:, 1].astype(np.int64)  # (n,)
    return class_names, encoded


def _multilabel(raws: dict[str, RawData]) -> dict[str, np.ndarray]:
    encoded = {}
    for name, raw in raws.items():
        y = _target_columns(raw)
        bad = ~np.isin(y, (0, 1)) if y.dtype.kind != "U" else np.ones(y.shape, bool)
        if bad.any():
            i, j = _first_bad(raw, bad)
            raise DataError(
                f"{raw.where(i)}, column {_column_name(raw, j)}: {y[i, j].item()!r} is not 0 or 1; "
                "multilabel targets are 0/1 columns",
                path=raw.path,
            )
        encoded[name] = y.astype(np.float32)
    return encoded


def encode_targets(
    raws: dict[str, RawData], task: str, loss_kind: str, class_names: list[str] | None = None
) -> Encoded:
    """Encode the targets of every split (`raws["train"]` fixes the label mapping).

    `class_names` is the mapping of an already-fitted preprocessor (eval, predict): labels are
    then mapped through it, never refitted.
    """
    task = resolve_task(task, loss_kind, raws["train"])
    if task == "regression":
        y = {name: _regression(raw) for name, raw in raws.items()}
        return Encoded(task, y["train"].shape[1], None, y)
    one_column = _target_columns(raws["train"]).shape[1] == 1
    if one_column and (task == "multilabel" or loss_kind == BINARY_LOSS):
        names, y = _binary(raws, class_names)
        return Encoded("classification", 2, names, y)
    if task == "classification":
        names, y = _classification(raws, class_names)
        return Encoded(task, len(names), names, y)
    return Encoded("multilabel", _target_columns(raws["train"]).shape[1], None, _multilabel(raws))
