"""Regression targets scaled for training, reported in their own units.

The statistics are fitted per target column on the training split only (`data.target_scale`)::

    standard:  t' = (t - mean) / std          (std 0 -> divisor 1)
    minmax:    t' = (t - min) / (max - min)   (range 0 -> divisor 1)
    none:      t' = t

The loss sees scaled targets (`ScaledTargetLoss` scales each batch's targets before the loss),
so that the network learns outputs of unit scale whatever the targets' units; the network's
outputs are mapped back, ``o = o' * divisor + offset``, before any metric or prediction
(`metrics.predict_outputs`). MSE, MAE, R² and predictions are therefore always in the targets'
own units; the loss column (train_loss, val_loss) is in scaled units.
"""

from __future__ import annotations

from typing import Any

import numpy as np

TARGET_SCALES = ("standard", "minmax", "none")


class TargetScaling:
    """Per-target offset and divisor, each (k,), fitted on the training targets (n, k)."""

    def __init__(self, kind: str, offset, divisor):
        if kind not in TARGET_SCALES:
            raise ValueError(f"target scale must be one of {', '.join(TARGET_SCALES)}, got {kind!r}")
        offset = np.asarray(offset, dtype=np.float64).reshape(-1)
        divisor = np.asarray(divisor, dtype=np.float64).reshape(-1)
        if offset.shape != divisor.shape:
            raise ValueError(f"target offset {offset.shape} and divisor {divisor.shape} differ")
        if not (np.all(np.isfinite(offset)) and np.all(np.isfinite(divisor))
                and np.all(divisor > 0)):
            raise ValueError("target divisor must be finite and > 0, and offset finite")
        self.kind = kind
        self.offset = offset  # (k,)
        self.divisor = divisor  # (k,)

    @classmethod
    def fit(cls, y: np.ndarray, kind: str) -> TargetScaling:
        """The statistics of `kind` over targets y (n, k) (or (n,)), computed in float64."""
        y = np.asarray(y, dtype=np.float64)
        y = y.reshape(len(y), -1)  # (n, k)
        if kind == "standard":
            offset, divisor = y.mean(axis=0), y.std(axis=0)
        elif kind == "minmax":
            offset, divisor = y.min(axis=0), y.max(axis=0) - y.min(axis=0)
        else:
            offset, divisor = np.zeros(y.shape[1]), np.ones(y.shape[1])
        return cls(kind, offset, np.where(divisor > 0, divisor, 1.0))

    @property
    def identity(self) -> bool:
        return self.kind == "none"

    def transform(self, y: np.ndarray) -> np.ndarray:
        """Scaled targets t' = (t - offset) / divisor, in y's dtype (n, k)."""
        dtype = y.dtype if y.dtype.kind == "f" else np.float64
        return ((y - self.offset.astype(dtype)) / self.divisor.astype(dtype)).astype(dtype)

    def inverse(self, outputs: np.ndarray) -> np.ndarray:
        """Outputs in the targets' units: o = o' * divisor + offset, in outputs' dtype (n, k)."""
        if self.identity:
            return outputs
        dtype = outputs.dtype
        return outputs * self.divisor.astype(dtype) + self.offset.astype(dtype)

    def state(self) -> tuple[str, dict[str, np.ndarray]]:
        """(kind, {"target_offset", "target_divisor"}) for a checkpoint."""
        return self.kind, {"target_offset": self.offset.copy(),
                           "target_divisor": self.divisor.copy()}

    def __repr__(self) -> str:
        return f"TargetScaling({self.kind}, k={len(self.offset)})"


class ScaledTargetLoss:
    """A loss computed on scaled targets: value(logits, y) = loss.value(logits, scale(y)).

    Everything else (get_config, output, ...) is the wrapped loss's. The gradient with respect
    to the logits is the wrapped loss's gradient at the scaled targets (the scaling does not
    depend on the logits).
    """

    def __init__(self, loss, scaling: TargetScaling):
        self.loss = loss
        self.scaling = scaling

    def value(self, logits: np.ndarray, y, sample_weight=None) -> float:
        return self.loss.value(logits, self._scaled(y, logits), sample_weight=sample_weight)

    def value_and_grad(self, logits: np.ndarray, y, sample_weight=None):
        return self.loss.value_and_grad(logits, self._scaled(y, logits),
                                        sample_weight=sample_weight)

    def kink_sides(self, logits: np.ndarray, y) -> list[np.ndarray]:
        """The wrapped loss's kinks, at the scaled targets it really sees."""
        return self.loss.kink_sides(logits, self._scaled(y, logits))

    def _scaled(self, y, logits: np.ndarray) -> np.ndarray:
        y = np.asarray(y)
        return self.scaling.transform(y.reshape(logits.shape).astype(logits.dtype, copy=False))

    def __getattr__(self, name: str) -> Any:
        if name == "loss":  # not yet set (copying, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.loss, name)
