"""Arrays and DataFrames held in memory, as the `RawData` a file would give (the Python API).

Features: a 2-D array-like (n, n_features) of numbers, or a pandas DataFrame whose column
names become the feature names. Targets: a 1-D array-like (n,) or 2-D (n, k) of numbers or
strings (class names), or a pandas Series / DataFrame. Nothing here reads a file; pandas is
never imported (a DataFrame is recognised by its `columns` and `to_numpy`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlptrain.data.dataset import RawData
from mlptrain.errors import DataError


def is_dataframe(X: Any) -> bool:
    return hasattr(X, "columns") and hasattr(X, "to_numpy")


def feature_matrix(X: Any, what: str = "X", names: list[str] | None = None
                   ) -> tuple[np.ndarray, list[str] | None]:
    """(features (n, n_features) float32, or float64 when given float64; column names or None).

    names: the model's feature names; a DataFrame holding them is reordered to them (extra
    columns are ignored), one missing any is a DataError naming the first missing column.
    """
    columns = None
    if is_dataframe(X):
        columns = [str(c) for c in X.columns]
        if names is not None and set(names) <= set(columns):
            X, columns = X[[X.columns[columns.index(n)] for n in names]], list(names)
        elif names is not None and len(columns) == len(names):
            missing = [n for n in names if n not in columns]
            raise DataError(f"{what} has no column {missing[0]!r}; the model's features are "
                            f"{', '.join(map(repr, names[:10]))}")
        X = X.to_numpy()
    array = np.asarray(X)
    if array.ndim != 2:
        raise DataError(f"{what} must be 2-D (n_samples, n_features), got shape {array.shape}")
    if array.dtype.kind not in "fiub":
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError):
            raise DataError(f"{what} holds values that are not numbers (dtype {array.dtype}); "
                            "features must be numeric") from None
    dtype = np.float64 if array.dtype == np.float64 else np.float32
    return np.ascontiguousarray(array, dtype=dtype), columns


def target_array(y: Any, what: str = "y") -> tuple[np.ndarray, list[str] | None]:
    """(targets: float64 numbers or 'U' strings, (n,) or (n, k); column names or None)."""
    names = None
    if is_dataframe(y):
        names = [str(c) for c in y.columns]
    elif hasattr(y, "name") and hasattr(y, "to_numpy") and y.name is not None:
        names = [str(y.name)]
    array = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
    if array.ndim not in (1, 2):
        raise DataError(f"{what} must be 1-D (n,) or 2-D (n, k), got shape {array.shape}")
    if array.dtype.kind in "iufb":
        return array.astype(np.float64), names
    if array.dtype.kind == "U":
        return array, names
    if all(isinstance(v, str) for v in array.ravel()):
        return array.astype(str), names
    try:
        return array.astype(np.float64), names
    except (TypeError, ValueError):
        raise DataError(f"{what} mixes strings and other values (dtype {array.dtype}); "
                        "targets are numbers or class names") from None


def raw_from_arrays(X: Any, y: Any, what: str = "X") -> RawData:
    """One split's `RawData` from features and targets held in memory."""
    features, feature_names = feature_matrix(X, what)
    targets, target_names = target_array(y, "y" if what == "X" else f"y{what[1:]}")
    if len(targets) != len(features):
        raise DataError(f"{what} has {len(features)} rows but its targets have {len(targets)}")
    if len(features) == 0:
        raise DataError(f"{what} holds no samples")
    return RawData(X=features, y=targets, path=f"<{what}>", feature_names=feature_names,
                   target_names=target_names)
