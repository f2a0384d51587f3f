"""The containers the training loop reads: a `Split` of features and targets, and a `DataBundle`.

`Split.X` holds raw features, `(n, n_features)`: uint8 for image sets (a flattened view, never
a float copy), float32 otherwise. The bundle's `preprocessor` turns a batch of it into floats.
`Split.y` is int64 class ids `(n,)` for classification, float32 `(n, k)` for regression and
multi-label (0/1) targets. (`builders.adapt_targets` later gives a classification trained
without cross-entropy float targets: a 0/1 column (n, 1) for two classes, one-hot rows.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlptrain.data.preprocessing import Preprocessor

TASKS = ("classification", "regression", "multilabel")


@dataclass(frozen=True)
class Split:
    """One split of a dataset: features `X (n, n_features)` and targets `y`."""

    X: np.ndarray  # (n, n_features) uint8 or float32
    y: np.ndarray  # (n,) int64 | (n, k) float32
    w: np.ndarray | None = None  # (n,) sample weights of the loss (the sklearn estimators)

    def __post_init__(self) -> None:
        if self.X.ndim != 2:
            raise ValueError(f"Split.X must be 2-D (n, n_features), got shape {self.X.shape}")
        if len(self.X) != len(self.y):
            raise ValueError(f"Split has {len(self.X)} feature rows but {len(self.y)} targets")

    def __len__(self) -> int:
        return len(self.X)


@dataclass
class DataBundle:
    """The train / val / test splits of one dataset, its task and its fitted preprocessor."""

    train: Split
    val: Split | None
    test: Split | None
    task: str
    n_features: int
    n_outputs: int
    class_names: list[str] | None
    preprocessor: Preprocessor
    source: str
    paths: list[str] = field(default_factory=list)

    def splits(self) -> dict[str, Split]:
        """The splits that exist, by name (train, val, test)."""
        named = {"train": self.train, "val": self.val, "test": self.test}
        return {name: split for name, split in named.items() if split is not None}

    def describe(self) -> dict[str, Any]:
        """A small JSON-able summary for the run summary and `mlptrain data` output."""
        summary: dict[str, Any] = {
            "source": self.source,
            "paths": list(self.paths),
            "task": self.task,
            "n_features": self.n_features,
            "n_outputs": self.n_outputs,
            "dtype": str(self.train.X.dtype),
            "sizes": {name: len(split) for name, split in self.splits().items()},
            "scale": self.preprocessor.scale,
        }
        if self.task == "classification":
            summary["class_counts"] = {
                name: _class_counts(split.y, self.n_outputs, self.class_names)
                for name, split in self.splits().items()
            }
        return summary


def _class_counts(y: np.ndarray, n_classes: int, names: list[str] | None) -> dict[str, int]:
    from mlptrain.metrics import class_ids

    counts = np.bincount(class_ids(y), minlength=n_classes)  # (n_classes,)
    labels = names if names is not None else [str(i) for i in range(n_classes)]
    return {label: int(count) for label, count in zip(labels, counts, strict=True)}


@dataclass
class RawData:
    """One file's (or generator's) features and raw targets, before encoding and splitting.

    `y` is whatever the source holds: numbers (n,) or (n, k), or strings (n, k) from a CSV;
    None when the file has features only. `rows` maps sample i to its line in a CSV file, for
    error messages; None elsewhere (messages then say "sample i").
    """

    X: np.ndarray  # (n, n_features) float32 or uint8
    y: np.ndarray | None
    path: str
    rows: np.ndarray | None = None  # (n,) int64 file line numbers
    feature_names: list[str] | None = None
    target_names: list[str] | None = None
    image: bool = False
    # categorical feature position -> its vocabulary; X holds codes into it (data.categorical)
    vocab: dict[int, list[str | None]] = field(default_factory=dict)

    def where(self, i: int) -> str:
        """How an error message names sample i: 'row 17' (CSV line) or 'sample 16'."""
        return f"row {int(self.rows[i])}" if self.rows is not None else f"sample {i}"

    def take(self, keep: np.ndarray) -> RawData:
        """The samples at index or mask `keep`."""
        return RawData(
            X=self.X[keep],
            y=None if self.y is None else self.y[keep],
            path=self.path,
            rows=None if self.rows is None else self.rows[keep],
            feature_names=self.feature_names,
            target_names=self.target_names,
            image=self.image,
            vocab=self.vocab,
        )
