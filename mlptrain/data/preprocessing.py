"""Feature scaling fitted on the training split only, saved with the checkpoint.

    minmax:    x' = (x - min) / (max - min)     (range 0 -> divisor 1)
    standard:  x' = (x - mean) / std           (std 0 -> divisor 1)
    none:      x' = x

Statistics are per feature, or one global statistic over every value for images (`global_
stats`), so that MNIST's minmax is x / 255 and all pixels share one mean and std. They are
computed in float64 in chunks (uint8 images by a histogram), so fitting never makes a float
copy of the dataset; `transform` converts one batch at a time.

The preprocessor also carries what eval and predict must reproduce: the number of features,
the task, the number of outputs, the label mapping (class names) and, for regression, the
scaling of the targets (`target_scaling.TargetScaling`; None or kind "none": unscaled).

With categorical feature columns (`categorical.CategoricalEncoder`), the features it scales
are already encoded (one-hot columns in place of each categorical column: `n_features` is the
network's input width); the one-hot columns keep offset 0 and divisor 1, so they stay 0/1.
`feature_names` are then the file's columns (`n_raw` of them), `input_names` the inputs'.

Saved states: version 2 adds "target_scale" (and the arrays target_offset, target_divisor);
a version-1 state (before target scaling) reads as unscaled targets. Version 3 adds
"categorical" (null, or the encoder's `to_dict`); earlier versions read as without.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlptrain.data.categorical import CategoricalEncoder
from mlptrain.data.target_scaling import TargetScaling
from mlptrain.errors import DataError

SCALES = ("minmax", "standard", "none")
FORMAT = "mlptrain.preprocessor"
VERSION = 3
_CHUNK = 8192
_META_KEYS_V1 = (
    "format", "version", "scale", "global_stats", "n_features", "task", "n_outputs",
    "class_names", "feature_names", "target_names", "arrays",
)
_META_KEYS = {1: _META_KEYS_V1, 2: (*_META_KEYS_V1, "target_scale"),
              3: (*_META_KEYS_V1, "target_scale", "categorical")}


def _chunks(X: np.ndarray):
    for start in range(0, len(X), _CHUNK):
        yield X[start : start + _CHUNK].astype(np.float64)  # (chunk, n_features)


def _moments(X: np.ndarray, global_stats: bool) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std, per column (n_features,) or global (1,), in float64."""
    if global_stats and X.dtype == np.uint8:
        counts = np.bincount(X.ravel(), minlength=256).astype(np.float64)  # (256,)
        values = np.arange(256, dtype=np.float64)
        mean = (counts @ values) / counts.sum()
        var = (counts @ (values - mean) ** 2) / counts.sum()
        return np.array([mean]), np.array([np.sqrt(var)])
    n = X.size if global_stats else len(X)
    total = sum(c.sum() if global_stats else c.sum(axis=0) for c in _chunks(X))
    mean = np.atleast_1d(total / n)
    sq = sum(((c - mean) ** 2).sum() if global_stats else ((c - mean) ** 2).sum(axis=0)
             for c in _chunks(X))
    return mean, np.atleast_1d(np.sqrt(sq / n))


def _extremes(X: np.ndarray, global_stats: bool) -> tuple[np.ndarray, np.ndarray]:
    axis = None if global_stats else 0
    low = np.atleast_1d(X.min(axis=axis)).astype(np.float64)
    high = np.atleast_1d(X.max(axis=axis)).astype(np.float64)
    return low, high


