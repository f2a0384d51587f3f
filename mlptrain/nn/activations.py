"""Hidden-layer activations with their derivatives, and the output activations.

A hidden activation is a small object, one instance per layer, with a forward/backward pair:
``forward(z, out)`` writes ``a = h(z)`` into ``out`` and keeps what ``backward`` needs;
``backward(d)`` multiplies the incoming gradient ``dL/da`` in place by ``h'(z)``, computed from
the cached forward values (never by recomputing ``h``). Activations whose derivative can be
written from ``a`` alone may run in place (``out is z``); those with ``needs_input = True``
(gelu) must be given a separate ``out``.

``kinks`` lists the points of ``z`` where ``h'`` (or, for elu, ``h''``) jumps; gradient checks
skip entries whose finite-difference step crosses one. ``default_init`` is the initializer that
``init: auto`` picks for a layer with this activation.

Each hidden activation is registered in ``ACTIVATIONS`` (mlptrain/registry.py): the config's
``model.activation`` names, its parameters (``model.leaky_slope``), the builder, the gradient
check's matrix and the config reference follow it.

Output activations (``OUTPUTS``) are plain functions of the logits: ``softmax`` (rows sum to 1,
stable: shifted by the row maximum), ``sigmoid`` (stable for any sign) and ``identity``. Their
gradients are never formed on their own: each loss fuses them (``p - y``), see ``losses.py``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mlptrain.nn.workspace import OwnWorkspace
from mlptrain.registry import Param, Registry

_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_K = 0.044715


ACTIVATIONS: Registry[Activation] = Registry("activation")
"""Every hidden activation by name; `register` adds one (see mlptrain/registry.py)."""


class Activation:
    """Base class: ``a = h(z)`` elementwise; ``z, a: (batch, width)``."""

    name = "activation"
    needs_input = False
    kinks: tuple[float, ...] = ()
    default_init = "xavier_uniform"
    work = OwnWorkspace()  # the temporaries of forward/backward, reused from step to step

    def get_config(self) -> dict:
        return {"name": self.name}

    def forward(self, z: np.ndarray, out: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, d: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        kw = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({kw})"


@ACTIVATIONS.register("identity")
class Identity(Activation):
    """``h(z) = z``, ``h'(z) = 1``."""

    name = "identity"

    def forward(self, z, out):
        if out is not z:
            np.copyto(out, z)
        return out

    def backward(self, d):
        return d


@ACTIVATIONS.register("sigmoid")
class Sigmoid(Activation):
    """``h(z) = 1 / (1 + exp(-z)) = (1 + tanh(z/2)) / 2`` (no overflow); ``h' = a (1 - a)``."""

    name = "sigmoid"

    def forward(self, z, out):
        np.multiply(z, 0.5, out=out)
        np.tanh(out, out=out)
        out *= 0.5
        out += 0.5
        self._a = out
        return out

    def backward(self, d):
        a = self._a
        d *= a
        da = np.multiply(d, a, out=self.work.like("da", d))
        d -= da  # d * a * (1 - a)
        return d


@ACTIVATIONS.register("tanh")
class Tanh(Activation):
    """``h(z) = tanh(z)``; ``h' = 1 - a^2``."""

    name = "tanh"

    def forward(self, z, out):
        self._a = np.tanh(z, out=out)
        return out

    def backward(self, d):
        a = self._a
        daa = np.multiply(d, a, out=self.work.like("daa", d))
        daa *= a
        d -= daa  # d * (1 - a^2)
        return d


@ACTIVATIONS.register("relu")
class ReLU(Activation):
    """``h(z) = max(z, 0)``; ``h' = [a > 0]`` (0 at the kink z = 0, like PyTorch)."""

    name = "relu"
    default_init = "he_normal"
    kinks = (0.0,)

    def forward(self, z, out):
        self._a = np.maximum(z, 0.0, out=out)
        return out

    def backward(self, d):
        positive = np.greater(self._a, 0.0, out=self.work.like("positive", d, bool))
        # bool -> float by a plain copy: multiplying by the bool array directly would cast it
        # through a 32 KiB buffer that NumPy allocates on every call
        slope = self.work.like("slope", d)
        np.copyto(slope, positive)
        d *= slope
        return d


@ACTIVATIONS.register("leaky_relu", params=(
    Param("negative_slope", "negative-side slope.", key="leaky_slope", gt=0.0, lt=1.0),
))
class LeakyReLU(Activation):
    """``h(z) = z if z > 0 else slope * z``; ``h' = 1 if a > 0 else slope`` (slope in [0, 1))."""

    name = "leaky_relu"
    default_init = "he_normal"
    kinks = (0.0,)

    def __init__(self, negative_slope: float = 0.01):
        slope = float(negative_slope)
        if not 0.0 <= slope < 1.0:
            raise ValueError(f"leaky_relu negative_slope must be in [0, 1), got {negative_slope!r}")
        self.negative_slope = slope

    def get_config(self):
        return {"name": self.name, "negative_slope": self.negative_slope}

    def forward(self, z, out):
        # max(z, slope * z) is z for z >= 0 and slope * z below (slope < 1): one product, no mask
        scaled = np.multiply(z, self.negative_slope, out=self.work.like("scaled", z))
        np.maximum(z, scaled, out=out)
        self._a = out
        return out

    def backward(self, d):
        not_positive = np.less_equal(self._a, 0.0, out=self.work.like("not_positive", d, bool))
        np.multiply(d, self.negative_slope, out=d, where=not_positive)
        return d


