"""Losses computed from the logits, each with its output activation fused into the gradient.

Every loss is a (weighted) mean over the batch of a per-sample loss ``l_i``. With per-sample
weights ``s_i`` (``sample_weight``) and class weights ``c`` (``class_weight``, classification
only) the effective weight of a sample is ``w_i = s_i * c_{y_i}`` and the loss is PyTorch's
weighted mean::

    L = sum_i w_i l_i / sum_i w_i        (= mean_i l_i when no weights are given)

For probability (soft or one-hot) rows ``y_i`` the class weight is ``c . y_i``, so one-hot rows
and class indices give identical results.

``value_and_grad(logits, y)`` returns ``(L, dL/dlogits)``; the gradient is the fused
output+loss gradient (``p - y`` for softmax+cross_entropy, ``a - y`` for sigmoid+bce) scaled by
``w_i / sum w`` (the 1/batch is folded in), never a Jacobian product. The gradient array is a
buffer owned by the loss object and overwritten by its next call. ``value`` computes only ``L``.

Losses and the outputs they accept (``outputs``, the first is the default; ``COMPATIBLE_OUTPUTS``
collects them by name):

- ``cross_entropy`` (softmax): ``l_i = logsumexp(z_i) - sum_k y_ik z_ik``; ``y`` is class
  indices ``(batch,)`` (no one-hot is built) or probability rows ``(batch, k)``.
- ``binary_cross_entropy`` (sigmoid): per element ``max(z,0) - z y + log1p(exp(-|z|))``,
  ``l_i`` = mean over the outputs; one or several independent outputs. ``class_weight`` is
  ``(c_0, c_1)``: an element's weight is ``s_i (c_0 (1 - y) + c_1 y)`` and the mean runs over
  elements: ``L = sum w_ik l_ik / sum w_ik``.
- ``mse``: ``mean over samples AND outputs of (y_hat - y)^2`` (PyTorch/Keras), ``mae``:
  ``|y_hat - y|``, ``huber``: ``0.5 r^2 if |r| <= delta else delta (|r| - delta/2)``
  (PyTorch ``HuberLoss``). Outputs identity or sigmoid; with sigmoid (the lecture notes'
  quadratic-loss neuron) the gradient goes through ``sigma'(z) = y_hat (1 - y_hat)``.

Each loss is registered in ``LOSSES`` (mlptrain/registry.py) with what the config and the
gradient check need to know about it: ``outputs``, the ``task`` it implies (``auto``: from the
data), the tasks it is the default loss of, ``sample_targets`` (targets it accepts, for
gradient checks) and ``kink_sides`` (where its derivative jumps).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from mlptrain.nn.activations import OUTPUTS, sigmoid
from mlptrain.nn.workspace import OwnWorkspace
from mlptrain.registry import Param, Registry

LOSSES: Registry[Loss] = Registry("loss")
"""Every loss by name; `register` adds one (see mlptrain/registry.py)."""


class _CompatibleOutputs(Mapping[str, frozenset[str]]):
    """loss name -> the output activations it accepts, read from the registered classes."""

    def __getitem__(self, name: str) -> frozenset[str]:
        return frozenset(LOSSES[name].outputs)

    def __iter__(self) -> Iterator[str]:
        return iter(LOSSES.names())

    def __len__(self) -> int:
        return len(LOSSES.names())


COMPATIBLE_OUTPUTS: Mapping[str, frozenset[str]] = _CompatibleOutputs()


def balanced_class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """``c_k = n / (n_classes * count_k)`` (sklearn's "balanced"); ``y``: indices or one-hot rows.

    Returns float64 (a small configuration vector; losses cast it to the logits' dtype).
    """
    y = np.asarray(y)
    if y.ndim == 2:
        counts = y.sum(axis=0).astype(np.float64)
        if counts.shape[0] != n_classes:
            raise ValueError(f"one-hot y has {counts.shape[0]} columns, expected {n_classes}")
    else:
        y = _as_indices(y, n_classes)
        counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        raise ValueError(f"class {int(empty[0])} has no samples; cannot balance class weights")
    return counts.sum() / (n_classes * counts)


def _as_indices(y: np.ndarray, n_classes: int) -> np.ndarray:
    if y.dtype.kind == "f":
        if not np.all(np.round(y) == y):
            raise ValueError("class labels must be integers")
        y = y.astype(np.intp)
    elif y.dtype.kind not in "iu":
        raise ValueError(f"class labels must be integers, got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        bad = y[(y < 0) | (y >= n_classes)][0]
        raise ValueError(f"class label {int(bad)} out of range [0, {n_classes})")
    return y


class Loss:
    """Base class. Subclasses implement ``_compute(logits, y, sample_weight, grad)``.

    Class attributes: ``outputs`` (accepted output activations, the default first), ``task``
    (what the loss implies: classification, regression, or auto when the data decides) and
    ``default_for`` (the tasks whose ``auto`` loss this is) and ``takes_class_ids`` (a
    classification is trained on class ids (n,), one output per class; otherwise on 0/1 or
    one-hot rows, one output for two classes).
    """

    name = "loss"
    outputs: tuple[str, ...] = ()
    work = OwnWorkspace()  # temporaries of value_and_grad, reused from step to step
    task = "auto"
    default_for: tuple[str, ...] = ()
    takes_class_ids = False

    def __init__(self, output: str | None = None):
        output = output if output is not None else self.outputs[0]
        if output not in self.outputs:
            raise ValueError(
                f"loss {self.name!r} cannot be used with output {output!r}; "
                f"compatible outputs: {sorted(self.outputs)}"
            )
        self.output = output
        self._grad: np.ndarray | None = None

    def get_config(self) -> dict:
        return {"name": self.name, "output": self.output}

    def _grad_buffer(self, logits: np.ndarray) -> np.ndarray:
        g = self._grad
        if g is None or g.shape != logits.shape or g.dtype != logits.dtype:
            g = self._grad = np.empty_like(logits)
        return g

    @staticmethod
    def _weights(sample_weight, n: int, dtype) -> np.ndarray | None:
        if sample_weight is None:
            return None
        w = np.asarray(sample_weight, dtype=dtype)
        if w.shape != (n,):
            raise ValueError(f"sample_weight must have shape ({n},), got {w.shape}")
        if np.any(w < 0) or not np.all(np.isfinite(w)):
            raise ValueError("sample_weight must be finite and >= 0")
        return w

    def value(self, logits: np.ndarray, y, sample_weight=None) -> float:
        """The mean loss (no gradient)."""
        return self._compute(logits, y, sample_weight, None)

    def value_and_grad(self, logits: np.ndarray, y, sample_weight=None):
        """``(L, dL/dlogits)``; the gradient has the logits' shape and dtype."""
        g = self._grad_buffer(logits)
        return self._compute(logits, y, sample_weight, g), g

    def _compute(self, logits, y, sample_weight, grad):
        raise NotImplementedError

    def kink_sides(self, logits: np.ndarray, y: Any) -> list[np.ndarray]:
        """Bool masks that change where the loss's derivative jumps (none: smooth); a
        finite-difference step that changes one straddles a kink."""
        return []

    @classmethod
    def sample_targets(cls, output: str, n: int, width: int, rng: np.random.Generator,
                       soft: bool = False) -> np.ndarray:
        """Random targets this loss accepts for `n` samples of `width` outputs (gradient
        checks): N(0, 1) values; values in (0, 1) after a sigmoid."""
        if output == "sigmoid":
            return rng.uniform(0.1, 0.9, (n, width))
        return rng.standard_normal((n, width))


def _check_logits(logits: np.ndarray) -> None:
    if logits.ndim != 2:
        raise ValueError(f"logits must be 2-D (batch, n_out), got shape {logits.shape}")


def _as_targets(y, logits: np.ndarray, what: str) -> np.ndarray:
    """Real-valued targets ``(batch, n_out)`` in the logits' dtype (``(batch,)`` if n_out = 1)."""
    y = np.asarray(y, dtype=logits.dtype)
    if y.ndim == 1 and logits.shape[1] == 1:
        y = y.reshape(-1, 1)
    if y.shape != logits.shape:
        raise ValueError(f"{what} targets must have shape {logits.shape}, got {y.shape}")
    return y


def _normalizer(w: np.ndarray | None, count: int) -> float:
    total = float(count) if w is None else float(w.sum())
    if not total > 0:
        raise ValueError("the sum of the sample weights is zero")
    return total


@LOSSES.register("cross_entropy")
class CrossEntropy(Loss):
    """Softmax cross entropy from logits: ``l_i = lse(z_i) - sum_k y_ik z_ik``; grad ``p - y``.

    ``class_weight``: ``(n_classes,)`` weights ``c`` (see module docstring).
    """

    name = "cross_entropy"
    outputs = ("softmax",)
    task = "classification"
    default_for = ("classification",)
    takes_class_ids = True

    def __init__(self, output: str | None = None, class_weight=None):
        super().__init__(output)
        self.class_weight = None if class_weight is None else np.asarray(class_weight, np.float64)
        if self.class_weight is not None and (
            self.class_weight.ndim != 1 or np.any(self.class_weight < 0)
        ):
            raise ValueError(f"class_weight must be a 1-D array of weights >= 0, got {class_weight!r}")

    def _compute(self, logits, y, sample_weight, grad):
        _check_logits(logits)
        n, k = logits.shape
        y = np.asarray(y)
        if y.ndim == 1 and sample_weight is None and self.class_weight is None:
            return self._plain(logits, _as_indices(y, k), grad)
        e = grad if grad is not None else np.empty_like(logits)  # (n, k) work buffer
        np.subtract(logits, logits.max(axis=1, keepdims=True), out=e)  # shifted logits <= 0
        if y.ndim == 1:
            idx = _as_indices(y, k)
            rows = np.arange(n)
            picked = e[rows, idx]  # (n,)
            cw = None if self.class_weight is None else self.class_weight[idx]
            ysum = None
        elif y.shape == logits.shape:
            idx = None
            y = y.astype(logits.dtype, copy=False)
            picked = np.einsum("ij,ij->i", y, e)
            cw = None if self.class_weight is None else y @ self.class_weight.astype(y.dtype)
            ysum = y.sum(axis=1)
        else:
            raise ValueError(f"cross_entropy y must be ({n},) indices or {logits.shape} rows, got {y.shape}")
        if self.class_weight is not None and self.class_weight.shape[0] != k:
            raise ValueError(f"class_weight has {self.class_weight.shape[0]} entries, expected {k}")
        np.exp(e, out=e)
        s = e.sum(axis=1)  # (n,) in [1, k]
        per = np.log(s)  # lse of the shifted logits
        if ysum is not None:
            per *= ysum
        per -= picked  # (n,) per-sample loss
        w = self._weights(sample_weight, n, logits.dtype)
        if cw is not None:
            cw = cw.astype(logits.dtype, copy=False)
            w = cw if w is None else w * cw
        total = _normalizer(w, n)
        value = float((per if w is None else per * w).sum()) / total
        if grad is not None:
            e /= s[:, None]  # p
            if idx is not None:
                e[rows, idx] -= 1.0
            else:
                assert ysum is not None  # probability rows
                e *= ysum[:, None]  # dl/dz = p * sum(y) - y, = p - y for probability rows
                e -= y
            if w is None:
                e *= 1.0 / total
            else:
                e *= (w / w.dtype.type(total))[:, None]
        return value


    @classmethod
    def sample_targets(cls, output, n, width, rng, soft=False):
        """Class ids (n,), or probability rows (n, width) when `soft`."""
        return rng.dirichlet(np.ones(width), size=n) if soft else rng.integers(0, width, n)

    def _plain(self, logits, idx, grad):
        """The training loop's case, class ids (n,) without weights, in fewer array ops and
        without allocating (work arrays reused); the same arithmetic as the general path:
        ``L = mean(lse(z) - z_y)``, grad ``(p - y) / n``."""
        n, k = logits.shape
        work, dtype = self.work, logits.dtype
        e = grad if grad is not None else work.like("e", logits)  # (n, k) work buffer
        row_max = np.maximum.reduce(logits, axis=1, keepdims=True, out=work.get("max", (n, 1), dtype))
        np.subtract(logits, row_max, out=e)
        true = self._true_positions(idx, n, k)  # (n,) positions of z_{i, y_i} in e.ravel()
        picked = np.take(e, true, out=work.get("picked", (n,), dtype), mode="clip")  # in range
        np.exp(e, out=e)
        s = np.add.reduce(e, axis=1, out=work.get("s", (n,), dtype))  # (n,) in [1, k]
        per = np.log(s, out=work.get("per", (n,), dtype))
        per -= picked  # (n,) per-sample loss
        value = float(np.add.reduce(per)) / n
        if grad is not None:
            e /= s[:, None]  # p
            p_true = np.take(e, true, out=picked, mode="clip")
            p_true -= 1.0
            np.put(e, true, p_true, mode="clip")  # e[i, y_i] -= 1
            e *= 1.0 / n
        return value

    def _true_positions(self, idx: np.ndarray, n: int, k: int) -> np.ndarray:
        """``i * k + idx[i]`` (n,): where row i's true class sits in a flattened (n, k) array."""
        work = self.work
        starts = work.get("row_starts", (n,), np.intp)
        if work.tags.get("row_starts") != (n, k):  # i * k, rewritten only when n or k change
            np.multiply(np.arange(n), k, out=starts)
            work.tags["row_starts"] = (n, k)
        return np.add(starts, idx, out=work.get("true", (n,), np.intp))


@LOSSES.register("binary_cross_entropy")
class BinaryCrossEntropy(Loss):
    """Sigmoid cross entropy from logits, elementwise; grad ``sigmoid(z) - y``.

    ``class_weight``: ``(c_0, c_1)``, weight of negatives and positives (see module docstring).
    """

    name = "binary_cross_entropy"
    outputs = ("sigmoid",)
    default_for = ("multilabel",)  # its task is the data's: binary or multilabel

    def __init__(self, output: str | None = None, class_weight=None):
        super().__init__(output)
        cw = None if class_weight is None else np.asarray(class_weight, np.float64)
        if cw is not None and (cw.shape != (2,) or np.any(cw < 0)):
            raise ValueError(f"binary class_weight must be two weights >= 0, got {class_weight!r}")
        self.class_weight = cw

    def _compute(self, logits, y, sample_weight, grad):
        _check_logits(logits)
        n, k = logits.shape
        y = _as_targets(y, logits, "binary_cross_entropy")
        e = np.abs(logits)
        np.negative(e, out=e)
        np.exp(e, out=e)  # exp(-|z|) in (0, 1]
        per = np.log1p(e)
        per += np.maximum(logits, 0.0)
        per -= logits * y  # (n, k) elementwise loss
        w = self._weights(sample_weight, n, logits.dtype)
        W = None if w is None else np.broadcast_to(w[:, None], (n, k))
        if self.class_weight is not None:
            c0, c1 = (float(c) for c in self.class_weight)
            cw = y * (c1 - c0)
            cw += c0
            W = cw if W is None else cw * W
        total = _normalizer(W, n * k)
        value = float((per if W is None else per * W).sum()) / total
        if grad is not None:
            sigmoid(logits, out=grad)
            grad -= y
            if W is None:
                grad *= 1.0 / total
            else:
                grad *= W
                grad *= 1.0 / total
        return value

    @classmethod
    def sample_targets(cls, output, n, width, rng, soft=False):
        """0/1 labels (n, width), or probabilities in [0, 1) when `soft`."""
        return rng.random((n, width)) if soft else (rng.random((n, width)) < 0.5).astype(np.float64)


class _Regression(Loss):
    """Regression losses on ``y_hat = output(z)``: elementwise ``f(r)``, ``r = y_hat - y``."""

    outputs = ("identity", "sigmoid")
    task = "regression"

    def _residual(self, logits, y) -> np.ndarray:
        yhat = OUTPUTS[self.output](logits)
        return yhat - np.asarray(y, dtype=yhat.dtype).reshape(yhat.shape)  # (n, k)

    def _f(self, r):  # elementwise loss
        raise NotImplementedError

    def _df(self, r, out):  # elementwise derivative df/dr, written into out
        raise NotImplementedError

    def _compute(self, logits, y, sample_weight, grad):
        _check_logits(logits)
        n, k = logits.shape
        y = _as_targets(y, logits, self.name)
        yhat = sigmoid(logits) if self.output == "sigmoid" else logits
        r = yhat - y  # (n, k)
        per = self._f(r)
        w = self._weights(sample_weight, n, logits.dtype)
        total = _normalizer(w, n) * k
        value = float((per if w is None else per * w[:, None]).sum()) / total
        if grad is not None:
            self._df(r, out=grad)
            if self.output == "sigmoid":
                grad *= yhat
                grad -= grad * yhat  # sigma'(z) = y_hat (1 - y_hat), from the cached y_hat
            if w is not None:
                grad *= w[:, None]
            grad *= 1.0 / total
        return value


@LOSSES.register("mse")
class MSE(_Regression):
    """``mean over samples and outputs of r^2``; ``df/dr = 2 r``."""

    name = "mse"
    default_for = ("regression",)

    def _f(self, r):
        return r * r

    def _df(self, r, out):
        return np.multiply(r, 2.0, out=out)


@LOSSES.register("mae")
class MAE(_Regression):
    """``mean |r|``; ``df/dr = sign(r)`` (0 at r = 0)."""

    name = "mae"

    def _f(self, r):
        return np.abs(r)

    def _df(self, r, out):
        return np.sign(r, out=out)

    def kink_sides(self, logits, y):
        """|r| has its kink at r = 0."""
        return [self._residual(logits, y) > 0]


@LOSSES.register("huber", params=(
    Param("delta", "threshold delta.", key="huber_delta", gt=0.0),
))
class Huber(_Regression):
    """``0.5 r^2 if |r| <= delta else delta (|r| - delta / 2)``; ``df/dr = clip(r, -delta, delta)``."""

    name = "huber"

    def __init__(self, output: str | None = None, delta: float = 1.0):
        super().__init__(output)
        if not float(delta) > 0:
            raise ValueError(f"huber delta must be > 0, got {delta!r}")
        self.delta = float(delta)

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}

    def _f(self, r):
        a = np.abs(r)
        return np.where(a <= self.delta, 0.5 * r * r, self.delta * (a - 0.5 * self.delta))

    def _df(self, r, out):
        return np.clip(r, -self.delta, self.delta, out=out)

    def kink_sides(self, logits, y):
        """The second derivative jumps at |r| = delta; r = 0 is kept as a side too (as the
        gradient check always did)."""
        r = self._residual(logits, y)
        return [r > 0, np.abs(r) <= self.delta]


def get_loss(name: str, output: str | None = None, **kwargs: Any) -> Loss:
    """A loss by name; ``output`` defaults to its first compatible output (softmax, sigmoid,
    identity). kwargs: ``class_weight`` (classification), ``delta`` (huber)."""
    entry = LOSSES.entry(name)
    return LOSSES.create(name, output=output or entry.cls.outputs[0], **kwargs)