class Preprocessor:
    """A fitted feature transform plus the data facts a trained model depends on."""

    def __init__(
        self,
        scale: str,
        offset: np.ndarray,
        divisor: np.ndarray,
        n_features: int,
        *,
        global_stats: bool = False,
        task: str = "classification",
        n_outputs: int = 1,
        class_names: list[str] | None = None,
        feature_names: list[str] | None = None,
        target_names: list[str] | None = None,
        target_scaling: TargetScaling | None = None,
        categorical: CategoricalEncoder | None = None,
    ):
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
        width = 1 if global_stats else n_features
        offset = np.asarray(offset, dtype=np.float64).reshape(-1)
        divisor = np.asarray(divisor, dtype=np.float64).reshape(-1)
        for name, array in (("offset", offset), ("divisor", divisor)):
            if array.shape != (width,):
                raise ValueError(f"{name} must have shape ({width},), got {array.shape}")
        if not np.all(divisor > 0) or not np.all(np.isfinite(offset)):
            raise ValueError("divisor must be > 0 and offset finite")
        self.scale = scale
        self.offset = offset  # (n_features,) or (1,)
        self.divisor = divisor  # (n_features,) or (1,)
        self.n_features = int(n_features)
        self.global_stats = bool(global_stats)
        self.task = task
        self.n_outputs = int(n_outputs)
        self.class_names = None if class_names is None else list(class_names)
        self.feature_names = None if feature_names is None else list(feature_names)
        self.target_names = None if target_names is None else list(target_names)
        if target_scaling is not None and target_scaling.identity:
            target_scaling = None
        self.target_scaling = target_scaling  # regression targets' scaling, or None
        if categorical is not None and categorical.n_inputs != self.n_features:
            raise ValueError(f"the categorical encoding makes {categorical.n_inputs} inputs, "
                             f"not n_features {self.n_features}")
        if categorical is not None and self.feature_names is not None and (
                len(self.feature_names) != categorical.n_raw):
            raise ValueError(f"{len(self.feature_names)} feature names for "
                             f"{categorical.n_raw} feature columns")
        self.categorical = categorical  # one-hot encoding of text columns, or None

    @property
    def input_names(self) -> list[str] | None:
        """Names of the network's inputs: the feature names, with `column=category` for each
        one-hot input."""
        if self.categorical is None:
            return self.feature_names
        return self.categorical.input_names(self.feature_names)

    @property
    def target_scale(self) -> str:
        """The kind of target scaling: standard, minmax, or none."""
        return "none" if self.target_scaling is None else self.target_scaling.kind

    def inverse_targets(self, outputs: np.ndarray) -> np.ndarray:
        """Network outputs (n, k) in the targets' own units (unchanged without scaling)."""
        return outputs if self.target_scaling is None else self.target_scaling.inverse(outputs)

    @classmethod
    def fit(cls, X: np.ndarray, scale: str, *, global_stats: bool = False, **facts) -> Preprocessor:
        """Fit the statistics of `scale` on X (n, n_features): the training split only."""
        if X.ndim != 2 or len(X) == 0:
            raise DataError(f"cannot fit scaling on features of shape {X.shape}")
        width = 1 if global_stats else X.shape[1]
        if scale == "minmax":
            low, high = _extremes(X, global_stats)
            offset, divisor = low, high - low
        elif scale == "standard":
            offset, divisor = _moments(X, global_stats)
        else:
            offset, divisor = np.zeros(width), np.ones(width)
        divisor = np.where(divisor > 0, divisor, 1.0)  # constant feature: centred, not scaled
        categorical = facts.get("categorical")
        if categorical is not None and not global_stats:  # one-hot columns stay 0/1
            mask = categorical.one_hot_mask()  # (n_features,)
            offset, divisor = np.where(mask, 0.0, offset), np.where(mask, 1.0, divisor)
        return cls(scale, offset, divisor, X.shape[1], global_stats=global_stats, **facts)

    def check_width(self, X: np.ndarray, source: str) -> None:
        """Raise DataError unless X is (n, n_features) for this model."""
        if X.ndim != 2 or X.shape[1] != self.n_features:
            got = X.shape[1] if X.ndim == 2 else f"shape {X.shape}, not 2-D"
            raise DataError(
                f"has {got} feature columns, the model expects {self.n_features}", path=source
            )

    def transform(
        self, X: np.ndarray, dtype: Any = np.float32, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Scaled features of a batch X (batch, n_features) as a new (or `out`) float array.

        The raw values are first cast into `out` (a plain conversion loop, much faster than a
        mixed uint8/float ufunc), then scaled in place in `out`'s dtype (float32 stays
        float32). A zero offset (minmax of images: x / 255) skips the subtraction; x - 0 == x.
        """
        self.check_width(X, "features")
        if out is None:
            out = np.empty(X.shape, dtype=dtype)
        elif out.shape != X.shape:
            raise ValueError(f"out has shape {out.shape}, expected {X.shape}")
        np.copyto(out, X, casting="unsafe")  # (batch, n_features)
        if self.scale == "none":
            return out
        offset, divisor = self._statistics_as(out.dtype)
        if offset is not None:
            np.subtract(out, offset, out=out)
        np.divide(out, divisor, out=out)
        return out

    def _statistics_as(self, dtype) -> tuple[np.ndarray | None, np.ndarray]:
        """(offset or None when it is all zero, divisor) cast to `dtype`, cast once per dtype:
        a training step transforms a batch without allocating."""
        key = np.dtype(dtype)
        cast = self.__dict__.setdefault("_cast", {})
        if key not in cast:
            cast[key] = (self.offset.astype(key) if self.offset.any() else None,
                         self.divisor.astype(key))
        return cast[key]

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild it; statistics as float64 arrays under "arrays"."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "scale": self.scale,
            "global_stats": self.global_stats,
            "n_features": self.n_features,
            "task": self.task,
            "n_outputs": self.n_outputs,
            "class_names": self.class_names,
            "feature_names": self.feature_names,
            "target_names": self.target_names,
            "target_scale": self.target_scale,
            "categorical": None if self.categorical is None else self.categorical.to_dict(),
            "arrays": {"offset": self.offset.copy(), "divisor": self.divisor.copy(),
                       **({} if self.target_scaling is None else self.target_scaling.state()[1])},
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> Preprocessor:
        """The exact inverse of `state_dict`; strict about format, version and keys."""
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise DataError("the saved preprocessor is not an mlptrain preprocessor state")
        version = state.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version not in _META_KEYS:
            raise DataError(
                f"the saved preprocessor has version {version!r}; this mlptrain "
                f"reads versions {', '.join(map(str, _META_KEYS))}"
            )
        keys = _META_KEYS[version]
        if set(state) != set(keys):
            missing = sorted(set(keys) - set(state))
            extra = sorted(set(state) - set(keys))
            raise DataError(f"the saved preprocessor state has missing keys {missing} / unknown {extra}")
        arrays = state["arrays"]
        state = _binary_as_classification(state)
        try:
            return cls(
                state["scale"], arrays["offset"], arrays["divisor"], state["n_features"],
                global_stats=state["global_stats"], task=state["task"],
                n_outputs=state["n_outputs"], class_names=state["class_names"],
                feature_names=state["feature_names"], target_names=state["target_names"],
                target_scaling=_saved_target_scaling(state, arrays),
                categorical=_saved_categorical(state),
            )
        except (KeyError, ValueError, TypeError) as err:
            raise DataError(f"the saved preprocessor state is invalid: {err}") from None

    def __repr__(self) -> str:
        kind = "global" if self.global_stats else "per-feature"
        return f"Preprocessor({self.scale}, {kind}, n_features={self.n_features}, task={self.task})"


def _saved_target_scaling(state: dict[str, Any], arrays: dict) -> TargetScaling | None:
    """The saved target scaling; none for a version-1 state (saved before it existed)."""
    kind = state.get("target_scale", "none")
    if kind == "none":
        return None
    return TargetScaling(kind, arrays["target_offset"], arrays["target_divisor"])


def _saved_categorical(state: dict[str, Any]) -> CategoricalEncoder | None:
    """The saved categorical encoding; none before version 3 or without text columns."""
    saved = state.get("categorical")
    return None if saved is None else CategoricalEncoder.from_dict(saved)


def _binary_as_classification(state: dict[str, Any]) -> dict[str, Any]:
    """A binary model saved as a one-unit "multilabel" task with two class names (before
    binary models became classifiers) reads as the two-class classification it is."""
    names = state.get("class_names")
    if state.get("task") == "multilabel" and state.get("n_outputs") == 1 and (
        isinstance(names, list) and len(names) == 2
    ):
        return {**state, "task": "classification", "n_outputs": 2}
    return state