@ACTIVATIONS.register("elu")
class ELU(Activation):
    """``h(z) = z if z > 0 else alpha (exp(z) - 1)``; ``h' = 1 if a > 0 else a + alpha``.

    For alpha = 1 the first derivative is continuous at 0 but the second is not, so 0 is a kink.
    """

    name = "elu"
    default_init = "he_normal"
    kinks = (0.0,)

    def __init__(self, alpha: float = 1.0):
        if not float(alpha) > 0.0:
            raise ValueError(f"elu alpha must be > 0, got {alpha!r}")
        self.alpha = float(alpha)

    def get_config(self):
        return {"name": self.name, "alpha": self.alpha}

    def forward(self, z, out):
        neg = np.minimum(z, 0.0, out=self.work.like("neg", z))  # (batch, width)
        np.expm1(neg, out=neg)
        neg *= self.alpha
        np.maximum(z, 0.0, out=out)
        out += neg  # exactly one of the two terms is non-zero
        self._a = out
        return out

    def backward(self, d):
        a = self._a
        slope = np.add(a, self.alpha, out=self.work.like("slope", d))  # h' = a + alpha for a <= 0
        np.copyto(slope, 1.0, where=np.greater(a, 0.0, out=self.work.like("positive", d, bool)))
        d *= slope
        return d


@ACTIVATIONS.register("softplus")
class Softplus(Activation):
    """``h(z) = log(1 + exp(z))`` (via logaddexp, stable); ``h' = sigmoid(z) = 1 - exp(-a)``."""

    name = "softplus"

    def forward(self, z, out):
        self._a = np.logaddexp(z, 0.0, out=out)
        return out

    def backward(self, d):
        s = np.negative(self._a, out=self.work.like("s", d))
        np.expm1(s, out=s)  # exp(-a) - 1 = -sigmoid(z)
        d *= s
        np.negative(d, out=d)
        return d


@ACTIVATIONS.register("gelu")
class GELU(Activation):
    """GELU, tanh approximation (PyTorch ``GELU(approximate='tanh')``)::

        u = sqrt(2/pi) * (z + 0.044715 z^3),  t = tanh(u)
        h(z)  = 0.5 z (1 + t)
        h'(z) = 0.5 (1 + t) + 0.5 z (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 z^2)

    Forward caches ``z`` and ``t``; the output must not overwrite ``z``.
    """

    name = "gelu"
    default_init = "he_normal"
    needs_input = True

    def forward(self, z, out):
        if out is z:
            raise ValueError("gelu cannot run in place: its derivative needs z")
        t = np.multiply(z, z, out=self.work.like("t", z))  # (batch, width), kept for backward
        t *= _GELU_K
        t += 1.0
        t *= z
        t *= _GELU_C
        np.tanh(t, out=t)
        np.add(t, 1.0, out=out)
        out *= z
        out *= 0.5
        self._z, self._t = z, t
        return out

    def backward(self, d):
        z, t = self._z, self._t
        inner = np.multiply(z, z, out=self.work.like("inner", z))  # (batch, width): c (1 + 3k z^2)
        inner *= 3.0 * _GELU_K * _GELU_C
        inner += _GELU_C
        inner *= z
        tt = np.multiply(t, t, out=self.work.like("tt", z))
        np.subtract(1.0, tt, out=tt)
        inner *= tt  # (1 - t^2)
        np.add(t, 1.0, out=tt)
        inner += tt  # + (1 + t)
        inner *= 0.5
        d *= inner
        return d


RELU_FAMILY = frozenset(n for n in ACTIVATIONS.names() if ACTIVATIONS[n].default_init == "he_normal")


def default_init_sentence() -> str:
    """``"he_normal for relu, leaky_relu, elu, gelu; xavier_uniform otherwise"``, from the
    registered activations (the config documents `init: auto` with it)."""
    by_init: dict[str, list[str]] = {}
    for entry in ACTIVATIONS.entries():
        by_init.setdefault(entry.cls.default_init, []).append(entry.name)
    base = Activation.default_init
    parts = [f"{init} for {', '.join(names)}" for init, names in by_init.items() if init != base]
    return "; ".join([*parts, f"{base} otherwise"])


def get_activation(spec: str | dict[str, Any] | Activation) -> Activation:
    """A fresh activation from a name (``"tanh"``) or a dict (``{"name": "elu", "alpha": 0.5}``)."""
    if isinstance(spec, Activation):
        return type(spec)(**{k: v for k, v in spec.get_config().items() if k != "name"})
    return ACTIVATIONS.create(spec)


# ---- output activations: functions of the logits (batch, n_out) -----------------------------


def softmax(logits: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``p_ij = exp(z_ij - m_i) / sum_k exp(z_ik - m_i)`` with ``m_i = max_k z_ik`` (stable)."""
    out = np.subtract(logits, logits.max(axis=1, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)
    return out


def sigmoid(logits: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``1 / (1 + exp(-z))`` evaluated as ``e / (1 + e)`` with ``e = exp(-|z|)`` (no overflow,
    full relative precision for large negative z)."""
    e = np.exp(-np.abs(logits))  # (batch, n_out), in (0, 1]
    out = np.divide(1.0, 1.0 + e, out=out)
    np.multiply(out, e, out=out, where=logits < 0)
    return out


def identity(logits: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``y_hat = z``; returns a copy (or fills ``out``)."""
    if out is None:
        return logits.copy()
    np.copyto(out, logits)
    return out


OUTPUTS = {"softmax": softmax, "sigmoid": sigmoid, "identity": identity}
